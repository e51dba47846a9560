"""Resolving --input: globs, folders, stage folders, and one-line errors before any work."""

import json

import pytest

from fullchain.pipelines.config import ConfigError
from fullchain.pipelines.input_files import file_format, resolve_input

from .test_stage_folders import write_stage_folder


def test_formats_by_extension():
    assert file_format("a/b.jsonl.gz") == "jsonl"
    assert file_format("a/b.JSONL") == "jsonl"
    assert file_format("x.parquet") == "parquet"
    assert file_format("x.txt") == "txt"
    assert file_format("x.csv") is None


def test_folder_glob_and_keys_relative_to_root(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.jsonl").write_text("{}\n")
    (tmp_path / "sub" / "b.txt").write_text("x")
    (tmp_path / "README.md").write_text("not input")
    folder = resolve_input(str(tmp_path))
    assert [(f.key, f.format) for f in folder.files] == [("a.jsonl", "jsonl")]
    glob = resolve_input(f"{tmp_path}/*/*.txt,{tmp_path}/a.jsonl")
    assert sorted(f.key for f in glob.files) == ["a.jsonl", "sub/b.txt"]


def test_stage_folder_reads_its_data_and_ledger(tmp_path):
    write_stage_folder(tmp_path / "clean")
    resolved = resolve_input(str(tmp_path / "clean"))
    assert [f.format for f in resolved.files] == ["parquet", "parquet"]
    assert resolved.upstream_ledgers[0]["stage"] == "clean"
    # a hand-made ledger is not a stage's: it lacks the counts and parts that are checked
    (tmp_path / "clean" / "ledger.json").write_text(json.dumps({"stage": "clean", "input": 3}))
    with pytest.raises(ConfigError, match="not a valid ledger: lacks kept"):
        resolve_input(str(tmp_path / "clean"))


@pytest.mark.parametrize("spec, message", [
    ("", "no input given"),
    ("/nonexistent/corpus/*.jsonl", "matches no files"),
    ("/nonexistent/file.jsonl", "matches no files"),
])
def test_errors(spec, message):
    with pytest.raises(ConfigError, match=message):
        resolve_input(spec)


def test_unsupported_single_file_and_empty_folder(tmp_path):
    (tmp_path / "data.csv").write_text("text\nx\n")
    with pytest.raises(ConfigError, match="unsupported file type"):
        resolve_input(str(tmp_path / "data.csv"))
    with pytest.raises(ConfigError, match="holds no files of a supported type"):
        resolve_input(str(tmp_path))
