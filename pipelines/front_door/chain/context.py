"""What every stage of a run sees: the run folder, the loaded config, the record, the server."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import yaml

from fullchain.chain.child_process import fullchain_command, run_child
from fullchain.chain.record import RunRecord
from fullchain.pipelines.config import config_to_dict

CONFIGS_DIR = "configs"


def _plain(value: Any) -> Any:
    # YAML's safe dumper writes lists, not tuples
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


@dataclass
class RunContext:
    """One `fullchain run`: paths inside the run folder are relative to it (every stage command runs
    with the run folder as its working directory, so two run folders record the same paths)."""

    dir: str
    config_path: str
    config: Any
    present: frozenset[str]
    user_input: str
    record: RunRecord
    server: Any = None
    commands: dict[str, list[list[str]]] = field(default_factory=dict)

    def path(self, *parts: str) -> str:
        """An absolute path inside the run folder."""
        return os.path.join(self.dir, *parts)

    def write_config(self, name: str, config: Any) -> str:
        """Write `config` as DIR/configs/NAME.yaml (what the stage command is given); returns its relative path."""
        relative = os.path.join(CONFIGS_DIR, f"{name}.yaml")
        os.makedirs(self.path(CONFIGS_DIR), exist_ok=True)
        tmp = self.path(f"{relative}.tmp")
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(f"# written by `fullchain run` from {os.path.abspath(self.config_path)}; the command that read\n"
                     f"# it is in run.json (stages.{name.split('-shard')[0]}.command), run in this folder\n")
            yaml.safe_dump(_plain(config_to_dict(config)), fh, sort_keys=False, allow_unicode=True)
        os.replace(tmp, self.path(relative))
        return relative

    def run_fullchain(self, stage: str, args: list[str]) -> None:
        """Run `fullchain ARGS` in the run folder as a child that dies with the run; StageFailed on failure."""
        argv = fullchain_command(args)
        self.commands.setdefault(stage, []).append(["fullchain", *args])
        run_child(stage, argv, self.dir)
