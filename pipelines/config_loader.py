"""Load a typed config tree from a YAML file and from `--key.path value` overrides.

Config classes are dataclasses whose fields carry their default and help text
(`pipelines.options.option`). This module checks every key and value against those
fields and fails with one line naming the file, the line and the key.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from typing import Any, Iterator

import yaml


class ConfigError(ValueError):
    """A config file or flag that does not fit the config classes; the message is one line."""


class ModelCheckError(ConfigError):
    """A configured model or tokenizer that cannot serve its stage, found before any work starts;
    the message is one line naming the option and the problem."""


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


def load_config(cls: type, path: str | None = None, overrides: dict[str, str] | None = None) -> Any:
    """Build `cls` from defaults, then the YAML file at `path`, then `overrides` (dotted key -> text).

    Raises ConfigError naming the file, line and key for an unknown key, a wrong type or a
    value the config class rejects.
    """
    values: dict[str, Any] = {}
    if path:
        try:
            with open(path, encoding="utf-8") as fh:
                root = yaml.compose(fh)
        except OSError as e:
            raise ConfigError(f"cannot read config file {path}: {e.strerror}") from None
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            where = f"{path}:{mark.line + 1}" if mark else path
            raise ConfigError(f"{where}: invalid YAML: {getattr(e, 'problem', e)}") from None
        if root is not None:
            _collect_yaml(cls, root, path, "", values)
    for key, text in (overrides or {}).items():
        hint = _leaf_type(cls, key, f"flag --{key}")
        values[key] = (_parse_flag(text, hint, key), f"flag --{key}")
    return _build(cls, "", values)


def is_config_class(hint: Any) -> bool:
    """Whether a field type is a nested config section (a dataclass) rather than a value."""
    return isinstance(hint, type) and dataclasses.is_dataclass(hint)


def _leaf_type(cls: type, key: str, where: str) -> Any:
    leaves = {p: h for p, _, h in field_paths(cls)}
    if key not in leaves:
        raise ConfigError(f"{where}: unknown option '{key}'{_suggest(key, leaves)}")
    return leaves[key]


def _suggest(key: str, known: Any) -> str:
    close = difflib.get_close_matches(key, list(known), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _collect_yaml(cls: type, node: yaml.Node, path: str, prefix: str, out: dict) -> None:
    where = f"{path}:{node.start_mark.line + 1}"
    if not isinstance(node, yaml.MappingNode):
        section = prefix.rstrip(".") or "the top level"
        raise ConfigError(f"{where}: {section} must be a mapping of keys to values")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    for key_node, value_node in node.value:
        key = key_node.value
        key_where = f"{path}:{key_node.start_mark.line + 1}"
        if key not in names:
            raise ConfigError(f"{key_where}: unknown key '{prefix}{key}'{_suggest(key, names)}")
        hint = hints[key]
        if is_config_class(hint):
            _collect_yaml(hint, value_node, path, f"{prefix}{key}.", out)
            continue
        value = yaml.SafeLoader("").construct_object(value_node, deep=True)
        out[f"{prefix}{key}"] = (_coerce(value, hint, f"{prefix}{key}", key_where), key_where)


def _parse_flag(text: str, hint: Any, key: str) -> Any:
    base = _strip_optional(hint)
    if base is not hint and text.strip() in ("null", "~"):
        return None
    if typing.get_origin(base) is list and not text.lstrip().startswith("["):
        parts = [part.strip() for part in text.split(",") if part.strip()]
        item = _strip_optional(typing.get_args(base)[0])
        value: Any = parts if item is str else [yaml.safe_load(part) for part in parts]
    elif base is str:
        value = text
    else:
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError:
            raise ConfigError(f"flag --{key}: cannot parse {text!r} as {type_name(hint)}") from None
    return _coerce(value, hint, key, f"flag --{key}")


def _strip_optional(hint: Any) -> Any:
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return hint


def _coerce(value: Any, hint: Any, key: str, where: str) -> Any:
    def fail() -> typing.NoReturn:
        raise ConfigError(f"{where}: '{key}' must be {type_name(hint)}, got {value!r}")

    if value is None:
        if hint is type(None) or type(None) in typing.get_args(hint):
            return None
        fail()
    base = _strip_optional(hint)
    origin = typing.get_origin(base)
    if origin is list:
        if not isinstance(value, list):
            fail()
        (item,) = typing.get_args(base)
        return [_coerce(v, item, key, where) for v in value]
    if origin is dict:
        if not isinstance(value, dict):
            fail()
        kt, vt = typing.get_args(base)
        return {_coerce(k, kt, key, where): _coerce(v, vt, key, where) for k, v in value.items()}
    if base is bool:
        if not isinstance(value, bool):
            fail()
        return value
    if base is int:
        if isinstance(value, bool) or not isinstance(value, int):
            fail()
        return value
    if base is float:
        if isinstance(value, str):
            # YAML 1.1 reads 3e-4 (no dot) as a string; users mean the number.
            try:
                return float(value)
            except ValueError:
                fail()
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            fail()
        return float(value)
    if base is str:
        if isinstance(value, (dict, list)) or isinstance(value, bool):
            fail()
        return str(value)
    fail()


def _build(cls: type, prefix: str, values: dict[str, tuple[Any, str]]) -> Any:
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    wheres = []
    for f in dataclasses.fields(cls):
        path = f"{prefix}{f.name}"
        if is_config_class(hints[f.name]):
            kwargs[f.name] = _build(hints[f.name], path + ".", values)
        elif path in values:
            kwargs[f.name], where = values[path]
            wheres.append(where)
    try:
        return cls(**kwargs)
    except ValueError as e:
        # __post_init__ names the field; add where the offending values came from
        where = f"{', '.join(sorted(set(wheres)))}: " if wheres else ""
        section = f"[{prefix.rstrip('.')}] " if prefix else ""
        raise ConfigError(f"{where}{section}{e}") from None


def config_to_dict(config: Any) -> dict[str, Any]:
    """The plain-data form of a config tree, as written into ledgers and manifests."""
    return dataclasses.asdict(config)
