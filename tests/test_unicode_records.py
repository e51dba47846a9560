"""Pathological records (nesting past the parser's limit, 5000-digit integers, lone surrogates,
invalid UTF-8) mixed with good ones: the real clean, dedup and shard jobs finish, the ledger
balances and each bad line is rejected at read with its reason."""

from __future__ import annotations

import json
import os

import pytest

from fullchain.pipelines.shard.manifest import load_manifest

from .clean.samples import CHINESE, ENGLISH
from .test_data_stages import assert_balanced, rows, run

GOOD = [{"id": f"good-{i}", "text": ENGLISH.replace("river", f"river number {i}")} for i in range(4)]
DEEPEST_KEPT = {"id": "deep-100", "text": ENGLISH.replace("river", "deepest river")}
# line number (1-based) -> (the raw line, the read reason it must get)
BAD = {
    5: (b'{"id": "deep", "text": "t", "x": ' + b"[" * 5000 + b"]" * 5000 + b"}", "malformed_json"),
    6: (b'{"id": "deep-900", "text": "t", "x": ' + b"[" * 900 + b"]" * 900 + b"}", "malformed_json"),
    7: (b'{"id": "big-int", "text": "t", "n": ' + b"7" * 5000 + b"}", "malformed_json"),
    8: (json.dumps({"id": "surrogate-text", "text": ENGLISH + " \ud800"}).encode(), "bad_encoding"),
    9: (json.dumps({"id": "surrogate-meta", "text": ENGLISH, "tags": ["x", {"\udfff": 1}]}).encode(),
        "bad_encoding"),
    10: (b'{"id": "bad-bytes", "text": "' + bytes(range(0x80, 0x100)) * 4 + b'"}', "bad_encoding"),
}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("unicode_corpus")
    lines = [json.dumps(r).encode() for r in GOOD] + [BAD[n][0] for n in sorted(BAD)]
    lines.append(json.dumps({"id": "zh", "text": CHINESE}, ensure_ascii=False).encode())
    # at the nesting limit: the record (1) and 99 levels below it must pass every coder and writer
    lines.append(json.dumps(DEEPEST_KEPT).encode()[:-1] + b', "x": ' + b"[" * 98 + b"{}" + b"]" * 98 + b"}")
    (folder / "mixed.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    return folder


def test_clean_and_dedup_reject_the_bad_lines_and_balance(corpus, tmp_path):
    clean = run("clean", str(corpus), str(tmp_path / "clean"))
    assert_balanced(clean, str(tmp_path / "clean"))
    assert clean.ledger["input"] == len(GOOD) + len(BAD) + 2
    by_line = {r["detail"].split(": ")[0]: r for r in rows(str(tmp_path / "clean"), "rejected")}
    for lineno, (_, reason) in BAD.items():
        rejected = by_line[f"{corpus / 'mixed.jsonl'}:{lineno}"]
        assert (rejected["stage"], rejected["reason"]) == ("read", reason), rejected["detail"]
    assert "field 'text'" in by_line[f"{corpus / 'mixed.jsonl'}:8"]["detail"]
    assert "field name '\\udfff' in 'tags[1]'" in by_line[f"{corpus / 'mixed.jsonl'}:9"]["detail"]
    assert {r["id"] for r in rows(str(tmp_path / "clean"), "data")} == {r["id"] for r in GOOD} | {"zh", "deep-100"}
    dedup = run("dedup", str(tmp_path / "clean"), str(tmp_path / "dedup"))
    assert_balanced(dedup, str(tmp_path / "dedup"))
    assert dedup.ledger["input"] == clean.ledger["kept"]


def test_shard_reads_the_raw_file_without_crashing(corpus, tmp_path):
    out = str(tmp_path / "shards")
    run("shard", str(corpus), out, **{"shard.train.vocab_size": "300", "shard.val_fraction": "0.2",
                                      "shard.target_shard_mb": "0.05"})
    manifest = load_manifest(out)
    assert manifest["input_documents"] == len(GOOD) + len(BAD) + 2
    assert manifest["written"] == len(GOOD) + 2
    assert manifest["input_documents"] == manifest["written"] + sum(manifest["skipped"].values())
    assert os.path.exists(os.path.join(out, "manifest.json"))


def test_parquet_file_with_invalid_utf8_loses_only_its_bad_rows(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from fullchain.pipelines.input_reading import ReadFile
    from fullchain.pipelines.input_files import InputFile
    from fullchain.pipelines.job_config import ReadConfig

    raw = pa.array([f"row {i}".encode() if i != 1500 else b"bad \xff" for i in range(3000)], pa.binary())
    text = pa.Array.from_buffers(pa.string(), len(raw), raw.buffers())  # another tool's unchecked write
    path = tmp_path / "foreign.parquet"
    pq.write_table(pa.table({"text": text}), path)
    out = [getattr(o, "value", o) for o in
           ReadFile(ReadConfig()).process(InputFile(str(path), "foreign.parquet", "parquet"))]
    assert len(out) == 3000
    (bad,) = [o for o in out if getattr(o, "reason", None)]
    assert bad.reason == "bad_encoding" and bad.detail.startswith(f"{path}:1501: column 'text' cannot be decoded")
