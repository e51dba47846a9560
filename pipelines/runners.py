"""Runner profiles (runners.yaml) turned into Beam PipelineOptions: the "where" of a job.

A job's transforms never look at the runner; the CLI picks a profile, and Beam options
given after `--` override the profile's.
"""

from __future__ import annotations

import importlib.resources
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from apache_beam.options.pipeline_options import PipelineOptions, _BeamArgumentParser

from fullchain.pipelines.config import ConfigError, compose_yaml, yaml_value

RUNNERS_FILE_ENV = "FULLCHAIN_RUNNERS"
# Integer Beam options whose smaller values Beam accepts and then fails on (or misreads) once the
# job runs: checked with the other options, before anything starts. 0 means "pick for me" for
# direct_num_workers (one worker per CPU core) and the Dataflow sizes.
OPTION_MINIMUMS = {
    "direct_num_workers": 0, "direct_runner_bundle_repeat": 0, "num_workers": 0, "max_num_workers": 0,
    "disk_size_gb": 0, "number_of_worker_harness_threads": 1, "max_cache_memory_usage_mb": 0,
    "job_port": 0, "artifact_port": 0, "expansion_port": 0,
}


@dataclass(frozen=True, slots=True)
class RunnerProfile:
    """One named entry of runners.yaml: a Beam runner and its options."""

    name: str
    runner: str
    options: dict[str, Any]

    def beam_args(self) -> list[str]:
        """The profile as Beam command-line flags (lists become repeated flags)."""
        args = [f"--runner={self.runner}"]
        for key, value in self.options.items():
            for item in value if isinstance(value, list) else [value]:
                if isinstance(item, bool):
                    if item:
                        args.append(f"--{key}")
                    continue
                args.append(f"--{key}={item}")
        return args


def default_runners_file() -> str:
    """runners.yaml from $FULLCHAIN_RUNNERS, else the working directory, else the project's own
    (shipped in the `fullchain` package, a link to the top-level runners.yaml in a checkout)."""
    if os.environ.get(RUNNERS_FILE_ENV):
        return os.environ[RUNNERS_FILE_ENV]
    here = Path("runners.yaml")
    if here.is_file():
        return str(here)
    return str(importlib.resources.files("fullchain") / "runners.yaml")


def load_profiles(path: str) -> dict[str, RunnerProfile]:
    """Read every profile of a runners file; fails with one line naming the file and profile."""
    try:
        with open(path, encoding="utf-8") as fh:
            root = compose_yaml(fh, path)
    except OSError as e:
        raise ConfigError(f"cannot read runners file {path}: {e.strerror}") from None
    raw = {} if root is None else yaml_value(root, path)
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of profile names to profiles")
    profiles = {}
    for name, body in raw.items():
        if not isinstance(body, dict) or not isinstance(body.get("runner"), str):
            raise ConfigError(f"{path}: profile '{name}' needs a 'runner' name")
        unknown = set(body) - {"runner", "options"}
        if unknown:
            raise ConfigError(f"{path}: profile '{name}' has unknown key(s) {sorted(unknown)}")
        options = body.get("options") or {}
        if not isinstance(options, dict):
            raise ConfigError(f"{path}: profile '{name}': 'options' must be a mapping")
        profiles[name] = RunnerProfile(name=name, runner=body["runner"], options=options)
    return profiles


def pipeline_options(profile: RunnerProfile, extra_args: list[str] = ()) -> PipelineOptions:
    """PipelineOptions of a profile, with `extra_args` (Beam flags) taking precedence.

    Unknown flags are an error rather than silently ignored, so a typo after `--` is caught
    before the job starts.
    """
    argv = profile.beam_args() + list(extra_args)
    try:
        values, unknown = _parse(argv)
    except _BadOptionValue as e:
        raise ConfigError(f"Beam options of profile '{profile.name}': {e}") from None
    unknown = [arg for arg in unknown if arg.startswith("-")]
    if unknown:
        raise ConfigError(f"unknown Beam option(s) for profile '{profile.name}': {' '.join(unknown)}")
    for name, minimum in OPTION_MINIMUMS.items():
        value = getattr(values, name, None)
        if value is not None and value < minimum:
            raise ConfigError(f"Beam option --{name}={value} for profile '{profile.name}': must be >= {minimum}")
    return PipelineOptions(argv)


class _BadOptionValue(ValueError):
    """A Beam flag whose value its type or choices refuse."""


class _StrictParser(_BeamArgumentParser):
    # argparse's error() prints the whole usage and exits; one line is enough.
    def error(self, message):
        raise _BadOptionValue(message)


def _parse(argv: list[str]):
    # The same parser Beam builds in PipelineOptions.get_all_options, which only warns about
    # unknown flags and exits the process on a bad value.
    parser = _StrictParser(allow_abbrev=False)
    classes = {str(cls): cls for cls in PipelineOptions.__subclasses__()}
    for cls in classes.values():
        cls._add_argparse_args(parser)
    return parser.parse_known_args(argv)
