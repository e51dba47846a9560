"""Splits of large input files, so that more than one worker reads a single big file.

An uncompressed JSONL file larger than the split size (read.split_mb) is cut into byte ranges; a range owns the
lines that start inside it (a line crossing the range's end is read whole by it, and skipped by
the next). A Parquet file with several row groups is cut into runs of row groups. Gzip streams
cannot be entered in the middle, so .gz files (and .txt files, one record each) are read whole.

Reading the splits gives exactly what reading the file whole gives, ids and line numbers
included: the line number of a range's first line comes from the newlines counted in the ranges
before it (`range_stats`, a fast first pass over the bytes), and the empty-file check from
whether any range holds more than whitespace. Pure functions on file objects: no Beam here.
"""

from __future__ import annotations

from dataclasses import dataclass

from fullchain.pipelines.input_files import InputFile

_WHITESPACE = b" \t\n\r\x0b\x0c"
_SCAN_BYTES = 1 << 20


@dataclass(frozen=True, slots=True)
class FileSplit:
    """One piece of an input file: the whole file (`whole`), bytes [start, end) of a JSONL file,
    or row groups [start, end) of a Parquet file whose first row is row `first_row`."""

    file: InputFile
    index: int = 0
    start: int = 0
    end: int = 0
    first_row: int = 0
    whole: bool = True

    @property
    def key(self) -> tuple[str, int]:
        """(path, index): what the line statistics of a JSONL range are looked up by."""
        return self.file.path, self.index


def is_byte_splittable(file: InputFile) -> bool:
    """Whether `file` can be read in byte ranges: JSONL that is not gzip-compressed."""
    return file.format == "jsonl" and not file.path.lower().endswith(".gz")


def byte_ranges(file: InputFile, size: int, split_bytes: int) -> list[FileSplit]:
    """The byte-range splits of a JSONL file of `size` bytes; one whole split when it is not larger
    than `split_bytes` (or not splittable)."""
    if not is_byte_splittable(file) or size <= split_bytes:
        return [FileSplit(file)]
    starts = range(0, size, split_bytes)
    return [FileSplit(file, index=i, start=start, end=min(start + split_bytes, size), whole=False)
            for i, start in enumerate(starts)]


def row_group_runs(file: InputFile, group_rows: list[int], group_bytes: list[int],
                   split_bytes: int) -> list[FileSplit]:
    """The splits of a Parquet file with row groups of `group_rows` rows and `group_bytes` bytes:
    consecutive row groups of together about `split_bytes`; one whole split for one run."""
    runs, start, size = [], 0, 0
    for i, nbytes in enumerate(group_bytes):
        size += nbytes
        if size >= split_bytes or i == len(group_bytes) - 1:
            runs.append((start, i + 1))
            start, size = i + 1, 0
    if len(runs) <= 1:
        return [FileSplit(file)]
    splits = []
    for index, (first, last) in enumerate(runs):
        splits.append(FileSplit(file, index=index, start=first, end=last, first_row=sum(group_rows[:first]),
                                whole=False))
    return splits


def range_stats(fh, start: int, end: int) -> tuple[int, bool]:
    """(newlines in bytes [start, end), whether any of them is not ASCII whitespace) of a binary file."""
    fh.seek(start)
    newlines, content, left = 0, False, end - start
    while left > 0:
        chunk = fh.read(min(_SCAN_BYTES, left))
        if not chunk:
            break
        left -= len(chunk)
        newlines += chunk.count(b"\n")
        content = content or bool(chunk.translate(None, _WHITESPACE))
    return newlines, content


def first_lines(stats: list[tuple[tuple[str, int], tuple[int, bool]]]) -> dict[tuple[str, int], tuple[int, bool]]:
    """From every range's ((path, index), (newlines, has content)): for each range, (newlines before
    it in its file, whether its file holds anything but whitespace)."""
    by_file: dict[str, list[tuple[int, int, bool]]] = {}
    for (path, index), (newlines, content) in stats:
        by_file.setdefault(path, []).append((index, newlines, content))
    out = {}
    for path, ranges in by_file.items():
        ranges.sort()
        has_content = any(content for _, _, content in ranges)
        before = 0
        for index, newlines, _ in ranges:
            out[(path, index)] = (before, has_content)
            before += newlines
    return out


def seek_first_line(fh, start: int, newlines_before: int, chunk: int) -> tuple[int, int]:
    """Position `fh` at the first line that starts at or after byte `start` (> 0); returns (that
    position, its 1-based line number). A line that begins before `start` belongs to the range
    before; it is skipped in chunks of at most `chunk` bytes."""
    fh.seek(start - 1)
    if fh.read(1) == b"\n":
        return start, newlines_before + 1
    position = start
    while part := fh.readline(chunk):
        position += len(part)
        if part.endswith(b"\n"):
            return position, newlines_before + 2
    return position, newlines_before + 1
