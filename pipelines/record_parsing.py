"""Turn raw input records (JSON lines, text files, Parquet rows) into Documents or read rejections.

Pure functions: no Beam here. Every problem with a record becomes a `Rejected` with stage
"read", a reason from READ_REJECTION_REASONS and a detail naming file and line, so a bad
record never stops a job and is never silently dropped.
"""

from __future__ import annotations

import json
from typing import Any, Iterable, Iterator

from pipelines.clean.config import EncodingConfig
from pipelines.clean.encoding import decode_bytes
from pipelines.document import Document, Rejected, stable_id
from pipelines.input_files import InputFile
from pipelines.job_config import ReadConfig

READ_STAGE = "read"
READ_REJECTION_REASONS = (
    "bad_encoding",
    "malformed_json",
    "missing_text",
    "too_large",
    "empty_file",
    "unreadable_file",
)
STAGE_COLUMNS = frozenset({"id", "text", "lang", "source", "meta"})


def read_rejection(file: InputFile, position: int, reason: str, detail: str, text: str = "",
                   doc_id: str | None = None) -> Rejected:
    """A read-stage rejection for the record at `position` of `file` (line number, row or 0)."""
    where = f"{file.path}:{position}" if position else file.path
    doc = Document(id=doc_id or stable_id(file.key, position), text=text, source=file.path)
    return Rejected(doc=doc, stage=READ_STAGE, reason=reason, detail=f"{where}: {detail}")


def document_from_record(record: Any, file: InputFile, position: int, cfg: ReadConfig) -> Document | Rejected:
    """A JSON object or Parquet row as a Document: `text` required, `id` optional, the rest is meta."""
    if not isinstance(record, dict):
        return read_rejection(file, position, "malformed_json", f"expected a JSON object, got {type(record).__name__}")
    given_id = record.get(cfg.id_field)
    doc_id = str(given_id) if isinstance(given_id, (str, int)) and str(given_id) else stable_id(file.key, position)
    text = record.get(cfg.text_field)
    if not isinstance(text, str):
        problem = "is missing" if text is None else f"is {type(text).__name__}, not a string"
        return read_rejection(file, position, "missing_text", f"field '{cfg.text_field}' {problem}",
                              text=_preview(record), doc_id=doc_id)
    meta = {k: v for k, v in record.items() if k not in (cfg.text_field, cfg.id_field)}
    return Document(id=doc_id, text=text, source=file.path, meta=meta)


def decode_record(raw: bytes, encoding: EncodingConfig) -> tuple[str | None, str]:
    """Bytes to text with the clean stage's encoding limits; (None, why) when undecodable or binary.

    The note is empty for clean UTF-8 and names the repair otherwise.
    """
    text, note = decode_bytes(raw, max_bad_byte_fraction=encoding.max_bad_byte_fraction,
                              max_control_fraction=encoding.max_control_fraction)
    return text, "" if note == "utf-8" else note


def parse_json_line(raw: bytes, file: InputFile, lineno: int, cfg: ReadConfig,
                    encoding: EncodingConfig) -> Document | Rejected:
    """One line of a JSONL file (1-based `lineno`) as a Document, or the reason it cannot be one."""
    if len(raw) > cfg.max_record_bytes:
        return read_rejection(file, lineno, "too_large", f"record of {len(raw):,} bytes exceeds "
                                                         f"read.max_record_bytes={cfg.max_record_bytes:,}")
    text, note = decode_record(raw, encoding)
    if text is None:
        return read_rejection(file, lineno, "bad_encoding", note)
    try:
        record = json.loads(text)
    except json.JSONDecodeError as e:
        return read_rejection(file, lineno, "malformed_json", f"{e.msg} at column {e.colno}", text=text)
    doc = document_from_record(record, file, lineno, cfg)
    if note and isinstance(doc, Document):
        doc.meta["encoding_repair"] = note
    return doc


def parse_text_file(raw: bytes, file: InputFile, cfg: ReadConfig, encoding: EncodingConfig) -> Document | Rejected:
    """A whole .txt file as one Document (position 0)."""
    if len(raw) > cfg.max_record_bytes:
        return read_rejection(file, 0, "too_large", f"file of {len(raw):,} bytes exceeds "
                                                    f"read.max_record_bytes={cfg.max_record_bytes:,}")
    if not raw.strip():
        return read_rejection(file, 0, "empty_file", "file holds no text")
    text, note = decode_record(raw, encoding)
    if text is None:
        return read_rejection(file, 0, "bad_encoding", note)
    doc = Document(id=stable_id(file.key, 0), text=text, source=file.path)
    if note:
        doc.meta["encoding_repair"] = note
    return doc


def documents_from_rows(rows: Iterable[dict], file: InputFile, cfg: ReadConfig, start: int = 0,
                        columns: frozenset[str] = frozenset()) -> Iterator[Document | Rejected]:
    """Parquet rows as Documents. A previous stage's output (id/text/lang/source/meta columns) keeps
    its ids, language and metadata; any other Parquet file is read like JSON objects."""
    from_stage = STAGE_COLUMNS <= columns
    for offset, row in enumerate(rows):
        position = start + offset + 1
        if from_stage and isinstance(row.get("text"), str) and row.get("id"):
            yield Document.from_row(row)
        else:
            yield document_from_record(_jsonable(row), file, position, cfg)


def _jsonable(row: dict) -> dict:
    # Parquet values such as timestamps or decimals must survive json.dumps of the meta column.
    return {k: v if isinstance(v, (str, int, float, bool, type(None), list, dict)) else str(v)
            for k, v in row.items()}


def _preview(record: dict, limit: int = 2000) -> str:
    return json.dumps(record, ensure_ascii=False, default=str)[:limit]
