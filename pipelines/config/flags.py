"""Command-line flags generated from a config class tree.

The YAML key `a.b_c` is the flag `--a.b-c`; each flag's help text and default come from the
dataclass field (`fields.option`), so every subcommand (data stages, train, export,
serve) documents an option in one place.
"""

from __future__ import annotations

import argparse
from typing import Callable

from fullchain.pipelines.config.fields import field_default, field_paths, type_name


def flag_name(path: str) -> str:
    """The command-line flag of a dotted config path."""
    return "--" + path.replace("_", "-")


def add_config_flags(parser: argparse.ArgumentParser, cls: type,
                     include: Callable[[str], bool] = lambda path: True) -> None:
    """Add one flag per leaf option of `cls` (those whose dotted path `include` accepts),
    grouped by top-level section. Unset flags are absent from the parsed namespace."""
    groups: dict[str, argparse._ArgumentGroup] = {}
    for path, f, hint in field_paths(cls):
        if not include(path):
            continue
        section = path.split(".")[0] if "." in path else ""
        if section not in groups:
            title = f"{section} options (YAML section '{section}:')" if section else "run options"
            groups[section] = parser.add_argument_group(title)
        default = field_default(f)
        # A bare boolean flag (`--stream`) means true; `--stream false` still works.
        bare = {"nargs": "?", "const": "true"} if hint is bool else {}
        groups[section].add_argument(
            flag_name(path), dest=path, default=argparse.SUPPRESS, metavar=type_name(hint).upper(),
            help=f"{f.metadata['help']} [default: {default!r}]".replace("%", "%%"), **bare)


def config_overrides(args: argparse.Namespace, cls: type) -> dict[str, str]:
    """The config values given as flags, keyed by dotted path (for `load_config`)."""
    paths = {path for path, _, _ in field_paths(cls)}
    return {k: v for k, v in vars(args).items() if k in paths}
