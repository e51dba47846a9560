"""The YAML/flag config loader: defaults, overrides, and one-line errors naming file, line and key."""

import dataclasses
import typing
from dataclasses import dataclass

import pytest

from fullchain.pipelines.config import ConfigError, field_paths, load_config, option


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
    str, int, float, bool, list[str], dict[int, float], dict[str, str], dict[str, float],
    str | None, int | None, float | None, bool | None, list[str] | None, dict[int, float] | None,
}  # fmt: skip


def test_every_stage_option_has_help_and_a_type_the_loader_and_flags_handle():
    from fullchain.pipelines.job_config import RunConfig

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


def alias_bomb(levels: int = 9, width: int = 9) -> str:
    """A 'billion laughs' value of a known key: each list repeats the one before `width` times
    (width**levels values in all)."""
    items = ["&l0 [" + ", ".join(["x"] * width) + "]"]
    items += [f"&l{i} [{', '.join([f'*l{i - 1}'] * width)}]" for i in range(1, levels)]
    return "inner:\n  names: [" + ", ".join(items) + "]\n"


def test_alias_bomb_is_refused_before_expansion_with_a_short_message(tmp_path):
    text = alias_bomb()
    assert len(text) < 600  # a few hundred bytes that would expand to 9**9 (387 million) values
    with pytest.raises(ConfigError, match=r"run\.yaml:\d+: YAML holds more than 10,000 values once its aliases are expanded") as e:
        load_config(Outer, write(tmp_path, text))
    assert len(str(e.value)) < 200


def test_aliases_within_the_bound_still_work(tmp_path):
    path = write(tmp_path, "base: &langs [en, zh]\ninner:\n  names: *langs\n")
    with pytest.raises(ConfigError, match="unknown key 'base'"):  # aliases resolve; the anchor key is still checked
        load_config(Outer, path)
    flags = load_config(Outer, None, {"inner.table": "{2: 0.1, 3: 0.2}"})
    assert flags.inner.table == {2: 0.1, 3: 0.2}


def test_self_referencing_alias_is_refused(tmp_path):
    with pytest.raises(ConfigError, match=r"run\.yaml:2: a YAML alias refers to itself"):
        load_config(Outer, write(tmp_path, "inner:\n  names: &a [x, *a]\n"))


def test_alias_bomb_in_a_flag_is_refused():
    bomb = "[" + ", ".join(["[" + ", ".join(["x"] * 200) + "]"] * 200) + "]"  # no aliases, but 40,000 values
    with pytest.raises(ConfigError, match="flag --inner.names:1: YAML holds more than 10,000 values"):
        load_config(Outer, None, {"inner.names": bomb})


def test_a_huge_value_is_cut_in_the_error(tmp_path):
    path = write(tmp_path, "flag: " + "y" * 50_000 + "\n")
    with pytest.raises(ConfigError, match=r"run\.yaml:1: 'flag' must be bool, got 'y+\.\.\.y+'$") as e:
        load_config(Outer, path)
    assert len(str(e.value)) < 200
    with pytest.raises(ConfigError) as e:
        load_config(Outer, write(tmp_path, "inner:\n  threshold: " + "9" * 5000 + ".0\n"))
    assert "\n" not in str(e.value) and len(str(e.value)) < 700


def test_python_tags_are_refused_and_nothing_is_built(tmp_path):
    marker = tmp_path / "ran"
    text = f"name: !!python/object/apply:os.system ['touch {marker}']\n"
    with pytest.raises(ConfigError, match=r"run\.yaml:1: YAML tag 'tag:yaml.org,2002:python/object/apply:os.system' "
                                          r"is not allowed"):
        load_config(Outer, write(tmp_path, text))
    with pytest.raises(ConfigError, match="is not allowed"):
        load_config(Outer, write(tmp_path, "inner:\n  names: !custom [a]\n"))
    assert not marker.exists()


def test_config_that_is_not_utf8_is_one_line(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_bytes("name: caf\u00e9\n".encode("latin-1"))
    with pytest.raises(ConfigError, match=r"run\.yaml: not UTF-8 text \(byte 0xe9 at offset 9\)"):
        load_config(Outer, str(path))


def test_duplicate_keys_are_refused_at_every_level(tmp_path):
    with pytest.raises(ConfigError, match=r"run\.yaml:3: duplicate key 'name' \(first at line 1\)"):
        load_config(Outer, write(tmp_path, "name: a\nflag: true\nname: b\n"))
    with pytest.raises(ConfigError, match=r"run\.yaml:4: duplicate key 'inner' \(first at line 1\)"):
        load_config(Outer, write(tmp_path, "inner:\n  threshold: 0.1\nname: a\ninner:\n  limit: 3\n"))
    with pytest.raises(ConfigError, match=r"run\.yaml:3: duplicate key '2' \(first at line 2\)"):
        load_config(Outer, write(tmp_path, "inner:\n  table: {2: 0.1,\n    2: 0.3}\n"))


def test_deep_nesting_is_one_line(tmp_path):
    with pytest.raises(ConfigError, match=r"run\.yaml(:\d+)?: "):
        load_config(Outer, write(tmp_path, "name: " + "[" * 20_000 + "]" * 20_000 + "\n"))


@pytest.mark.parametrize("argv", [
    ["clean", "--input", "{tmp}/in.jsonl", "--output", "{tmp}/out"],
    ["train", "--output", "{tmp}/out"],
    ["export", "{tmp}/hf", "--output", "{tmp}/out"],
    ["publish", "{tmp}/export", "--repository", "{tmp}/out", "--name", "m"],
], ids=lambda argv: argv[0])
@pytest.mark.parametrize("text", [alias_bomb(), "name: !!python/object/apply:os.getcwd []\n", b"a: caf\xe9\n"],
                         ids=["alias-bomb", "python-tag", "not-utf8"])
def test_every_command_refuses_a_hostile_config_in_one_line(tmp_path, capsys, argv, text):
    from fullchain.cli import main

    config = tmp_path / "hostile.yaml"
    config.write_bytes(text if isinstance(text, bytes) else text.encode())
    code = main([a.format(tmp=tmp_path) for a in argv] + ["--config", str(config)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and len(err) < 800 and "hostile.yaml" in err, err[:2000]
    assert not (tmp_path / "out").exists()
