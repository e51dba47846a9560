"""Resolve a stage's `--input` to the list of files it reads, before any work starts.

An input is a comma-separated list of globs or folders. A folder written by a previous
stage (it holds ledger.json) means its `data/*.parquet`, checked against its ledger, so stages
chain by folder. Paths go through Beam's FileSystems, so gs:// and s3:// work where Beam's extras
are installed; local paths are listed here instead, because Beam's local listing silently drops
symlink loops, broken links and unreadable folders and hands FIFOs to the reader (which then
waits forever).
"""

from __future__ import annotations

import errno
import logging
import os
import posixpath
import re
import stat
from dataclasses import dataclass

from apache_beam.io.filesystem import FileSystem
from apache_beam.io.filesystems import FileSystems

from fullchain.pipelines.config import ConfigError
from fullchain.pipelines.ledger import DATA_FOLDER
from fullchain.pipelines.stage_folder import LEDGER_FILE, read_stage_folder

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
GLOB_CHARS = "*?["
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


def input_parts(spec: str) -> list[str]:
    """The comma-separated globs or folders of an input spec; raises ConfigError when there are none."""
    parts = [part.strip() for part in spec.split(",") if part.strip()]
    if not parts:
        raise ConfigError("no input given: set --input or 'input' in the config file")
    return parts


def is_glob(part: str) -> bool:
    """Whether an input part is a glob (holds a wildcard) rather than a named folder or file."""
    return any(ch in part for ch in GLOB_CHARS)


def resolve_input(spec: str) -> ResolvedInput:
    """Match every glob or folder of `spec`; raise ConfigError naming the part that matches nothing,
    or the stage folder and file that do not match its ledger.

    Files of unknown type, and files that are not regular files (FIFOs, sockets, devices), inside
    a folder or glob are skipped with a warning naming them; a single named one is an error. A
    symlink loop, a broken symlink or an unreadable folder among the matches is an error.
    """
    files: dict[str, InputFile] = {}
    ledgers: list[dict] = []
    for part in input_parts(spec):
        for path, key in _part_files(part, ledgers):
            files[path] = InputFile(path=path, key=key, format=file_format(path))
    return ResolvedInput(files=tuple(files.values()), upstream_ledgers=tuple(ledgers))


def _part_files(part: str, ledgers: list[dict]) -> list[tuple[str, str]]:
    """(path, key) of every file one part of the spec names."""
    if not is_glob(part):
        stage_folder = _stage_folder(part)
        if stage_folder is not None:
            ledger, paths = read_stage_folder(stage_folder)
            ledgers.append(ledger)
            root = FileSystems.join(stage_folder, DATA_FOLDER) + "/"
            return [(path, path[len(root):]) for path in paths]
    pattern, root, many = _pattern_and_root(part)
    paths = _match_local(part, pattern) if "://" not in part else _match(part, pattern)
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
    return [(path, path[len(root):] if root and path.startswith(root) else posixpath.basename(path))
            for path in readable]


def _stage_folder(part: str) -> str | None:
    """The stage output folder `part` names (the folder, or its data/ folder), else None. A folder
    with data/ but no ledger.json is a stage output that never finished: an error."""
    folder = part.rstrip("/")
    if FileSystems.exists(FileSystems.join(folder, LEDGER_FILE)):
        return folder
    parent, name = folder.rsplit("/", 1) if "/" in folder else (".", folder)
    if name == DATA_FOLDER and FileSystems.exists(FileSystems.join(parent or "/", LEDGER_FILE)):
        return parent or "/"
    if _has_folder(FileSystems.join(folder, DATA_FOLDER)):
        raise ConfigError(f"{folder} has {DATA_FOLDER}/ but no {LEDGER_FILE}: an incomplete stage output; "
                          "re-run that stage")
    return None


