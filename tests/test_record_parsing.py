"""Parsing raw records: every bad record becomes a read rejection naming file and line."""

import json

from pipelines.clean.config import EncodingConfig
from pipelines.document import Document, Rejected, stable_id
from pipelines.input_files import InputFile
from pipelines.job_config import ReadConfig
from pipelines.record_parsing import documents_from_rows, parse_json_line, parse_text_file

FILE = InputFile(path="/data/corpus/part-1.jsonl", key="part-1.jsonl", format="jsonl")
READ = ReadConfig()
ENC = EncodingConfig()


def parse(raw: bytes, lineno: int = 7):
    return parse_json_line(raw, FILE, lineno, READ, ENC)


def test_good_line_keeps_id_and_metadata():
    doc = parse(json.dumps({"id": 42, "text": "hello", "url": "u", "tags": ["a"]}).encode())
    assert doc == Document(id="42", text="hello", source=FILE.path, meta={"url": "u", "tags": ["a"]})


def test_missing_id_is_stable_hash_of_relative_path_and_line():
    doc = parse(b'{"text": "hello"}', lineno=3)
    moved = parse_json_line(b'{"text": "hello"}', InputFile("/elsewhere/part-1.jsonl", "part-1.jsonl", "jsonl"),
                            3, READ, ENC)
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
    out = parse_json_line(b'{"text": "more than ten bytes"}', FILE, 1, small, ENC)
    assert isinstance(out, Rejected) and out.reason == "too_large"


def test_text_file_and_empty_text_file():
    txt = InputFile("/d/a.txt", "a.txt", "txt")
    assert parse_text_file(b"Some text.\n", txt, READ, ENC).id == stable_id("a.txt", 0)
    assert parse_text_file(b"  \n", txt, READ, ENC).reason == "empty_file"


def test_parquet_rows_from_a_stage_keep_their_fields():
    pq_file = InputFile("/out/data/part.parquet", "part.parquet", "parquet")
    stage_row = {"id": "x1", "text": "t", "lang": "en", "source": "s", "meta": '{"k": 1}'}
    user_row = {"text": "u", "year": 2024}
    from_stage = list(documents_from_rows([stage_row], pq_file, READ, columns=frozenset(stage_row)))
    assert from_stage == [Document(id="x1", text="t", source="s", lang="en", meta={"k": 1})]
    (user,) = documents_from_rows([user_row], pq_file, READ, start=10, columns=frozenset(user_row))
    assert user.id == stable_id("part.parquet", 11) and user.meta == {"year": 2024}
