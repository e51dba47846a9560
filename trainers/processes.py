"""Who may write a run folder, and that the processes of a run die together.

`fullchain train --nproc-per-node N` starts torchrun, and torchrun starts the workers, each in a
session of its own (torch's elastic agent uses `start_new_session`): killing the launcher, or
torchrun, with SIGKILL would leave the workers training, writing checkpoints and `hf/` into a
folder that a resumed run writes too. So the torchrun the launcher starts (`python -m
trainers.processes`, torchrun behind a parent-death signal) dies with the launcher, and every
worker sets a parent-death signal itself as it starts (`die_with_launcher`), so it dies with torchrun.

One writer per run folder: the process that owns the run holds `OUTPUT/.lock` (flock) for the
whole run; a second run into the same folder is refused (`RunLocked`). The owner is the launcher
when it starts torchrun, else rank 0 (torchrun or the deepspeed launcher started by hand, or one
process). The lock is the kernel's, so a killed owner never leaves it behind.
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

LOCK_FILE = ".lock"
# set by the launcher for the processes it starts: its pid, and that it holds the run folder's lock
LAUNCHER_ENV = "FULLCHAIN_LAUNCHER_PID"
# set by the torchrun this module starts, for its workers: its pid
TORCHRUN_ENV = "FULLCHAIN_TORCHRUN_PID"
_PR_SET_PDEATHSIG = 1


class RunLocked(RuntimeError):
    """Another process is writing the run folder; the message is one line."""


def set_parent_death_signal(sig: int = signal.SIGKILL) -> None:
    """Have the kernel send `sig` to this process when its parent exits (Linux prctl PR_SET_PDEATHSIG)."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"prctl(PR_SET_PDEATHSIG): {os.strerror(err)}")


def _die_with(parent_env: str) -> None:
    """Set the parent-death signal; when `parent_env` names the parent this process was started by
    and the parent is another one now, the real one died before the signal was set (the kernel
    had already handed this process on, so the signal would never come): exit at once."""
    set_parent_death_signal()
    expected = os.environ.get(parent_env)
    if expected is not None and os.getppid() != int(expected):
        print(f"fullchain train: pid {expected}, which started this process, is gone; exiting", file=sys.stderr)
        os._exit(1)


def start_torchrun(args: list[str], env: dict[str, str]) -> int:
    """Run `torchrun ARGS` (torch.distributed.run) with `env` to its end, in a process that dies with
    this one and whose workers die with it; returns its exit status."""
    env = {**env, LAUNCHER_ENV: str(os.getpid())}
    return subprocess.call([sys.executable, "-m", "fullchain.trainers.processes", *args], env=env)


def die_with_launcher() -> None:
    """In a worker started by a launcher (torchrun, the deepspeed launcher): be killed when it dies."""
    _die_with(TORCHRUN_ENV)


def owns_run_folder() -> bool:
    """Whether this process holds the run folder's lock and checks what the whole run reads: rank 0,
    unless the launcher that started torchrun does it."""
    return os.environ.get("RANK", "0") == "0" and LAUNCHER_ENV not in os.environ


def _torchrun_main() -> None:
    _die_with(LAUNCHER_ENV)
    os.environ[TORCHRUN_ENV] = str(os.getpid())  # the workers inherit torchrun's environment
    from torch.distributed.run import main

    main(sys.argv[1:])


@contextmanager
def run_lock(output: str) -> Iterator[None]:
    """Hold OUTPUT/.lock (creating OUTPUT) while the block runs; RunLocked when another process holds it."""
    os.makedirs(output, exist_ok=True)
    path = os.path.join(output, LOCK_FILE)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            raise RunLocked(f"{output}: another training run (pid {holder}) is writing this folder "
                            f"({path} is locked); wait for it to end or use another output") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)


if __name__ == "__main__":
    _torchrun_main()
