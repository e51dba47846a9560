"""Parsing raw records: every bad record becomes a read rejection naming file and line."""

import json

from fullchain.pipelines.document import Document, Rejected, stable_id
from fullchain.pipelines.input_files import InputFile
from fullchain.pipelines.job_config import ReadConfig
from fullchain.pipelines.record_parsing import documents_from_batch, documents_from_rows, parse_json_line, parse_text_file

FILE = InputFile(path="/data/corpus/part-1.jsonl", key="part-1.jsonl", format="jsonl")
READ = ReadConfig()


def parse(raw: bytes, lineno: int = 7):
    return parse_json_line(raw, FILE, lineno, READ)


def test_good_line_keeps_id_and_metadata():
    doc = parse(json.dumps({"id": 42, "text": "hello", "url": "u", "tags": ["a"]}).encode())
    assert doc == Document(id="42", text="hello", source=FILE.path, meta={"url": "u", "tags": ["a"]})


def test_missing_id_is_stable_hash_of_relative_path_and_line():
    doc = parse(b'{"text": "hello"}', lineno=3)
    moved = parse_json_line(b'{"text": "hello"}', InputFile("/elsewhere/part-1.jsonl", "part-1.jsonl", "jsonl"),
                            3, READ)
    assert doc.id == moved.id == stable_id("part-1.jsonl", 3)
    assert parse(b'{"text": "hello"}', lineno=4).id != doc.id


def test_bad_records_are_rejected_with_reason_and_location():
    cases = {
        b'{"text": "unterminated': "malformed_json",
        b'["text", "a list"]': "malformed_json",
        b'{"body": "no text field"}': "missing_text",
        b'{"text": 12}': "missing_text",
        b'\x00\x01\x02\xff\xfe binary \x00': "bad_encoding",
    }
    for raw, reason in cases.items():
        out = parse(raw)
        assert isinstance(out, Rejected), raw
        assert (out.stage, out.reason) == ("read", reason), raw
        assert out.detail.startswith(f"{FILE.path}:7: "), out.detail


def test_cp1252_line_is_repaired_not_rejected():
    doc = parse(b"{\"text\": \"caf\xe9 cr\xe8me \x93quoted\x94\"}")
    assert isinstance(doc, Document)
    assert doc.text == "café crème “quoted”"
    assert doc.meta["encoding_repair"] == "cp1252"


def test_oversized_record_rejected_before_decoding():
    small = ReadConfig(max_record_bytes=10)
    out = parse_json_line(b'{"text": "more than ten bytes"}', FILE, 1, small)
    assert isinstance(out, Rejected) and out.reason == "too_large"


def test_text_file_and_empty_text_file():
    txt = InputFile("/d/a.txt", "a.txt", "txt")
    assert parse_text_file(b"Some text.\n", txt, READ).id == stable_id("a.txt", 0)
    assert parse_text_file(b"  \n", txt, READ).reason == "empty_file"


def test_parquet_rows_from_a_stage_keep_their_fields():
    pq_file = InputFile("/out/data/part.parquet", "part.parquet", "parquet")
    stage_row = {"id": "x1", "text": "t", "lang": "en", "source": "s", "meta": '{"k": 1}'}
    user_row = {"text": "u", "year": 2024}
    from_stage = list(documents_from_rows([stage_row], pq_file, READ, columns=frozenset(stage_row)))
    assert from_stage == [Document(id="x1", text="t", source="s", lang="en", meta={"k": 1})]
    (user,) = documents_from_rows([user_row], pq_file, READ, start=10, columns=frozenset(user_row))
    assert user.id == stable_id("part.parquet", 11) and user.meta == {"year": 2024}


def test_whatever_the_json_parser_refuses_is_malformed_json():
    cases = {
        "deep nesting": b'{"text": "t", "x": ' + b"[" * 5000 + b"]" * 5000 + b"}",
        "deep top level": b"[" * 5000 + b"]" * 5000,
        "5000-digit integer": b'{"text": "t", "n": ' + b"7" * 5000 + b"}",
        "5000-digit id": b'{"id": ' + b"7" * 5000 + b', "text": "t"}',
    }
    for name, raw in cases.items():
        out = parse(raw)
        assert isinstance(out, Rejected) and out.reason == "malformed_json", name
        assert out.detail.startswith(f"{FILE.path}:7: "), out.detail
        assert len(out.detail.splitlines()) == 1


def test_nesting_the_parser_accepts_but_later_stages_cannot_is_malformed_json():
    # 900 levels load at a shallow stack but break json.dumps or pickle deeper in a Beam worker.
    raw = b'{"text": "t", "x": ' + b"[" * 900 + b"]" * 900 + b"}"
    out = parse(raw)
    assert isinstance(out, Rejected) and out.reason == "malformed_json"
    assert "field 'x" in out.detail and "deeper than 100 levels" in out.detail
    assert isinstance(parse(b'{"text": "t", "x": ' + b"[" * 98 + b"]" * 98 + b"}"), Document)


