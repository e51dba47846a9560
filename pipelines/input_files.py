"""Resolve a stage's `--input` to the list of files it reads, before any work starts.

An input is a comma-separated list of globs or folders. A folder written by a previous
stage (it holds ledger.json) means its `data/*.parquet`, so stages chain by folder.
Paths go through Beam's FileSystems, so gs:// and s3:// work where Beam's extras are installed.
"""

from __future__ import annotations

import json
import logging
import os
import posixpath
from dataclasses import dataclass

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from pipelines.config_loader import ConfigError

FORMATS = {
    ".jsonl": "jsonl",
    ".jsonl.gz": "jsonl",
    ".ndjson": "jsonl",
    ".ndjson.gz": "jsonl",
    ".json.gz": "jsonl",
    ".parquet": "parquet",
    ".txt": "txt",
    ".txt.gz": "txt",
}
LEDGER_FILE = "ledger.json"
_LOG = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class InputFile:
    """One file to read: its full path, its path relative to the input root (what ids hash) and format."""

    path: str
    key: str
    format: str


@dataclass(frozen=True, slots=True)
class ResolvedInput:
    """Every file of an input spec, and the ledgers of the stage folders it came from."""

    files: tuple[InputFile, ...]
    upstream_ledgers: tuple[dict, ...]


def file_format(path: str) -> str | None:
    """The reader for a path by its extension, or None when no reader handles it."""
    lower = path.lower()
    for ext in sorted(FORMATS, key=len, reverse=True):
        if lower.endswith(ext):
            return FORMATS[ext]
    return None


def resolve_input(spec: str) -> ResolvedInput:
    """Match every glob or folder of `spec`; raise ConfigError naming the part that matches nothing.

    Files of unknown type inside a folder or glob are skipped with a warning; a single file
    of unknown type is an error.
    """
    files: dict[str, InputFile] = {}
    ledgers: list[dict] = []
    parts = [part.strip() for part in spec.split(",") if part.strip()]
    if not parts:
        raise ConfigError("no input given: set --input or 'input' in the config file")
    for part in parts:
        pattern, root, many = _pattern_and_root(part, ledgers)
        try:
            matched = FileSystems.match([pattern])[0].metadata_list
        except Exception as e:  # BeamIOError or a filesystem's own error; the message says which
            raise ConfigError(f"input '{part}': cannot list files: {e}") from None
        paths = sorted(m.path for m in matched)
        if not paths:
            raise ConfigError(f"input '{part}' matches no files")
        readable = [p for p in paths if file_format(p)]
        skipped = sorted(set(paths) - set(readable))
        if skipped and not many:
            raise ConfigError(f"input '{part}': unsupported file type (expected {', '.join(sorted(FORMATS))})")
        if skipped:
            _LOG.warning("input '%s': skipping %d file(s) of unknown type, e.g. %s", part, len(skipped), skipped[0])
        if not readable:
            raise ConfigError(f"input '{part}' holds no files of a supported type ({', '.join(sorted(FORMATS))})")
        for path in readable:
            key = path[len(root):] if root and path.startswith(root) else posixpath.basename(path)
            files[path] = InputFile(path=path, key=key, format=file_format(path))
    return ResolvedInput(files=tuple(files.values()), upstream_ledgers=tuple(ledgers))


def _pattern_and_root(part: str, ledgers: list[dict]) -> tuple[str, str, bool]:
    """(glob to match, prefix that ids are taken relative to, whether the part names many files)."""
    if any(ch in part for ch in "*?["):
        fixed = part[: min(part.index(ch) for ch in "*?[" if ch in part)]
        return part, fixed[: fixed.rfind("/") + 1], True
    folder = part.rstrip("/")
    ledger_path = FileSystems.join(folder, LEDGER_FILE)
    if FileSystems.exists(ledger_path):
        with FileSystems.open(ledger_path, compression_type=CompressionTypes.UNCOMPRESSED) as fh:
            ledgers.append(json.loads(fh.read().decode("utf-8")))
        return FileSystems.join(folder, "data", "*.parquet"), FileSystems.join(folder, "data") + "/", True
    if _is_folder(part):
        return FileSystems.join(folder, "*"), folder + "/", True
    return part, part[: part.rfind("/") + 1], False


def _is_folder(part: str) -> bool:
    if "://" not in part:
        return os.path.isdir(part)
    return part.endswith("/")
