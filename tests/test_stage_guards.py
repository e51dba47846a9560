"""What every stage refuses before it touches anything: an output over its input, an output that
is a file, Beam option values Beam would fail on later. One line, exit 2, nothing deleted or created."""

from __future__ import annotations

import os

import pytest

from fullchain.cli import main
from fullchain.pipelines.config import ConfigError
from fullchain.pipelines.output_path import check_output_holds_no_input, check_output_path, normalised, overlap
from fullchain.pipelines.sample_corpus import generate_corpus, write_jsonl

from .test_stage_folders import write_stage_folder


def snapshot(folder) -> dict[str, bytes]:
    return {os.path.relpath(os.path.join(root, n), folder): open(os.path.join(root, n), "rb").read()
            for root, _, names in os.walk(folder) for n in names}


def fails_with_one_line(argv, capsys, *fragments) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    for fragment in fragments:
        assert fragment in err, err
    return err


def test_paths_compare_resolved(tmp_path):
    (tmp_path / "real").mkdir()
    os.symlink(tmp_path / "real", tmp_path / "alias")
    assert normalised(str(tmp_path / "alias" / "x")) == str(tmp_path / "real" / "x")
    assert normalised("GS://bucket//a/./b/../c/") == "gs://bucket/a/c"
    assert overlap("/a/b", "/a/b") == "is"
    assert overlap("/a", "/a/b") == "contains"
    assert overlap("/a/b/c", "/a/b") == "lies inside"
    assert overlap("/a/bc", "/a/b") is None and overlap("/a/b", "/a/bc") is None
    assert overlap("/out", "/") == "lies inside"
    assert overlap("gs://b/x/out", "gs://b/x") == "lies inside" and overlap("gs://b/xy", "gs://b/x") is None


@pytest.fixture
def stage_folder(tmp_path):
    write_stage_folder(tmp_path / "clean")
    return tmp_path / "clean"


@pytest.mark.parametrize("command, input_of, output_of, relation", [
    (["dedup"], lambda x: x, lambda x: x, "is"),
    (["clean"], lambda x: x, lambda x: x, "is"),
    (["ppl-filter"], lambda x: x / "data", lambda x: x, "contains"),
    (["dedup"], lambda x: x, lambda x: x / "data", "lies inside"),
    (["shard"], lambda x: x, lambda x: x, "is"),
    (["prepare", "--prepare.stages", "dedup"], lambda x: x, lambda x: x.parent, "contains"),
    (["dedup"], lambda x: f"{x}/data/*.parquet", lambda x: x, "contains"),
    (["dedup"], lambda x: f"{x.parent}/other,{x}", lambda x: x.parent / "alias", "is"),
])
def test_an_output_over_an_input_is_refused_before_anything_is_deleted(
        stage_folder, capsys, command, input_of, output_of, relation):
    os.symlink(stage_folder, stage_folder.parent / "alias")
    before = snapshot(stage_folder)
    argv = [command[0], "--input", str(input_of(stage_folder)), "--output", str(output_of(stage_folder)),
            *command[1:]]
    fails_with_one_line(argv, capsys, f"output '{output_of(stage_folder)}' {relation} input", "choose an output")
    assert snapshot(stage_folder) == before


def test_an_output_inside_a_raw_input_folder_is_refused(tmp_path, capsys):
    records, _ = generate_corpus(5, seed=1)
    write_jsonl(records, str(tmp_path / "c.jsonl"))
    fails_with_one_line(["clean", "--input", str(tmp_path), "--output", str(tmp_path / "out")], capsys,
                        "lies inside input")
    assert os.listdir(tmp_path) == ["c.jsonl"]


def test_a_glob_is_judged_by_the_files_it_matched(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.jsonl").write_text('{"text": "x"}\n')
    matched = [str(corpus / "a.jsonl")]
    check_output_path(str(corpus / "out"), f"{corpus}/*.jsonl")
    check_output_holds_no_input(str(corpus / "out"), matched)  # *.jsonl reads nothing under out/
    with pytest.raises(ConfigError, match=r"output '.*' contains input '.*a\.jsonl'"):
        check_output_holds_no_input(str(tmp_path), matched)
    with pytest.raises(ConfigError, match="lies inside input"):
        check_output_path(str(corpus / "out"), str(corpus))


def test_an_output_that_is_a_file_is_refused(tmp_path, capsys):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.jsonl").write_text('{"text": "x"}\n')
    (tmp_path / "out.parquet").write_bytes(b"mine")
    fails_with_one_line(["clean", "--input", str(tmp_path / "in"), "--output", str(tmp_path / "out.parquet")],
                        capsys, "exists and is not a folder")
    assert (tmp_path / "out.parquet").read_bytes() == b"mine"


@pytest.mark.parametrize("beam_args, message", [
    (["--direct_num_workers=-1"], "--direct_num_workers=-1 for profile 'local': must be >= 0"),
    (["--direct_num_workers=abc"], "argument --direct_num_workers: invalid int value: 'abc'"),
    (["--direct_running_mode=fast"], "argument --direct_running_mode: invalid choice: 'fast'"),
    (["--number_of_worker_harness_threads=0"], "must be >= 1"),
    (["--profile_sample_rate=often"], "invalid float value: 'often'"),
])
def test_a_bad_beam_option_value_is_one_line(tmp_path, capsys, beam_args, message):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.jsonl").write_text('{"text": "x"}\n')
    fails_with_one_line(["clean", "--input", str(tmp_path / "in"), "--output", str(tmp_path / "out"), "--",
                         *beam_args], capsys, message)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("ledger", ["{}", "not json", "[]", '{"stage": "clean"}'])
def test_a_corrupt_upstream_ledger_is_one_line(stage_folder, tmp_path, capsys, ledger):
    (stage_folder / "ledger.json").write_text(ledger)
    fails_with_one_line(["dedup", "--input", str(stage_folder), "--output", str(tmp_path / "out")], capsys,
                        f"{stage_folder / 'ledger.json'}: not")
    assert not (tmp_path / "out").exists()
