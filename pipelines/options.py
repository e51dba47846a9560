"""Declaring config options once: default and help text live on the dataclass field.

Every stage config is a tree of dataclasses whose fields are made with `option(...)`;
the YAML loader (pipelines.config_loader) and the CLI flags (pipelines.cli) both read
these fields, so a setting is defined in exactly one place.
"""

from __future__ import annotations

import copy
from dataclasses import field
from typing import Any


def option(default: Any, help: str) -> Any:
    """A config field with its default and the help text shown by `--help` and in docs."""
    if getattr(type(default), "__hash__", None) is None:
        # lists, dicts and nested config objects are mutable: every config gets its own copy
        return field(default_factory=lambda: copy.deepcopy(default), metadata={"help": help})
    return field(default=default, metadata={"help": help})
