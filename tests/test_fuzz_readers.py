"""Fuzzing tier of the readers: arbitrary bytes, JSON structures and rows never raise, and whatever
comes out is a Document every later stage can write, or a read rejection with a known reason."""

from __future__ import annotations

import gzip
import io
import json
import math
import zlib

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fullchain.pipelines.beam_io import KEPT_SCHEMA, REJECTED_SCHEMA
from fullchain.pipelines.input_reading import ReadFile
from fullchain.pipelines.document import Document, Rejected
from fullchain.pipelines.input_files import InputFile
from fullchain.pipelines.job_config import ReadConfig
from fullchain.pipelines.record_parsing import (READ_REJECTION_REASONS, documents_from_rows, parse_json_line,
                                      parse_text_file)

pytestmark = pytest.mark.fuzz

READ = ReadConfig()
JSONL = InputFile("/fuzz/in.jsonl", "in.jsonl", "jsonl")

# Strings with what breaks writers: lone surrogates, controls, NUL, astral characters.
texts = st.text(st.characters(codec=None, min_codepoint=0, max_codepoint=0x10FFFF), max_size=20)
keys = st.one_of(texts, st.sampled_from(["text", "id", "meta", "lang", "source"]))
scalars = st.one_of(
    st.none(), st.booleans(), texts,
    st.integers(), st.integers(4290, 4310).map(lambda digits: -(10**digits) + 1),
    st.floats(allow_nan=True, allow_infinity=True),
)
json_values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                            st.dictionaries(keys, inner, max_size=4)),
                           max_leaves=20)


records = st.one_of(
    st.dictionaries(keys, json_values, max_size=5),
    st.builds(lambda r, t: dict(r, text=t), st.dictionaries(keys, json_values, max_size=4), texts),
    json_values,
)
# Lines json.dumps cannot write but a file can hold: nesting to any depth, integers of any length.
pathological_lines = st.one_of(
    st.builds(lambda n, m: b'{"text": "t", "x": ' + b"[" * n + b"{}" + b"]" * n + b"}" if m else b"[" * n + b"]" * n,
              st.integers(0, 6000), st.booleans()),
    st.builds(lambda n, key: b'{"text": "t", "%s": -%s}' % (key.encode(), b"9" * n),
              st.integers(1, 6000), st.sampled_from(["id", "n"])),
)


def assert_writable(outputs: list) -> None:
    """Every output is a Document or a read rejection with a known reason, and writes to Parquet."""
    kept, rejected = [], []
    for out in outputs:
        if isinstance(out, Rejected):
            assert out.stage == "read" and out.reason in READ_REJECTION_REASONS, out
            assert len(out.detail.splitlines()) == 1, out.detail
            rejected.append(out.to_row())
        else:
            assert isinstance(out, Document), out
            assert isinstance(out.id, str) and out.id and isinstance(out.text, str)
            assert isinstance(out.meta, dict)
            kept.append(out.to_row())
            assert isinstance(json.loads(kept[-1]["meta"]), dict)
    # pyarrow encodes every string to UTF-8: a lone surrogate anywhere fails here.
    pa.Table.from_pylist(kept, schema=KEPT_SCHEMA)
    pa.Table.from_pylist(rejected, schema=REJECTED_SCHEMA)


