"""Load a typed config tree from a YAML file and from `--key.path value` overrides.

Config classes are dataclasses whose fields carry their default and help text
(`fields.option`). This module checks every key and value against those
fields and fails with one line naming the file, the line and the key.

Every YAML the project reads (run configs, runners.yaml, flag values) goes through
`compose_yaml` / `yaml_value`: plain values only (no `!!python` tags), no duplicate keys, and
aliases that expand to at most MAX_YAML_VALUES values, so a tiny file cannot make a huge
config or a huge error message.
"""

from __future__ import annotations

import dataclasses
import difflib
import reprlib
import types
import typing
from typing import Any

import yaml

from fullchain.pipelines.config.fields import field_paths, is_config_class, type_name

# A real config holds a few hundred values; aliases expanding past this are a bomb, not a config.
MAX_YAML_VALUES = 10_000
MAX_MESSAGE_CHARS = 600
_EXCERPT = reprlib.Repr()
_EXCERPT.maxlevel, _EXCERPT.maxdict, _EXCERPT.maxlist, _EXCERPT.maxtuple, _EXCERPT.maxset = 2, 4, 4, 4, 4
_EXCERPT.maxstring, _EXCERPT.maxother, _EXCERPT.maxlong = 60, 60, 40
# the tags SafeLoader can build: plain data, nothing that names Python code
_SAFE_TAGS = frozenset(tag for tag in yaml.SafeLoader.yaml_constructors if tag is not None)


class ConfigError(ValueError):
    """A config file or flag that does not fit the config classes; the message is one line.

    The message is kept to one line and at most MAX_MESSAGE_CHARS characters whatever it was
    built from, so an error can never print a user's value at length."""

    def __init__(self, message: str):
        one_line = " ".join(str(message).splitlines())
        if len(one_line) > MAX_MESSAGE_CHARS:
            one_line = f"{one_line[:MAX_MESSAGE_CHARS]}... (message cut at {MAX_MESSAGE_CHARS} characters)"
        super().__init__(one_line)


class ModelCheckError(ConfigError):
    """A configured model or tokenizer that cannot serve its stage, found before any work starts;
    the message is one line naming the option and the problem."""


def excerpt(value: Any) -> str:
    """A short repr of `value` for error messages: long strings, lists and dicts are cut."""
    return _EXCERPT.repr(value)


def compose_yaml(source: Any, where: str) -> yaml.Node | None:
    """The checked YAML node graph of `source` (text or a text stream); `where` names it in errors
    (a file path, or `flag --key`). Raises ConfigError for invalid YAML, tags that are not plain
    data, duplicate keys, and aliases that expand beyond MAX_YAML_VALUES values."""
    try:
        root = yaml.compose(source, Loader=yaml.SafeLoader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at = f"{where}:{mark.line + 1}" if mark else where
        raise ConfigError(f"{at}: invalid YAML: {getattr(e, 'problem', None) or e}") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"{where}: not UTF-8 text (byte 0x{e.object[e.start]:02x} at offset {e.start})") from None
    except RecursionError:
        raise ConfigError(f"{where}: invalid YAML: nested too deeply") from None
    if root is not None:
        _check_graph(root, where)
    return root


def yaml_value(node: yaml.Node, where: str) -> Any:
    """The plain Python value of a node returned by `compose_yaml` (its graph already checked)."""
    try:
        return yaml.SafeLoader("").construct_object(node, deep=True)
    except yaml.YAMLError as e:
        raise ConfigError(f"{where}: {getattr(e, 'problem', None) or e}") from None


