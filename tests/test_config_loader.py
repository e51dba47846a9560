"""The YAML/flag config loader: defaults, overrides, and one-line errors naming file, line and key."""

import dataclasses
import typing
from dataclasses import dataclass

import pytest

from pipelines.config_loader import ConfigError, field_paths, load_config
from pipelines.options import option


@dataclass(kw_only=True)
class Inner:
    threshold: float = option(0.5, "a probability")
    names: list[str] = option(["en"], "names")
    table: dict[int, float] = option({2: 0.2}, "n -> fraction")
    limit: int | None = option(None, "optional limit")

    def __post_init__(self):
        if not 0 <= self.threshold <= 1:
            raise ValueError(f"threshold must be in [0, 1], got {self.threshold}")


@dataclass(kw_only=True)
class Outer:
    name: str = option("x", "a name")
    flag: bool = option(True, "a switch")
    inner: Inner = option(Inner(), "nested")


def write(tmp_path, text):
    path = tmp_path / "run.yaml"
    path.write_text(text)
    return str(path)


def test_defaults_file_then_flags(tmp_path):
    path = write(tmp_path, "name: y\ninner:\n  threshold: 0.25\n  table: {3: 0.1}\n")
    cfg = load_config(Outer, path, {"inner.names": "en,zh", "flag": "false", "inner.limit": "7"})
    assert cfg.name == "y" and cfg.flag is False
    assert cfg.inner.threshold == 0.25 and cfg.inner.table == {3: 0.1}
    assert cfg.inner.names == ["en", "zh"] and cfg.inner.limit == 7
    assert load_config(Outer).inner.names == ["en"]
    # defaults are copied, not shared between configs
    a, b = load_config(Outer), load_config(Outer)
    a.inner.names.append("de")
    assert b.inner.names == ["en"]


def test_unknown_key_names_file_line_and_suggestion(tmp_path):
    path = write(tmp_path, "name: y\ninner:\n  treshold: 0.3\n")
    with pytest.raises(ConfigError, match=r"run\.yaml:3: unknown key 'inner\.treshold' \(did you mean 'threshold'\?\)"):
        load_config(Outer, path)


def test_wrong_type_names_line(tmp_path):
    path = write(tmp_path, "flag: maybe\n")
    with pytest.raises(ConfigError, match=r"run\.yaml:1: 'flag' must be bool, got 'maybe'"):
        load_config(Outer, path)


def test_post_init_error_keeps_location(tmp_path):
    path = write(tmp_path, "inner:\n  threshold: 1.5\n")
    with pytest.raises(ConfigError, match=r"run\.yaml:2: \[inner\] threshold must be in \[0, 1\]"):
        load_config(Outer, path)


def test_bad_flag_and_unknown_flag():
    with pytest.raises(ConfigError, match="flag --inner.threshold: 'inner.threshold' must be float"):
        load_config(Outer, None, {"inner.threshold": "high"})
    with pytest.raises(ConfigError, match="unknown option 'inner.thresold'"):
        load_config(Outer, None, {"inner.thresold": "0.1"})


def test_invalid_yaml_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match=r"run\.yaml:2: invalid YAML"):
        load_config(Outer, write(tmp_path, "name: [a\nflag: true\n"))
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(Outer, str(tmp_path / "missing.yaml"))


def test_field_paths_cover_leaves():
    assert [p for p, _, _ in field_paths(Outer)] == [
        "name", "flag", "inner.threshold", "inner.names", "inner.table", "inner.limit"]


def test_null_flag_switches_an_optional_string_off():
    @dataclass(kw_only=True)
    class Patterns:
        pattern: str | None = option(r"\[\d+\]", "a regex")

    assert load_config(Patterns, None, {"pattern": "null"}).pattern is None
    assert load_config(Patterns, None, {"pattern": "nullable"}).pattern == "nullable"


ALLOWED_LEAF_TYPES = {
    str, int, float, bool, list[str], dict[int, float],
    str | None, int | None, float | None, bool | None, list[str] | None, dict[int, float] | None,
}  # fmt: skip


def test_every_stage_option_has_help_and_a_type_the_loader_and_flags_handle():
    from pipelines.job_config import RunConfig

    def walk(cls, prefix=""):
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            yield f"{prefix}{f.name}", f, hints[f.name]
            if dataclasses.is_dataclass(hints[f.name]):
                yield from walk(hints[f.name], f"{prefix}{f.name}.")

    paths = []
    for path, f, hint in walk(RunConfig):
        paths.append(path)
        assert f.metadata.get("help"), f"{path} has no help text"
        assert dataclasses.is_dataclass(hint) or hint in ALLOWED_LEAF_TYPES, f"{path}: {hint}"
    assert {"clean.max_chars", "clean.langid.min_probability", "dedup.minhash.num_bands"} <= set(paths)
