"""The clean and dedup jobs end to end on real Beam runners: outputs, ledgers, runners, bad input.

Runner profiles: local (DirectRunner), portable (PortableRunner with its in-process job server), and
flink, which runs FlinkRunner's submission path against an in-process (embedded) job service: no
Flink cluster runs here."""

from __future__ import annotations

import glob
import gzip
import json
import os

import pyarrow.parquet as pq
import pytest

from fullchain.cli import main
from fullchain.pipelines.config import load_config
from fullchain.pipelines.input_files import InputFile
from fullchain.pipelines.job_config import ReadConfig, RunConfig
from fullchain.pipelines.record_parsing import parse_json_line
from fullchain.pipelines.sample_corpus import generate_corpus, write_jsonl
from fullchain.pipelines.stage_job import run_stage

from .beam_runner_args import IN_PROCESS
from .clean.samples import CHINESE, ENGLISH
from .stage_checks import assert_ledger_balanced, non_blank_lines, parquet_rows as rows

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# local_outputs and the bad-input test run the local profile's processes; the others, whose subject is
# not the runner, run IN_PROCESS


def run(stage: str, input: str, output: str, profile: str = "local", beam_args=(), **overrides):
    cfg = load_config(RunConfig, None, {"input": input, "output": output, "runner_profile": profile, **overrides})
    return run_stage(stage, cfg, list(beam_args))


def assert_balanced(outcome, output):
    assert_ledger_balanced(output, outcome.ledger, outcome.counters)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("corpus")
    records, truth = generate_corpus(240, seed=3)
    write_jsonl(records[:120], str(folder / "a.jsonl.gz"))
    write_jsonl(records[120:], str(folder / "b.jsonl"))
    assert non_blank_lines(glob.glob(str(folder / "*"))) == len(records) == 240
    return str(folder), truth


