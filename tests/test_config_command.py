"""run_command, the skeleton of every command: parse, load the config, run, one line per failure."""

import argparse
from dataclasses import dataclass

import pytest

from fullchain.pipelines.config import ConfigError, add_config_flags, option, run_command


@dataclass(kw_only=True)
class Settings:
    steps: int = option(1, "how many")


class Refused(RuntimeError):
    pass


def _parser():
    parser = argparse.ArgumentParser(prog="fullchain demo")
    parser.add_argument("--config")
    add_config_flags(parser, Settings)
    return parser


def _run(body, argv=(), **kwargs):
    return run_command("fullchain demo", _parser(), Settings, body, list(argv), **kwargs)


def test_body_gets_the_config_from_the_file_and_the_flags(tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text("steps: 5\n")
    seen = []
    assert _run(lambda args, cfg: seen.append(cfg.steps) or 7, ["--config", str(config)]) == 7
    assert _run(lambda args, cfg: seen.append(cfg.steps) or 0, ["--config", str(config), "--steps", "9"]) == 0
    assert seen == [5, 9]


def test_a_config_error_is_one_line_and_status_2(tmp_path, capsys):
    config = tmp_path / "run.yaml"
    config.write_text("steps: many\n")
    assert _run(lambda args, cfg: 0, ["--config", str(config)]) == 2
    assert capsys.readouterr().err == f"fullchain demo: error: {config}:1: 'steps' must be int, got 'many'\n"


def test_a_config_error_raised_by_the_body_is_reported_the_same(capsys):
    def body(args, cfg):
        raise ConfigError("no output given")

    assert _run(body) == 2
    assert capsys.readouterr().err == "fullchain demo: error: no output given\n"


def test_a_listed_failure_gets_its_status_and_others_propagate(capsys):
    def refuse(args, cfg):
        raise Refused("the folder is locked")

    assert _run(refuse, failures={Refused: 3}) == 3
    assert capsys.readouterr().err == "fullchain demo: error: the folder is locked\n"
    with pytest.raises(Refused):
        _run(refuse)


def test_reports_false_keeps_quiet_but_keeps_the_status(capsys):
    def refuse(args, cfg):
        raise Refused("nan loss")

    assert _run(refuse, failures={Refused: 3}, reports=lambda error: False) == 3
    assert capsys.readouterr().err == ""
