"""Reading one input file, or one split of a large one (input_splits.py), into Documents and
tagged Rejected records: JSONL (plain or gzip), text files and Parquet, each record checked by
record_parsing.py. beam_io.ReadDocuments runs ReadFile over every split of the input."""

from __future__ import annotations

import gzip
import itertools
import os
import zlib

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from fullchain.pipelines.document import Document, Rejected
from fullchain.pipelines.input_files import InputFile
from fullchain.pipelines.input_splits import FileSplit, byte_ranges, range_stats, row_group_runs, seek_first_line
from fullchain.pipelines.job_config import ReadConfig
from fullchain.pipelines.record_parsing import documents_from_batch, parse_json_line, parse_text_file, read_rejection

REJECTED = "rejected"  # the output tag of the records a reader cannot use
PARQUET_BATCH_ROWS = 1024


def record_serial(file_number: int, split_index: int, ordinal: int) -> int:
    """The serial of the `ordinal`-th document (from 0) of split `split_index` of the input's
    `file_number`-th file: unique within a job (for splits < 2**20 and documents per split < 2**40)
    and the same on every read of the same files, so a stage can read its input again and find its
    records by serial."""
    return (((file_number << 20) | split_index) << 40) | ordinal


class ReadFile(beam.DoFn):
    """Reads one split of an input file (input_splits.py; usually the whole file); yields Documents,
    and Rejected (tagged) for records it cannot use. `line_starts` has, for each byte range of a
    JSONL file, the newlines before it and whether its file holds more than whitespace.

    With `file_numbers` (each input path's place in the input), each Document is yielded as
    (`record_serial`, Document)."""

    def __init__(self, cfg: ReadConfig, file_numbers: dict[str, int] | None = None):
        self._cfg = cfg
        self._file_numbers = file_numbers

    def process(self, split: FileSplit | InputFile, line_starts=None):
        if isinstance(split, InputFile):
            split = FileSplit(split)
        file = split.file
        if split.whole:
            items = {"jsonl": self._jsonl, "txt": self._txt, "parquet": self._parquet}[file.format](file)
        elif file.format == "jsonl":
            items = self._jsonl_range(split, line_starts[split.key][0])
        else:
            items = self._parquet(file, split)
        count = 0
        serials = None
        if self._file_numbers is not None:
            serials = itertools.count(record_serial(self._file_numbers[file.path], split.index, 0))
        try:
            for item in items:
                count += 1
                if serials is not None and not isinstance(item, Rejected):
                    item = next(serials), item
                yield _tag(item)
        except (OSError, EOFError, zlib.error, pa.ArrowException, UnicodeError, MemoryError) as e:
            # A file that breaks part-way (truncated gzip, corrupt Parquet) keeps what was read before.
            # What arbitrary bytes raise here: OSError (BadGzipFile, Arrow's IOError), EOFError and
            # zlib.error (cut or damaged gzip), ArrowException (corrupt Parquet, ArrowMemoryError for
            # absurd sizes in its footer), UnicodeError (undecodable names in a corrupt schema) and
            # MemoryError; the parsers themselves never raise.
            yield _tag(read_rejection(file, count + 1, "unreadable_file", f"{type(e).__name__}: {e}"))
            return
        # a file read in ranges is empty when none of them holds more than whitespace
        empty = count == 0 if split.whole else (split.index == 0 and file.format == "jsonl"
                                                and not line_starts[split.key][1])
        if empty:
            yield _tag(read_rejection(file, 0, "empty_file", "file holds no records"))

    def _jsonl(self, file: InputFile):
        with _open_input(file.path) as fh:
            yield from self._jsonl_lines(fh, file, lineno=0)

    def _jsonl_range(self, split: FileSplit, newlines_before: int):
        with FileSystems.open(split.file.path, compression_type=CompressionTypes.UNCOMPRESSED) as fh:
            if split.start == 0:
                lineno = 0
            else:
                _, first = seek_first_line(fh, split.start, newlines_before, self._cfg.max_record_bytes + 1)
                lineno = first - 1
            yield from self._jsonl_lines(fh, split.file, lineno, end=split.end)

    def _jsonl_lines(self, fh, file: InputFile, lineno: int, end: int | None = None):
        """The records of the lines of `fh` after line `lineno`; with `end`, those starting before byte `end`."""
        limit = self._cfg.max_record_bytes
        # Lines are read at most one byte over the limit: a file without newlines must not
        # be pulled into memory whole before it is found too large.
        while (end is None or fh.tell() < end) and (line := fh.readline(limit + 1)):
            lineno += 1
            if len(line) > limit and not line.endswith(b"\n"):
                size = len(line) + _skip_line(fh, limit)
                yield read_rejection(file, lineno, "too_large", f"record of {size:,} bytes exceeds "
                                                                f"read.max_record_bytes={limit:,}")
            elif line.strip():
                yield parse_json_line(line.rstrip(b"\r\n"), file, lineno, self._cfg)

    def _txt(self, file: InputFile):
        with _open_input(file.path) as fh:
            raw = fh.read(self._cfg.max_record_bytes + 1)
        if raw:
            yield parse_text_file(raw, file, self._cfg)

    def _parquet(self, file: InputFile, split: FileSplit | None = None):
        groups = None if split is None else list(range(split.start, split.end))
        with FileSystems.open(file.path, compression_type=CompressionTypes.UNCOMPRESSED) as fh:
            parquet = pq.ParquetFile(fh)
            columns = frozenset(parquet.schema_arrow.names)
            start = 0 if split is None else split.first_row
            for batch in parquet.iter_batches(batch_size=PARQUET_BATCH_ROWS, row_groups=groups):
                yield from documents_from_batch(batch, file, self._cfg, start=start, columns=columns)
                start += batch.num_rows