def test_lone_surrogate_anywhere_is_bad_encoding_naming_the_field():
    cases = {
        b'{"text": "a \\ud800 b"}': "field 'text'",
        b'{"text": "t", "id": "x\\uDFFF"}': "field 'id'",
        b'{"text": "t", "url": "\\udc80"}': "field 'url'",
        b'{"text": "t", "tags": ["ok", {"k": "\\uDbFf"}]}': "field 'tags[1].k'",
        b'{"text": "t", "m": {"\\ud800key": 1}}': "field name '\\ud800key' in 'm'",
    }
    for raw, field in cases.items():
        out = parse(raw)
        assert isinstance(out, Rejected) and out.reason == "bad_encoding", raw
        assert field in out.detail and "lone surrogate" in out.detail, out.detail
        out.doc.to_row()["meta"].encode("utf-8")
        (out.detail + out.doc.text + out.doc.id).encode("utf-8")


def test_surrogate_pairs_and_escaped_backslashes_are_kept():
    doc = parse(b'{"text": "smile \\ud83d\\ude00", "note": "\\\\ud800 is text"}')
    assert isinstance(doc, Document) and doc.text == "smile \U0001F600"
    assert doc.meta == {"note": "\\ud800 is text"}


def test_every_kept_json_line_serialises_like_to_row():
    doc = parse(b'{"text": "t", "n": ' + b"9" * 4300 + b', "f": [NaN, Infinity, -1e999]}')
    assert isinstance(doc, Document)
    assert json.loads(doc.to_row()["meta"])["n"] == int("9" * 4300)


def test_stage_rows_with_bad_meta_or_invalid_unicode_are_rejected():
    pq_file = InputFile("/out/data/part.parquet", "part.parquet", "parquet")
    base = {"id": "x1", "text": "t", "lang": "en", "source": "s", "meta": "{}"}
    cases = {
        "not json": (dict(base, meta="{oops"), "malformed_json", "column 'meta'"),
        "a list": (dict(base, meta="[1, 2]"), "malformed_json", "column 'meta'"),
        "deep": (dict(base, meta="[" * 5000 + "]" * 5000), "malformed_json", "column 'meta'"),
        "huge int": (dict(base, meta='{"n": ' + "1" * 5000 + "}"), "malformed_json", "column 'meta'"),
        "surrogate in meta": (dict(base, meta='{"k": "\\ud800"}'), "bad_encoding", "field 'meta.k'"),
        "surrogate in text": (dict(base, text="a\udc00"), "bad_encoding", "field 'text'"),
    }
    for name, (row, reason, field) in cases.items():
        (out,) = documents_from_rows([row], pq_file, READ, start=4, columns=frozenset(base))
        assert isinstance(out, Rejected) and out.reason == reason, (name, out)
        assert out.detail.startswith("/out/data/part.parquet:5: ") and field in out.detail, out.detail


def test_user_rows_with_nested_non_json_values_keep_a_serialisable_meta():
    import datetime
    import decimal

    pq_file = InputFile("/d/u.parquet", "u.parquet", "parquet")
    row = {"text": "t", "when": [datetime.date(2024, 1, 2)], "s": {"d": decimal.Decimal("1.5"), "b": b"\xff"},
           "m": [("k", 1)]}
    (doc,) = documents_from_rows([row], pq_file, READ, columns=frozenset(row))
    assert json.loads(doc.to_row()["meta"]) == {"when": ["2024-01-02"], "s": {"d": "1.5", "b": "b'\\xff'"},
                                                "m": [["k", 1]]}


def test_parquet_batch_with_invalid_utf8_rejects_only_its_rows():
    import pyarrow as pa

    raw = pa.array([b"good one", b"bad \xff\xfe", b"good two"], pa.binary())
    text = pa.Array.from_buffers(pa.string(), len(raw), raw.buffers())  # what a careless writer leaves
    batch = pa.RecordBatch.from_arrays([text, pa.array(["a", "b", "c"])], names=["text", "id"])
    pq_file = InputFile("/d/u.parquet", "u.parquet", "parquet")
    out = list(documents_from_batch(batch, pq_file, READ, start=1024, columns=frozenset(["text", "id"])))
    assert [type(o) for o in out] == [Document, Rejected, Document]
    assert [o.text for o in (out[0], out[2])] == ["good one", "good two"]
    assert out[1].reason == "bad_encoding"
    assert out[1].detail.startswith("/d/u.parquet:1026: column 'text' cannot be decoded: UnicodeDecodeError")


def test_undecodable_file_name_still_gives_writable_ids_and_details():
    name = b"caf\xe9.jsonl".decode("utf-8", "surrogateescape")  # how os.listdir returns it
    odd = InputFile(f"/d/{name}", name, "jsonl")
    for out in (parse_json_line(b'{"text": "t"}', odd, 1, READ), parse_json_line(b"{", odd, 2, READ)):
        for value in out.to_row().values():
            assert value is None or isinstance(value.encode("utf-8"), bytes)
        assert "caf\\udce9" in out.to_row()["source"]
