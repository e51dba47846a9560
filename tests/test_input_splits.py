"""Reading a large input file in splits (pipelines/input_splits.py, beam_io's reader) gives exactly what
reading it whole gives: the same records, ids, line numbers and rejections, for byte ranges of JSONL
(lines crossing range ends, blank lines, a too-large line) and runs of Parquet row groups."""

import gzip
import json

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from fullchain.pipelines.beam_io import ReadDocuments
from fullchain.pipelines.input_reading import ReadFile, fewer_read_units_than_cores, plan_splits
from fullchain.pipelines.input_files import InputFile
from fullchain.pipelines.input_splits import byte_ranges, first_lines, range_stats
from fullchain.pipelines.job_config import ReadConfig

CFG = ReadConfig(max_record_bytes=60)


def outputs(items):
    return [getattr(item, "value", item) for item in items]


def jsonl_file(tmp_path, name="big.jsonl"):
    lines = []
    for i in range(40):
        record = {"text": f"document {i} " + "word " * (i % 7)}
        if i % 3:
            record["id"] = f"d{i}"  # the others get ids from their line numbers
        lines.append(json.dumps(record))
        if i % 5 == 0:
            lines.append("   ")  # blank lines count as lines, not records
    lines[10] = json.dumps({"text": "x" * 200})  # too large for max_record_bytes
    lines[20] = "{not json"
    path = tmp_path / name
    path.write_bytes(("\n".join(lines) + "\n").encode())
    return InputFile(str(path), name, "jsonl"), path.stat().st_size


def read_in_splits(file, size, split_bytes):
    splits = byte_ranges(file, size, split_bytes)
    with open(file.path, "rb") as fh:
        stats = [(s.key, range_stats(fh, s.start, s.end)) for s in splits if not s.whole]
    starts = first_lines(stats)
    return len(splits), [out for s in splits for out in outputs(ReadFile(CFG).process(s, starts))]


@pytest.mark.parametrize("split_bytes", [1, 2, 5, 17, 64, 333])
def test_byte_ranges_read_what_the_whole_file_reads(tmp_path, split_bytes):
    file, size = jsonl_file(tmp_path)
    whole = outputs(ReadFile(CFG).process(file))
    assert {getattr(o, "reason", "doc") for o in whole} == {"doc", "too_large", "malformed_json"}
    n, split = read_in_splits(file, size, split_bytes)
    assert n > 1
    assert split == whole


def test_a_file_of_whitespace_is_empty_however_it_is_split(tmp_path):
    path = tmp_path / "blank.jsonl"
    path.write_bytes(b"  \n\n \t \n" * 20)
    file = InputFile(str(path), "blank.jsonl", "jsonl")
    whole = outputs(ReadFile(CFG).process(file))
    assert [r.reason for r in whole] == ["empty_file"]
    assert read_in_splits(file, path.stat().st_size, 7)[1] == whole


def test_gzip_and_small_files_are_read_whole(tmp_path):
    path = tmp_path / "c.jsonl.gz"
    path.write_bytes(gzip.compress(b'{"text": "a"}\n' * 100))
    gz = InputFile(str(path), "c.jsonl.gz", "jsonl")
    assert [s.whole for s in plan_splits(gz, 10)] == [True]
    file, size = jsonl_file(tmp_path)
    assert [s.whole for s in plan_splits(file, size)] == [True]
    assert len(plan_splits(file, 100)) == -(-size // 100)


def test_inputs_of_fewer_read_units_than_cores_are_the_ones_clean_spreads(tmp_path, monkeypatch):
    monkeypatch.setattr("os.cpu_count", lambda: 4)
    gz = []
    for i in range(4):
        path = tmp_path / f"c{i}.jsonl.gz"
        path.write_bytes(gzip.compress(b'{"text": "a"}\n' * 100))
        gz.append(InputFile(str(path), path.name, "jsonl"))
    file, size = jsonl_file(tmp_path)
    assert fewer_read_units_than_cores(gz[:3], 10)
    assert not fewer_read_units_than_cores(gz, 10)
    assert fewer_read_units_than_cores([file], size)
    assert not fewer_read_units_than_cores([file], size // 4)  # one big file read in four splits


def test_parquet_row_group_runs_read_what_the_whole_file_reads(tmp_path):
    path = tmp_path / "rows.parquet"
    table = pa.table({"id": [f"r{i}" if i % 2 else None for i in range(23)],
                      "text": [f"row {i} text" for i in range(23)]})
    pq.write_table(table, path, row_group_size=4)
    file = InputFile(str(path), "rows.parquet", "parquet")
    splits = plan_splits(file, 50)
    assert len(splits) > 2 and not any(s.whole for s in splits)
    whole = outputs(ReadFile(CFG).process(file))
    assert [o for s in splits for o in outputs(ReadFile(CFG).process(s, {}))] == whole


def test_read_documents_in_beam_splits_one_file_and_reads_it_all(tmp_path):
    file, size = jsonl_file(tmp_path)
    whole = outputs(ReadFile(CFG).process(file))
    expected_docs = [(d.id, d.text) for d in whole if not hasattr(d, "reason")]
    expected_rejected = [(r.doc.id, r.reason, r.detail) for r in whole if hasattr(r, "reason")]
    split_cfg = ReadConfig(max_record_bytes=60, split_mb=40 / 2**20)  # 40-byte splits
    assert split_cfg.split_bytes == 40 and len(plan_splits(file, split_cfg.split_bytes)) > 5
    with TestPipeline() as p:
        read = p | ReadDocuments([file], split_cfg)
        assert_that(read.documents | beam.Map(lambda d: (d.id, d.text)), equal_to(expected_docs), label="Docs")
        assert_that(read.rejected | beam.Map(lambda r: (r.doc.id, r.reason, r.detail)), equal_to(expected_rejected),
                    label="Rejected")
        # numbered reads of the same files (dedup reads its input again) give each document one
        # serial, the same in every read, and no two documents the same one
        first = p | "First" >> ReadDocuments([file], split_cfg, numbered=True)
        again = p | "Again" >> ReadDocuments([file], split_cfg, numbered=True)
        joined = (
            {"first": first.documents | "F" >> beam.MapTuple(lambda serial, d: (serial, d.id)),
             "again": again.documents | "A" >> beam.MapTuple(lambda serial, d: (serial, d.id))}
            | beam.CoGroupByKey()
            | beam.MapTuple(lambda serial, ids: (sorted(ids["first"]), sorted(ids["again"])))
            | beam.MapTuple(lambda first_ids, again_ids: first_ids[0] if first_ids == again_ids and
                            len(first_ids) == 1 else ("mismatch", first_ids, again_ids))
        )
        assert_that(joined, equal_to([doc_id for doc_id, _ in expected_docs]), label="Serials")


def test_split_mb_is_read_config_with_its_check():
    assert ReadConfig().split_bytes == 64 << 20
    assert ReadConfig(split_mb=0.5).split_bytes == 512 << 10
    for bad in (0, -1.0):
        with pytest.raises(ValueError, match="split_mb must be positive"):
            ReadConfig(split_mb=bad)
