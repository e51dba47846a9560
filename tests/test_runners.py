"""Runner profiles: every profile of the project's runners.yaml builds valid Beam options."""

import pytest
from apache_beam.options.pipeline_options import StandardOptions

from fullchain.pipelines.config import ConfigError
from fullchain.pipelines.runners import default_runners_file, load_profiles, pipeline_options


def test_project_profiles_build_options():
    profiles = load_profiles(default_runners_file())
    assert set(profiles) >= {"local", "portable", "flink", "dataflow"}
    runners = {name: pipeline_options(p).view_as(StandardOptions).runner for name, p in profiles.items()}
    assert runners["local"] == "DirectRunner"
    assert runners["portable"] == "PortableRunner"
    assert runners["flink"] == "FlinkRunner"
    assert runners["dataflow"] == "DataflowRunner"
    flink = pipeline_options(profiles["flink"]).get_all_options()
    assert flink["flink_master"] and flink["parallelism"] == 2
    dataflow = pipeline_options(profiles["dataflow"]).get_all_options()
    assert dataflow["temp_location"].startswith("gs://") and dataflow["extra_packages"]


def test_extra_args_override_and_unknown_fail():
    local = load_profiles(default_runners_file())["local"]
    assert pipeline_options(local, ["--direct_num_workers=1"]).get_all_options()["direct_num_workers"] == 1
    with pytest.raises(ConfigError, match="unknown Beam option.*--no_such_option"):
        pipeline_options(local, ["--no_such_option=3"])


def test_bad_runners_file(tmp_path):
    path = tmp_path / "runners.yaml"
    path.write_text("local:\n  options: {}\n")
    with pytest.raises(ConfigError, match="profile 'local' needs a 'runner'"):
        load_profiles(str(path))
    path.write_text("local:\n  runner: DirectRunner\n  option: {}\n")
    with pytest.raises(ConfigError, match="unknown key"):
        load_profiles(str(path))


def test_runners_file_goes_through_the_checked_yaml_loader(tmp_path):
    path = tmp_path / "runners.yaml"
    path.write_text("local:\n  runner: DirectRunner\nlocal:\n  runner: PortableRunner\n")
    with pytest.raises(ConfigError, match=r"runners\.yaml:3: duplicate key 'local' \(first at line 1\)"):
        load_profiles(str(path))
    path.write_text("local:\n  runner: !!python/name:os.system\n")
    with pytest.raises(ConfigError, match="is not allowed in a config"):
        load_profiles(str(path))
    levels = ["&a0 [x, x, x, x, x, x, x, x]"] + [f"&a{i} [{', '.join([f'*a{i - 1}'] * 8)}]" for i in range(1, 8)]
    path.write_text("local:\n  runner: DirectRunner\n  options: {bomb: [" + ", ".join(levels) + "]}\n")
    with pytest.raises(ConfigError, match="more than 10,000 values"):
        load_profiles(str(path))
