"""The fullchain command: the front door hands every command to its package's cli, help covers every
option, the config reference round-trips, examples load."""

import os
import subprocess
import sys

import pytest

from fullchain.cli import COMMANDS, build_parser, main
from fullchain.pipelines import cli as data_cli
from fullchain.pipelines.config import field_paths, flag_name, load_config
from fullchain.pipelines.job_config import RunConfig

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.parametrize("command", list(data_cli.STAGE_COMMANDS))
def test_stage_help_lists_every_option_of_its_sections(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        data_cli.build_parser(command).parse_args(["--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    sections = data_cli.STAGE_COMMANDS[command].sections
    for path, f, _ in field_paths(RunConfig):
        if path.split(".")[0] in sections:
            assert flag_name(path) in text, path
    assert "[default:" in text


def test_top_level_help_lists_every_command_with_its_line(capsys):
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args(["--help"])
    assert exit_.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    for command, (_, help_text) in COMMANDS.items():
        assert f"{command} {' '.join(help_text.split())}" in text, command
    assert list(COMMANDS)[:len(data_cli.STAGE_COMMANDS)] == list(data_cli.STAGE_COMMANDS)


# a flag or positional only that command's own parser has: the front door must reach that parser
OWN_ARGUMENT = {"train": "--nproc-per-node", "export": "HF_DIR", "publish": "EXPORT_DIR", "generate": "PROMPT",
                "serve": "--repository", "loadtest": "--concurrency", "config": "--sections",
                "sample-models": "--output", "sample-corpus": "--docs", "run": "CONFIG"}


@pytest.mark.parametrize("command", list(COMMANDS))
def test_front_door_hands_the_command_its_own_arguments(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([command, "--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    assert text.startswith(f"usage: fullchain {command} "), text[:200]
    assert OWN_ARGUMENT.get(command, "--config") in text


def test_global_verbose_goes_before_the_command(capsys):
    assert main(["-v", "config", "--sections", "read"]) == 0
    assert "read:" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [([], "required: COMMAND"), (["bogus"], "invalid choice: 'bogus'"),
                                           (["--bogus", "clean"], "unrecognized arguments: --bogus")])
def test_front_door_refuses_a_missing_or_unknown_command(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err


def test_help_of_the_data_stages_does_not_load_torch():
    code = ("import sys\nfrom fullchain.cli import main\n"
            "try:\n    main(['clean', '--help'])\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in ('torch', 'deepspeed', 'onnxruntime') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_config_reference_round_trips_to_defaults(tmp_path, capsys):
    assert main(["config"]) == 0
    path = tmp_path / "all.yaml"
    path.write_text(capsys.readouterr().out)
    assert load_config(RunConfig, str(path)) == RunConfig()


def test_example_config_loads():
    cfg = load_config(RunConfig, os.path.join(ROOT, "examples", "run.yaml"))
    assert cfg.clean.blocklist.words == ["lorem", "casino"]