def plan_splits(file: InputFile, split_bytes: int) -> list[FileSplit]:
    """The splits one input file is read in: byte ranges of a large uncompressed JSONL file, runs of
    row groups of a large Parquet file, else the whole file (input_splits.py)."""
    listed = FileSystems.match([file.path])[0].metadata_list
    size = listed[0].size_in_bytes if listed else 0
    if size <= split_bytes:
        return [FileSplit(file)]
    if file.format == "jsonl":
        return byte_ranges(file, size, split_bytes)
    if file.format != "parquet":
        return [FileSplit(file)]
    try:
        with FileSystems.open(file.path, compression_type=CompressionTypes.UNCOMPRESSED) as fh:
            meta = pq.ParquetFile(fh).metadata
            groups = [meta.row_group(i) for i in range(meta.num_row_groups)]
    except (OSError, pa.ArrowException):
        return [FileSplit(file)]  # the reader reports what is wrong with it, as unreadable_file
    if meta.num_rows == 0:
        return [FileSplit(file)]
    return row_group_runs(file, [g.num_rows for g in groups], [g.total_byte_size for g in groups], split_bytes)


def fewer_read_units_than_cores(files: list[InputFile], split_bytes: int) -> bool:
    """Whether `files` are read in fewer pieces (files and their splits, as plan_splits cuts them)
    than this machine has cores: then the reader alone cannot keep every core busy."""
    cores, units = os.cpu_count() or 1, 0
    for file in files:
        units += len(plan_splits(file, split_bytes))
        if units >= cores:
            return False
    return True


def split_line_stats(split: FileSplit):
    """(split key, (newlines in its byte range, whether it holds more than whitespace)) for a JSONL
    byte range; nothing for a whole file or a Parquet split."""
    if split.whole or split.file.format != "jsonl":
        return
    with FileSystems.open(split.file.path, compression_type=CompressionTypes.UNCOMPRESSED) as fh:
        yield split.key, range_stats(fh, split.start, split.end)


def _skip_line(fh, chunk: int) -> int:
    """Reads `fh` past the end of the current line in chunks of at most `chunk` bytes; the bytes skipped."""
    skipped = 0
    while part := fh.readline(chunk):
        skipped += len(part)
        if part.endswith(b"\n"):
            return skipped - 1
    return skipped


def _open_input(path: str):
    """A binary reader of `path`, decompressing .gz with Python's gzip: unlike Beam's own
    decompressor it raises on a truncated stream instead of ending quietly, so a cut-off file is
    reported as unreadable_file rather than read as if complete."""
    raw = FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)
    if path.lower().endswith(".gz"):
        return gzip.GzipFile(fileobj=raw, mode="rb")
    return raw


def _tag(item: Document | Rejected):
    return beam.pvalue.TaggedOutput(REJECTED, item) if isinstance(item, Rejected) else item
