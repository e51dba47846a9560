"""Beam options the tests give after `--` to run the local profile's DirectRunner in the test's own
process: for tests whose subject is not the runner, half a multi-process run's time on a few hundred
records (no worker processes to start, no models loaded again in each)."""

IN_PROCESS = ["--direct_running_mode=in_memory", "--direct_num_workers=1"]