def _check_graph(root: yaml.Node, where: str) -> None:
    # Iterative post-order walk: the expanded size of each node is memoised by identity, so an
    # alias costs one lookup and a bomb is measured without being expanded.
    expanded: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if children_done:
            on_path.discard(key)
            expanded[key] = 1 + sum(expanded[id(c)] for c in _children(node))
            if expanded[key] > MAX_YAML_VALUES:
                raise ConfigError(f"{where}:{node.start_mark.line + 1}: YAML holds more than {MAX_YAML_VALUES:,} "
                                  f"values once its aliases are expanded")
            continue
        if key in expanded:
            continue
        if key in on_path:
            raise ConfigError(f"{where}:{node.start_mark.line + 1}: a YAML alias refers to itself")
        if node.tag not in _SAFE_TAGS:
            raise ConfigError(f"{where}:{node.start_mark.line + 1}: YAML tag {excerpt(node.tag)} is not allowed "
                              f"in a config (plain values only)")
        if isinstance(node, yaml.MappingNode):
            _check_unique_keys(node, where)
        on_path.add(key)
        stack.append((node, True))
        stack.extend((c, False) for c in _children(node) if id(c) not in expanded)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _check_unique_keys(node: yaml.MappingNode, where: str) -> None:
    seen: dict[tuple[str, str], int] = {}
    for key_node, _ in node.value:
        if not isinstance(key_node, yaml.ScalarNode):
            continue
        line = key_node.start_mark.line + 1
        first = seen.setdefault((key_node.tag, key_node.value), line)
        if first != line:
            raise ConfigError(f"{where}:{line}: duplicate key {excerpt(key_node.value)} (first at line {first})")


def load_config(cls: type, path: str | None = None, overrides: dict[str, str] | None = None) -> Any:
    """Build `cls` from defaults, then the YAML file at `path`, then `overrides` (dotted key -> text).

    Raises ConfigError naming the file, line and key for an unknown key, a wrong type or a
    value the config class rejects.
    """
    values: dict[str, Any] = {}
    if path:
        try:
            with open(path, encoding="utf-8") as fh:
                root = compose_yaml(fh, path)
        except OSError as e:
            raise ConfigError(f"cannot read config file {path}: {e.strerror}") from None
        if root is not None:
            _collect_yaml(cls, root, path, "", values, getattr(cls, "MOVED_KEYS", {}))
    for key, text in (overrides or {}).items():
        hint = _leaf_type(cls, key, f"flag --{key}")
        values[key] = (_parse_flag(text, hint, key), f"flag --{key}")
    return _build(cls, "", values)


def _leaf_type(cls: type, key: str, where: str) -> Any:
    leaves = {p: h for p, _, h in field_paths(cls)}
    if key not in leaves:
        raise ConfigError(f"{where}: unknown option {excerpt(key)}{_suggest(key, leaves)}")
    return leaves[key]


def _suggest(key: str, known: Any) -> str:
    close = difflib.get_close_matches(str(key), [str(k) for k in known], n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _collect_yaml(cls: type, node: yaml.Node, path: str, prefix: str, out: dict, moved: dict[str, str]) -> None:
    # `moved`: the root config class's MOVED_KEYS, old dotted key -> new one, so a config written
    # for an earlier release is told where its key went instead of only that it is unknown.
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
            dotted = prefix + str(key)
            if dotted in moved:
                raise ConfigError(f"{key_where}: '{dotted}' moved to '{moved[dotted]}'")
            raise ConfigError(f"{key_where}: unknown key {excerpt(dotted)}{_suggest(key, names)}")
        hint = hints[key]
        if is_config_class(hint):
            _collect_yaml(hint, value_node, path, f"{prefix}{key}.", out, moved)
            continue
        value = yaml_value(value_node, key_where)
        out[f"{prefix}{key}"] = (_coerce(value, hint, f"{prefix}{key}", key_where), key_where)


def _parse_flag(text: str, hint: Any, key: str) -> Any:
    base = _strip_optional(hint)
    if base is not hint and text.strip() in ("null", "~"):
        return None
    if typing.get_origin(base) is list and not text.lstrip().startswith("["):
        parts = [part.strip() for part in text.split(",") if part.strip()]
        item = _strip_optional(typing.get_args(base)[0])
        value: Any = parts if item is str else [_flag_yaml(part, key) for part in parts]
    elif base is str:
        value = text
    else:
        value = _flag_yaml(text, key)
    return _coerce(value, hint, key, f"flag --{key}")


def _flag_yaml(text: str, key: str) -> Any:
    where = f"flag --{key}"
    node = compose_yaml(text, where)
    return None if node is None else yaml_value(node, where)


def _strip_optional(hint: Any) -> Any:
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return hint


def _coerce(value: Any, hint: Any, key: str, where: str) -> Any:
    def fail() -> typing.NoReturn:
        raise ConfigError(f"{where}: '{key}' must be {type_name(hint)}, got {excerpt(value)}")

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
