"""Turn raw input records (JSON lines, text files, Parquet rows) into Documents or read rejections.

Pure functions: no Beam here. Every problem with a record becomes a `Rejected` with stage
"read", a reason from READ_REJECTION_REASONS and a detail naming file and line, so a bad
record never stops a job and is never silently dropped. A Document that leaves here can be
written by every later stage: its strings are valid Unicode and its metadata serialises as JSON.
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any, Iterable, Iterator

import pyarrow as pa

from fullchain.pipelines.clean.encoding import decode_bytes, first_lone_surrogate
from fullchain.pipelines.document import Document, Rejected, stable_id
from fullchain.pipelines.input_files import InputFile
from fullchain.pipelines.job_config import EncodingConfig, ReadConfig

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
# json.dumps, pickle (Beam's coders) and the JSON parser recurse once per level against the
# interpreter's limit of 1000 frames, shared with the stack of whatever stage handles the record:
# a record the parser accepted at 900 levels can still break a later stage. 100 leaves room.
MAX_NESTING_DEPTH = 100
# A lone surrogate reaches a JSON record only through a \uD800-\uDFFF escape: the decoded line
# itself never holds one. Only lines with such an escape need their strings checked.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
# What converting a Parquet value to Python raises: invalid UTF-8 in a string column
# (UnicodeDecodeError), dates and durations out of Python's range (OverflowError), an unknown
# time zone (a KeyError from pytz), and Arrow's own conversion errors.
_VALUE_CONVERSION_ERRORS = (ValueError, ArithmeticError, LookupError, pa.ArrowException)


def read_rejection(file: InputFile, position: int, reason: str, detail: str, text: str = "",
                   doc_id: str | None = None) -> Rejected:
    """A read-stage rejection for the record at `position` of `file` (line number, row or 0)."""
    where = f"{_printable(file.path)}:{position}" if position else _printable(file.path)
    doc = Document(id=doc_id or stable_id(file.key, position), text=text, source=_printable(file.path))
    # Arrow's messages span lines; a detail is one line whatever the error said.
    one_line = "; ".join(part.strip() for part in detail.splitlines() if part.strip())
    return Rejected(doc=doc, stage=READ_STAGE, reason=reason, detail=f"{where}: {one_line}")


def storage_problem(value: Any, field: str = "", check_strings: bool = True,
                    depth: int = 1) -> tuple[str, str] | None:
    """Why a parsed record (or its field named `field`) cannot be stored, as (reason, detail):
    `bad_encoding` for a string or key holding a lone surrogate, `malformed_json` for objects and
    arrays nested deeper than MAX_NESTING_DEPTH or an integer too long to write as JSON. None when
    every later stage can write it. `check_strings=False` skips the string checks (for records
    whose source cannot hold a lone surrogate)."""
    name = field or "record"
    if isinstance(value, str):
        at = first_lone_surrogate(value) if check_strings else None
        if at is not None:
            return "bad_encoding", (f"field '{name}' is not valid Unicode: lone surrogate "
                                    f"U+{ord(value[at]):04X} at character {at}")
        return None
    if isinstance(value, int):
        return _int_problem(value, name)
    if not isinstance(value, (dict, list)):
        return None
    if depth > MAX_NESTING_DEPTH:
        return "malformed_json", f"field '{name}' nests objects/arrays deeper than {MAX_NESTING_DEPTH} levels"
    if isinstance(value, dict):
        for key in value:
            if check_strings and first_lone_surrogate(key) is not None:
                return "bad_encoding", f"field name '{_printable(key)}' in '{name}' is not valid Unicode (lone surrogate)"
        items: Iterable[tuple[Any, Any]] = value.items()
    else:
        items = enumerate(value)
    for key, item in items:
        # Field names are built only for values that may hold a problem: this runs on every record.
        if isinstance(item, (float, bool, type(None))) or (isinstance(item, str) and not check_strings):
            continue
        if isinstance(value, list):
            sub = f"{name}[{key}]"
        else:
            sub = f"{field}.{_printable(key)}" if field else _printable(key)
        problem = storage_problem(item, sub, check_strings, depth + 1)
        if problem is not None:
            return problem
    return None


def document_from_record(record: Any, file: InputFile, position: int, cfg: ReadConfig) -> Document | Rejected:
    """A JSON object or Parquet row as a Document: `text` required, `id` optional, the rest is meta.

    `record` must already have passed `storage_problem`."""
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
    return Document(id=doc_id, text=text, source=_printable(file.path), meta=meta)


def decode_record(raw: bytes, encoding: EncodingConfig) -> tuple[str | None, str]:
    """Bytes to text within the read section's encoding limits; (None, why) when undecodable or binary.

    The note is empty for clean UTF-8 and names the repair otherwise.
    """
    text, note = decode_bytes(raw, max_bad_byte_fraction=encoding.max_bad_byte_fraction,
                              max_control_fraction=encoding.max_control_fraction)
    return text, "" if note == "utf-8" else note


def parse_json_line(raw: bytes, file: InputFile, lineno: int, cfg: ReadConfig) -> Document | Rejected:
    """One line of a JSONL file (1-based `lineno`) as a Document, or the reason it cannot be one.

    Never raises: whatever the JSON parser refuses (syntax, nesting past its recursion limit,
    integers over Python's digit limit) is `malformed_json`."""
    if len(raw) > cfg.max_record_bytes:
        return read_rejection(file, lineno, "too_large", f"record of {len(raw):,} bytes exceeds "
                                                         f"read.max_record_bytes={cfg.max_record_bytes:,}")
    text, note = decode_record(raw, cfg.encoding)
    if text is None:
        return read_rejection(file, lineno, "bad_encoding", note)
    try:
        record = json.loads(text)
    except json.JSONDecodeError as e:
        return read_rejection(file, lineno, "malformed_json", f"{e.msg} at column {e.colno}", text=text)
    except (ValueError, RecursionError, MemoryError) as e:
        # The parser's limits: too deep a nesting, an integer over sys.get_int_max_str_digits(),
        # or a structure too large for memory. The line is bad, not the job.
        return read_rejection(file, lineno, "malformed_json", f"{type(e).__name__}: {e}", text=text)
    problem = storage_problem(record, check_strings=_SURROGATE_ESCAPE.search(raw) is not None)
    if problem is not None:
        return read_rejection(file, lineno, *problem, text=text)
    doc = document_from_record(record, file, lineno, cfg)
    if note and isinstance(doc, Document):
        doc.meta["encoding_repair"] = note
    return doc


def parse_text_file(raw: bytes, file: InputFile, cfg: ReadConfig) -> Document | Rejected:
    """A whole .txt file as one Document (position 0)."""
    if len(raw) > cfg.max_record_bytes:
        return read_rejection(file, 0, "too_large", f"file of {len(raw):,} bytes exceeds "
                                                    f"read.max_record_bytes={cfg.max_record_bytes:,}")
    if not raw.strip():
        return read_rejection(file, 0, "empty_file", "file holds no text")
    text, note = decode_record(raw, cfg.encoding)
    if text is None:
        return read_rejection(file, 0, "bad_encoding", note)
    doc = Document(id=stable_id(file.key, 0), text=text, source=_printable(file.path))
    if note:
        doc.meta["encoding_repair"] = note
    return doc


def documents_from_rows(rows: Iterable[dict], file: InputFile, cfg: ReadConfig, start: int = 0,
                        columns: frozenset[str] = frozenset()) -> Iterator[Document | Rejected]:
    """Parquet rows (column name -> Python value) as Documents. A previous stage's output
    (id/text/lang/source/meta columns) keeps its ids, language and metadata; any other Parquet file
    is read like JSON objects. A value that could not be converted from Arrow (see
    `documents_from_batch`) rejects its row as `bad_encoding` naming the column."""
    from_stage = STAGE_COLUMNS <= columns
    for offset, row in enumerate(rows):
        position = start + offset + 1
        undecodable = next(((name, v) for name, v in row.items() if isinstance(v, _Undecodable)), None)
        if undecodable is not None:
            name, value = undecodable
            yield read_rejection(file, position, "bad_encoding",
                                 f"column '{_printable(name)}' cannot be decoded: {value.error}")
        else:
            yield _document_from_row(row, file, position, cfg, from_stage)


def documents_from_batch(batch: pa.RecordBatch, file: InputFile, cfg: ReadConfig, start: int = 0,
                         columns: frozenset[str] = frozenset()) -> Iterator[Document | Rejected]:
    """A Parquet record batch as Documents (`documents_from_rows` of its rows). A value Python
    cannot decode (invalid UTF-8 in a string column another tool wrote, a date out of range)
    rejects its row; the other rows of the batch are read."""
    names = batch.schema.names
    values = [_column_values(column) for column in batch.columns]
    rows = ({name: column[i] for name, column in zip(names, values)} for i in range(batch.num_rows))
    return documents_from_rows(rows, file, cfg, start, columns)


class _Undecodable:
    """A Parquet value whose conversion to Python failed, standing in for it in its row."""

    __slots__ = ("error",)

    def __init__(self, error: BaseException):
        self.error = f"{type(error).__name__}: {error}"


def _column_values(column: pa.Array) -> list:
    try:
        return column.to_pylist()
    except _VALUE_CONVERSION_ERRORS:
        # One bad value fails the whole column; convert value by value to find the rows it spoils.
        return [_scalar_value(column, i) for i in range(len(column))]


def _scalar_value(column: pa.Array, i: int) -> Any:
    try:
        return column[i].as_py()
    except _VALUE_CONVERSION_ERRORS as e:
        return _Undecodable(e)


def _document_from_row(row: dict, file: InputFile, position: int, cfg: ReadConfig,
                       from_stage: bool) -> Document | Rejected:
    if from_stage and _is_stage_row(row):
        return _stage_document(row, file, position)
    record = _jsonable(row)
    problem = storage_problem(record)
    if problem is not None:
        return read_rejection(file, position, *problem)
    return document_from_record(record, file, position, cfg)


def _is_stage_row(row: dict) -> bool:
    return (isinstance(row.get("id"), str) and bool(row["id"]) and isinstance(row.get("text"), str)
            and all(isinstance(row.get(k), (str, type(None))) for k in ("lang", "source"))
            and isinstance(row.get("meta"), (str, type(None))))


def _stage_document(row: dict, file: InputFile, position: int) -> Document | Rejected:
    for column in ("id", "text", "lang", "source"):
        problem = storage_problem(row.get(column), column)
        if problem is not None:
            return read_rejection(file, position, *problem)
    try:
        doc = Document.from_row(row)
    except (ValueError, RecursionError) as e:
        # A stage writes meta as a JSON object; another tool's file may hold anything there.
        return read_rejection(file, position, "malformed_json", f"column 'meta': {type(e).__name__}: "
                                                                f"{e}", doc_id=row["id"])
    problem = storage_problem(doc.meta, "meta")
    if problem is not None:
        return read_rejection(file, position, *problem, doc_id=doc.id)
    return doc


def _jsonable(value: Any, depth: int = 0) -> Any:
    # Parquet values such as timestamps or decimals, also inside lists and structs, must survive
    # json.dumps of the meta column. Past the nesting limit storage_problem rejects the record.
    if isinstance(value, (str, int, float, bool, type(None))) or depth > MAX_NESTING_DEPTH:
        return value
    if isinstance(value, dict):
        return {k if isinstance(k, str) else str(k): _jsonable(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v, depth + 1) for v in value]
    return str(value)


def _int_problem(value: int, name: str) -> tuple[str, str] | None:
    limit = sys.get_int_max_str_digits()
    # bit_length * log10(2) bounds the digit count; only integers near the limit are converted.
    if not limit or value.bit_length() * 0.30103 < limit - 1:
        return None
    try:
        int.__repr__(value)
    except ValueError as e:
        return "malformed_json", f"field '{name}': {e}"
    return None


def _printable(text: str) -> str:
    # Names and paths go into details and ids; a lone surrogate there would break the write.
    return text if first_lone_surrogate(text) is None else text.encode("utf-8", "backslashreplace").decode("utf-8")


def _preview(record: dict, limit: int = 2000) -> str:
    return json.dumps(record, ensure_ascii=False, default=str)[:limit]