def same_json(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_json(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_json(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


def _dumped(record) -> bytes:
    try:
        return json.dumps(record).encode("utf-8", "surrogatepass")
    except ValueError:
        return b"{}"  # an integer json.dumps refuses to write


@given(st.binary(max_size=300))
def test_parse_json_line_on_arbitrary_bytes(raw):
    assert_writable([parse_json_line(raw, JSONL, 1, READ)])


@given(records, st.booleans())
def test_parse_json_line_on_arbitrary_json(record, ascii_only):
    try:
        raw = json.dumps(record, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")
    except (ValueError, RecursionError):
        return  # json.dumps itself cannot write this structure
    out = parse_json_line(raw, JSONL, 3, READ)
    assert_writable([out])
    if isinstance(out, Document) and "encoding_repair" not in out.meta:
        # what is kept is what the line said: text and every other field
        assert out.text == record["text"]
        assert same_json(out.meta, {k: v for k, v in record.items() if k not in ("text", "id")})


@given(pathological_lines)
def test_parse_json_line_on_lines_past_the_parser_limits(raw):
    out = parse_json_line(raw, JSONL, 3, READ)
    assert_writable([out])


@given(st.binary(max_size=2000))
def test_parse_text_file_on_arbitrary_bytes(raw):
    out = parse_text_file(raw, InputFile("/fuzz/a.txt", "a.txt", "txt"), READ)
    assert_writable([out])


rows = st.dictionaries(keys, st.one_of(json_values, st.binary(max_size=5), st.dates(), st.tuples(scalars)),
                       max_size=6)
stage_rows = st.fixed_dictionaries({"id": texts, "text": texts, "lang": texts, "source": texts,
                                    "meta": st.one_of(texts, json_values.map(lambda v: _dumped(v).decode("utf-8", "surrogatepass")))})


@given(st.lists(st.one_of(rows, stage_rows), max_size=5), st.booleans())
def test_documents_from_rows_on_arbitrary_rows(batch, as_stage):
    columns = frozenset({"id", "text", "lang", "source", "meta"}) if as_stage else frozenset()
    out = list(documents_from_rows(batch, InputFile("/fuzz/p.parquet", "p.parquet", "parquet"), READ,
                                   columns=columns))
    assert len(out) == len(batch)
    assert_writable(out)


def read_file(tmp_path, name: str, data: bytes) -> list:
    path = tmp_path / name
    path.write_bytes(data)
    fmt = "parquet" if name.endswith(".parquet") else "txt" if ".txt" in name else "jsonl"
    outputs = list(ReadFile(READ).process(InputFile(str(path), name, fmt)))
    return [getattr(out, "value", out) for out in outputs]  # rejections come tagged


def non_blank_lines(data: bytes) -> int:
    return sum(1 for line in data.split(b"\n") if line.strip())


def assert_jsonl_accounted(out: list, lines: int) -> None:
    """One output per non-blank line, plus at most one unreadable_file (or empty_file when none)."""
    extra = [o for o in out if isinstance(o, Rejected) and o.reason in ("unreadable_file", "empty_file")]
    assert len(extra) <= 1
    assert len(out) - len(extra) <= lines
    if not extra:
        assert len(out) == lines
    elif extra[0].reason == "empty_file":
        assert lines == 0 and len(out) == 1


lines_bytes = st.lists(st.one_of(st.binary(max_size=60), records.map(_dumped), pathological_lines),
                       max_size=8).map(b"\n".join)


@given(lines_bytes)
def test_read_file_jsonl(tmp_path_factory, data):
    tmp = tmp_path_factory.mktemp("jsonl")
    out = read_file(tmp, "in.jsonl", data)
    assert_writable(out)
    assert_jsonl_accounted(out, non_blank_lines(data))


@given(lines_bytes, st.integers(0, 10_000), st.binary(max_size=4))
def test_read_file_jsonl_gz_whole_cut_or_damaged(tmp_path_factory, data, cut, damage):
    tmp = tmp_path_factory.mktemp("gz")
    packed = gzip.compress(data)
    cut = cut % (len(packed) + 1)
    broken = packed[:cut] + damage + packed[cut + len(damage):]
    out = read_file(tmp, "in.jsonl.gz", broken)
    assert_writable(out)
    try:
        whole = gzip.decompress(broken)
    except (OSError, EOFError, zlib.error):
        # a broken stream ends in one unreadable_file after the lines read before the break
        assert [o.reason for o in out if isinstance(o, Rejected) and o.reason == "unreadable_file"] == [
            "unreadable_file"]
        assert out[-1].reason == "unreadable_file"
    else:
        assert_jsonl_accounted(out, non_blank_lines(whole))


@given(st.binary(max_size=3000), st.booleans())
def test_read_file_txt(tmp_path_factory, data, compress):
    tmp = tmp_path_factory.mktemp("txt")
    name = "a.txt.gz" if compress else "a.txt"
    out = read_file(tmp, name, gzip.compress(data) if compress else data)
    assert_writable(out)
    assert len(out) == 1


def _parquet_bytes(table: pa.Table) -> bytes:
    buf = io.BytesIO()
    pq.write_table(table, buf, row_group_size=3)
    return buf.getvalue()


GOOD_PARQUET = _parquet_bytes(pa.table({
    "id": [f"d{i}" for i in range(10)], "text": ["some text"] * 10, "n": list(range(10)),
    "tags": [["a", "b"]] * 10, "s": [{"k": "v"}] * 10}))


@given(st.integers(0, len(GOOD_PARQUET)), st.binary(max_size=8), st.booleans())
def test_read_file_parquet_cut_or_damaged(tmp_path_factory, cut, damage, truncate):
    tmp = tmp_path_factory.mktemp("pq")
    data = GOOD_PARQUET[:cut] if truncate else GOOD_PARQUET[:cut] + damage + GOOD_PARQUET[cut + len(damage):]
    out = read_file(tmp, "p.parquet", data)
    assert_writable(out)
    failures = [o for o in out if isinstance(o, Rejected) and o.reason in ("unreadable_file", "empty_file")]
    assert len(failures) <= 1 and len(out) <= 10 + len(failures)


@given(st.binary(max_size=500))
def test_read_file_parquet_random_bytes(tmp_path_factory, data):
    tmp = tmp_path_factory.mktemp("pqr")
    out = read_file(tmp, "p.parquet", b"PAR1" + data + b"PAR1")
    assert_writable(out)


def test_overlong_line_is_read_in_bounded_pieces(tmp_path, monkeypatch):
    import fullchain.pipelines.input_reading as input_reading

    longest = []

    class Watched(io.BytesIO):
        def readline(self, size=-1):
            line = super().readline(size)
            longest.append(len(line))
            return line

    data = b'{"text": "ok"}\n' + b'{"text": "' + b"x" * 5000 + b'"}\n' + b'{"text": "after"}\n'
    monkeypatch.setattr(input_reading, "_open_input", lambda path: Watched(data))
    small = ReadConfig(max_record_bytes=100)
    out = [getattr(o, "value", o) for o in ReadFile(small).process(JSONL)]
    assert [getattr(o, "reason", "kept") for o in out] == ["kept", "too_large", "kept"]
    assert out[1].detail == f"{JSONL.path}:2: record of 5,012 bytes exceeds read.max_record_bytes=100"
    assert out[2].text == "after" and max(longest) <= 101