@pytest.fixture(scope="module")
def local_outputs(corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("local")
    clean = run("clean", corpus[0], str(out / "clean"))
    dedup = run("dedup", str(out / "clean"), str(out / "dedup"))
    return out, clean, dedup


def test_clean_then_dedup_on_local_runner(corpus, local_outputs):
    out, clean, dedup = local_outputs
    assert_balanced(clean, str(out / "clean"))
    assert_balanced(dedup, str(out / "dedup"))
    # the records in the files, counted apart from the reader: a reader that dropped some cannot balance
    assert clean.ledger["input"] == non_blank_lines(glob.glob(os.path.join(corpus[0], "*")))
    # dedup reads clean's folder: its input is clean's kept, and it carries clean's ledger
    assert dedup.ledger["input"] == clean.ledger["kept"]
    assert dedup.ledger["upstream"][0]["stage"] == "clean"
    kept = rows(str(out / "clean"), "data")
    assert {r["lang"] for r in kept} == {"en", "zh"}
    assert all(r["stage"] == "clean" for r in rows(str(out / "clean"), "rejected"))
    rejected = rows(str(out / "dedup"), "rejected")
    assert {r["reason"] for r in rejected} == {"exact_duplicate", "near_duplicate"}
    survivors = {r["id"] for r in rows(str(out / "dedup"), "data")}
    assert all(r["duplicate_of"] in survivors for r in rejected)


def test_portable_runner_gives_identical_outputs(corpus, local_outputs, tmp_path):
    out, clean, dedup = local_outputs
    p_clean = run("clean", corpus[0], str(tmp_path / "clean"), "portable")
    p_dedup = run("dedup", str(tmp_path / "clean"), str(tmp_path / "dedup"), "portable")
    for stage in ("clean", "dedup"):
        for part in ("data", "rejected"):
            assert rows(str(tmp_path / stage), part) == rows(str(out / stage), part), (stage, part)
    assert p_clean.ledger["rejected"] == clean.ledger["rejected"]
    assert p_dedup.ledger["rejected"] == dedup.ledger["rejected"]
    assert_balanced(p_clean, str(tmp_path / "clean"))
    assert_balanced(p_dedup, str(tmp_path / "dedup"))
    assert p_clean.ledger["input"] == non_blank_lines(glob.glob(os.path.join(corpus[0], "*")))


def test_flink_profile_runs_flink_runner_submission_path_on_an_in_process_job_service(local_outputs, tmp_path):
    out, clean, dedup = local_outputs
    # No Flink cluster here: --job_endpoint=embed makes FlinkRunner submit to a job service in this process.
    flink = run("dedup", str(out / "clean"), str(tmp_path / "dedup"), "flink", ["--job_endpoint=embed"])
    assert rows(str(tmp_path / "dedup"), "data") == rows(str(out / "dedup"), "data")
    assert flink.ledger["runner"] == "flink"
    assert_balanced(flink, str(tmp_path / "dedup"))
    assert flink.ledger["input"] == dedup.ledger["input"] == clean.ledger["kept"]


def test_dataflow_profile_builds_the_job_graph_in_a_dry_run(corpus, tmp_path, monkeypatch, dataflow_workdir):
    monkeypatch.chdir(dataflow_workdir)
    outcome = run("clean", corpus[0], str(tmp_path / "out"), "dataflow", ["--dry_run=True"],
                  runners_file=os.path.join(PROJECT_ROOT, "runners.yaml"))
    assert outcome.ledger is None
    names = {t.unique_name for t in outcome.result.job.proto_pipeline.components.transforms.values()}
    assert {"Read", "Clean", "WriteClean"} <= names
    assert not os.path.exists(tmp_path / "out" / "ledger.json")


def test_rerun_replaces_output_and_refuses_foreign_folder(local_outputs, corpus, tmp_path):
    out, clean, _ = local_outputs
    again = run("dedup", str(out / "clean"), str(tmp_path / "dedup"), beam_args=IN_PROCESS)
    # the re-run also writes the clusters, from its own read of the input files (dedup reads them again)
    again = run("dedup", str(out / "clean"), str(tmp_path / "dedup"), beam_args=IN_PROCESS,
                **{"dedup.write_clusters": "true"})
    assert_balanced(again, str(tmp_path / "dedup"))
    near = {r["id"]: r["duplicate_of"] for r in rows(str(tmp_path / "dedup"), "rejected")
            if r["reason"] == "near_duplicate"}
    clusters = [c for f in glob.glob(str(tmp_path / "dedup" / "clusters" / "*.parquet"))
                for c in pq.read_table(f).to_pylist()]
    assert near and sorted(m for c in clusters for m in c["members"]) == sorted(near)
    assert all(near[m] == c["survivor"] and 0 < j <= 1 for c in clusters for m, j in zip(c["members"], c["jaccard"]))
    # what a run killed part-way leaves (Beam's temp files, no ledger) is cleaned up by the next run
    killed = tmp_path / "killed"
    (killed / "data" / "beam-temp-part-123").mkdir(parents=True)
    (killed / "data" / "beam-temp-part-123" / "half.parquet").write_bytes(b"PAR1")
    assert_balanced(run("dedup", str(out / "clean"), str(killed), beam_args=IN_PROCESS), str(killed))
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    assert main(["clean", "--input", corpus[0], "--output", str(foreign)]) == 2
    assert (foreign / "notes.txt").read_text() == "keep me"


def test_bad_input_is_rejected_with_reasons_and_the_ledger_balances(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    good = [{"id": f"good-{i}", "text": ENGLISH.replace("river", f"river number {i}")} for i in range(3)]
    lines = [json.dumps(r).encode() for r in good] + [
        b'{"id": "broken", "text": "unterminated',
        b'{"id": "no-text", "body": "x"}',
        b'{"id": "int-text", "text": 5}',
        json.dumps({"id": "cp1252", "text": ENGLISH}, ensure_ascii=False).encode("cp1252"),
        b"\x00\x9f\x92\x96 binary garbage \xff\xfe\x00",
        b"",
        json.dumps({"id": "zh", "text": CHINESE}, ensure_ascii=False).encode(),
    ]
    (src / "mixed.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    (src / "empty.jsonl").write_bytes(b"")
    (src / "garbage.txt").write_bytes(bytes(range(256)) * 64)
    (src / "huge.txt").write_bytes(("All work and no play makes a dull day. " * 1_300_000).encode())  # ~50 MB
    whole = gzip.compress(b"\n".join(json.dumps({"text": ENGLISH + str(i)}).encode() for i in range(200)))
    (src / "truncated.jsonl.gz").write_bytes(whole[: len(whole) // 2])
    (src / "corrupt.parquet").write_bytes(b"PAR1 this is not parquet PAR1")
    out = tmp_path / "out"
    outcome = run("clean", str(src), str(out))
    assert_balanced(outcome, str(out))
    rejected = {r["id"]: r for r in rows(str(out), "rejected")}
    by_detail = {r["detail"].split(": ")[0]: r for r in rejected.values()}
    reasons = outcome.ledger["rejected"]
    for reason in ("malformed_json", "missing_text", "bad_encoding", "empty_file", "unreadable_file", "too_long"):
        assert reasons.get(reason, 0) >= 1, (reason, reasons)
    assert reasons["missing_text"] == 2 and reasons["unreadable_file"] == 2
    assert by_detail[f"{src / 'mixed.jsonl'}:4"]["reason"] == "malformed_json"
    assert by_detail[f"{src / 'mixed.jsonl'}:8"]["reason"] == "bad_encoding"
    assert by_detail[f"{src / 'empty.jsonl'}"]["reason"] == "empty_file"
    # a truncated gzip keeps the lines before the break and reports the break
    assert 0 < sum(r["source"].endswith("truncated.jsonl.gz") for r in rows(str(out), "data")) < 200
    truncated = [r for r in rejected.values() if r["source"].endswith("truncated.jsonl.gz")]
    assert [r["reason"] for r in truncated] == ["unreadable_file"] and "EOFError" in truncated[0]["detail"]
    # every record present is counted: mixed.jsonl's 9 non-blank lines, one each for the empty, garbage,
    # huge and corrupt files, and the truncated file's lines read before its break, plus the break
    read_before_break = sum(r["source"].endswith("truncated.jsonl.gz") for r in rows(str(out), "data"))
    assert non_blank_lines([str(src / "mixed.jsonl")]) == 9
    assert outcome.ledger["input"] == 9 + 4 + read_before_break + 1
    assert rejected["no-text"]["detail"].endswith("field 'text' is missing")
    kept = {r["id"]: r for r in rows(str(out), "data")}
    assert {"good-0", "good-1", "good-2", "cp1252", "zh"} <= set(kept)
    assert "café" in kept["cp1252"]["text"]
    assert json.loads(kept["cp1252"]["meta"])["encoding_repair"] == "cp1252"
    assert kept["zh"]["lang"] == "zh"


@pytest.mark.parametrize("argv, message", [
    (["clean", "--input", "/no/such/corpus/*.jsonl", "--output", "OUT"], "matches no files"),
    (["dedup", "--input", "IN", "--output", "OUT", "--runner-profile", "spark"], "runner profile 'spark'"),
    (["clean", "--input", "IN", "--output", "OUT", "--", "--direct_num_wrkers=2"], "unknown Beam option"),
    (["clean", "--input", "IN", "--output", "OUT", "--clean.langid.min-probability", "2"], "min_probability"),
])
def test_mistakes_fail_fast_with_one_line(argv, message, tmp_path, capsys, monkeypatch):
    (tmp_path / "IN").mkdir()
    (tmp_path / "IN" / "a.jsonl").write_text('{"text": "x"}\n')
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "OUT").exists()


def test_config_file_error_names_file_and_line(tmp_path, capsys):
    config = tmp_path / "run.yaml"
    config.write_text("input: x\nclean:\n  langid:\n    min_prob: 0.5\n")
    assert main(["clean", "--config", str(config), "--output", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert f"{config}:4: unknown key 'clean.langid.min_prob' (did you mean 'min_probability'?)" in err


def test_read_encoding_flags_decode_the_input_of_every_stage(tmp_path, capsys):
    # 3 bytes that are neither UTF-8 nor cp1252 in ~150: over the default read.encoding.max_bad_byte_fraction (0.01)
    damaged = json.dumps({"id": "damaged", "text": "A calm river runs past the old mill. " * 3}).encode()
    damaged = damaged.replace(b"river", b"r\x81v\x8de\x8fr", 1)
    (tmp_path / "in.jsonl").write_bytes(damaged + b"\n" + json.dumps({"id": "fine", "text": ENGLISH}).encode() + b"\n")
    # with the defaults every stage's reader refuses it (the reader is the same function for all)
    refused = parse_json_line(damaged, InputFile(str(tmp_path / "in.jsonl"), "in.jsonl", "jsonl"), 1, ReadConfig())
    assert refused.reason == "bad_encoding" and "not UTF-8 > 1.00%" in refused.detail, refused
    assert main(["dedup", "--input", str(tmp_path / "in.jsonl"), "--output", str(tmp_path / "lenient"),
                 "--read.encoding.max-bad-byte-fraction", "0.1", "--", *IN_PROCESS]) == 0
    lenient = assert_ledger_balanced(str(tmp_path / "lenient"))
    assert lenient["kept"] == 2 and lenient["params"]["read"]["encoding"]["max_bad_byte_fraction"] == 0.1
    damaged_row = next(r for r in rows(str(tmp_path / "lenient"), "data") if r["id"] == "damaged")
    assert "3 undecodable bytes replaced" in json.loads(damaged_row["meta"])["encoding_repair"]


def test_the_old_clean_encoding_key_is_refused_in_one_line(tmp_path, capsys):
    config = tmp_path / "old.yaml"
    config.write_text("clean:\n  encoding:\n    max_bad_byte_fraction: 0.1\n")
    assert main(["clean", "--config", str(config), "--input", "IN", "--output", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"{config}:2: 'clean.encoding' moved to 'read.encoding'" in err, err
    with pytest.raises(SystemExit) as exit_info:  # argparse's refusal of an unknown flag
        main(["dedup", "--input", "IN", "--output", str(tmp_path / "o"), "--clean.encoding.max-bad-byte-fraction", "0.1"])
    assert exit_info.value.code == 2
    assert "unrecognized arguments: --clean.encoding.max-bad-byte-fraction" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