def _pattern_and_root(part: str) -> tuple[str, str, bool]:
    """(glob to match, prefix that ids are taken relative to, whether the part names many files)."""
    if is_glob(part):
        fixed = part[: min(part.index(ch) for ch in GLOB_CHARS if ch in part)]
        return part, fixed[: fixed.rfind("/") + 1], True
    folder = part.rstrip("/")
    if _is_folder(part):
        return FileSystems.join(folder, "*"), folder + "/", True
    return part, part[: part.rfind("/") + 1], False


def _has_folder(path: str) -> bool:
    if "://" not in path:
        return os.path.isdir(path)
    return bool(FileSystems.match([path + "/*"], limits=[1])[0].metadata_list)


def _is_folder(part: str) -> bool:
    if "://" not in part:
        return os.path.isdir(part)
    return part.endswith("/")


def _match(part: str, pattern: str) -> list[str]:
    try:
        matched = FileSystems.match([pattern])[0].metadata_list
    except Exception as e:  # BeamIOError or a filesystem's own error; the message says which
        raise ConfigError(f"input '{part}': cannot list files: {e}") from None
    return sorted(m.path for m in matched)


def _match_local(part: str, pattern: str) -> list[str]:
    """The regular files a local glob (Beam's syntax: `*` within a folder, `**` across) or a named
    file matches. Non-regular files are left out with a warning; a named one is an error."""
    if not is_glob(pattern):
        kind = _local_kind(part, pattern)
        if kind is None:
            return []
        if kind != "file":
            raise ConfigError(f"input '{part}' is not a regular file but a {kind}; only regular files are read")
        return [pattern]
    prefix = pattern[: min(pattern.index(ch) for ch in GLOB_CHARS if ch in pattern)]
    top = os.path.dirname(prefix)
    regex = re.compile(FileSystem.translate_pattern(pattern))
    max_depth = None if "**" in pattern else pattern[len(top):].strip("/").count("/")
    paths = []
    for folder, dirs, names in os.walk(top or ".", onerror=lambda e: _walk_error(part, e)):
        depth = 0 if folder == (top or ".") else os.path.relpath(folder, top or ".").count(os.sep) + 1
        if max_depth is not None and depth >= max_depth:
            dirs[:] = []  # deeper folders cannot match: neither listed nor reported
        for name in names:
            path = os.path.join(folder, name) if top else os.path.relpath(os.path.join(folder, name))
            if not regex.match(path):
                continue
            kind = _local_kind(part, path)
            if kind == "file":
                paths.append(path)
            elif kind is not None:
                _LOG.warning("input '%s': skipping %s: not a regular file but a %s", part, path, kind)
    return sorted(paths)


def _walk_error(part: str, error: OSError) -> None:
    if isinstance(error, PermissionError):
        raise ConfigError(f"input '{part}': folder {error.filename} is not readable: permission denied")
    if error.errno == errno.ELOOP:
        raise ConfigError(f"input '{part}': {error.filename}: symlink loop")
    if not isinstance(error, (FileNotFoundError, NotADirectoryError)):  # then the glob matches no files
        raise ConfigError(f"input '{part}': cannot list {error.filename}: {error.strerror}")


def _local_kind(part: str, path: str) -> str | None:
    """'file', the kind of a non-regular file ('FIFO', 'socket', ...), or None when nothing is
    there; raises ConfigError for a symlink loop, a broken symlink or a path that cannot be read."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        if os.path.islink(path):
            raise ConfigError(f"input '{part}': {path} is a broken symlink (to {os.readlink(path)})") from None
        return None
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise ConfigError(f"input '{part}': {path}: symlink loop") from None
        raise ConfigError(f"input '{part}': {path}: {e.strerror}") from None
    if stat.S_ISREG(mode):
        if not os.access(path, os.R_OK):
            raise ConfigError(f"input '{part}': {path} is not readable: permission denied")
        return "file"
    return {stat.S_IFDIR: "folder", stat.S_IFIFO: "FIFO", stat.S_IFSOCK: "socket", stat.S_IFCHR: "character device",
            stat.S_IFBLK: "block device"}.get(stat.S_IFMT(mode), "special file")
