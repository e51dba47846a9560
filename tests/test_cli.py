"""The fullchain command: help covers every option, the config reference round-trips, examples load."""

import os

import pytest

from fullchain.pipelines.cli import STAGE_COMMANDS, build_parser, main
from fullchain.pipelines.config_flags import flag_name
from fullchain.pipelines.config_loader import field_paths, load_config
from fullchain.pipelines.job_config import RunConfig

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.parametrize("command", list(STAGE_COMMANDS))
def test_stage_help_lists_every_option_of_its_sections(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args([command, "--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    sections = STAGE_COMMANDS[command][1]
    for path, f, _ in field_paths(RunConfig):
        if path.split(".")[0] in sections:
            assert flag_name(path) in text, path
    assert "[default:" in text


def test_top_level_help_lists_subcommands(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--help"])
    text = capsys.readouterr().out
    assert all(name in text for name in (*STAGE_COMMANDS, "config", "sample-corpus", "sample-models"))


def test_config_reference_round_trips_to_defaults(tmp_path, capsys):
    assert main(["config"]) == 0
    path = tmp_path / "all.yaml"
    path.write_text(capsys.readouterr().out)
    assert load_config(RunConfig, str(path)) == RunConfig()


def test_example_config_loads():
    cfg = load_config(RunConfig, os.path.join(ROOT, "examples", "run.yaml"))
    assert cfg.clean.blocklist.words == ["lorem", "casino"]
