"""Declaring config options once, and walking them: default and help text live on the dataclass field.

Every stage config is a tree of dataclasses whose fields are made with `option(...)`; the YAML
loader (loader.py), the command-line flags (flags.py) and the reference YAML (reference.py) all
read these fields, so a setting is defined in exactly one place.
"""

from __future__ import annotations

import copy
import dataclasses
import types
import typing
from dataclasses import field
from typing import Any, Iterator


def option(default: Any, help: str) -> Any:
    """A config field with its default and the help text shown by `--help` and in docs."""
    if getattr(type(default), "__hash__", None) is None:
        # lists, dicts and nested config objects are mutable: every config gets its own copy
        return field(default_factory=lambda: copy.deepcopy(default), metadata={"help": help})
    return field(default=default, metadata={"help": help})


def is_config_class(hint: Any) -> bool:
    """Whether a field type is a nested config section (a dataclass) rather than a value."""
    return isinstance(hint, type) and dataclasses.is_dataclass(hint)


def field_paths(cls: type, prefix: str = "") -> Iterator[tuple[str, dataclasses.Field, Any]]:
    """Yield (dotted path, field, resolved type) for every leaf option of a config class tree."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        path = f"{prefix}{f.name}"
        hint = hints[f.name]
        if is_config_class(hint):
            yield from field_paths(hint, path + ".")
        else:
            yield path, f, hint


def field_default(f: dataclasses.Field) -> Any:
    """The default value of a config field (a fresh copy for mutable defaults)."""
    return f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default


def type_name(hint: Any) -> str:
    """A short readable name for a field type, used in help texts and errors."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return " | ".join(type_name(a) for a in typing.get_args(hint))
    if origin is list:
        return f"list[{type_name(typing.get_args(hint)[0])}]"
    if origin is dict:
        k, v = typing.get_args(hint)
        return f"dict[{type_name(k)}, {type_name(v)}]"
    if hint is type(None):
        return "null"
    return getattr(hint, "__name__", str(hint))
