"""A stage output folder's data parts: described in its ledger when written, checked against it
when a later stage reads the folder.

A stage writes, per data part file, its path (relative to the folder), rows, bytes and sha256 into
ledger.json (`parts`). A stage that reads the folder first checks that data/ holds exactly those
files with those sizes and checksums, so a truncated, deleted, added or altered part stops the
run with one line instead of quietly losing documents while every ledger still balances.
"""

from __future__ import annotations

import hashlib
import json
from concurrent.futures import ThreadPoolExecutor

import pyarrow.parquet as pq
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from fullchain.pipelines.config import ConfigError
from fullchain.pipelines.ledger import DATA_FOLDER, LedgerError, validate_ledger

LEDGER_FILE = "ledger.json"
_CHUNK_BYTES = 1 << 20
# Hashing is I/O bound (object stores most of all): a few parts at a time.
_HASH_THREADS = 8
_RERUN = "re-run the stage that wrote it"


def file_digest(path: str) -> tuple[int, str]:
    """(size in bytes, sha256 hex digest) of the file at `path` (any Beam filesystem)."""
    digest, size = hashlib.sha256(), 0
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as fh:
        for chunk in iter(lambda: fh.read(_CHUNK_BYTES), b""):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


def describe_part(path: str) -> dict:
    """The ledger's `parts` entry of a data part file a stage has just written at `path`
    (OUT/data/NAME): {"path": "data/NAME", "rows", "bytes", "sha256"}."""
    size, digest = file_digest(path)
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as fh:
        rows = pq.ParquetFile(fh).metadata.num_rows
    return {"path": f"{DATA_FOLDER}/{path.rstrip('/').rsplit('/', 1)[-1]}", "rows": rows, "bytes": size,
            "sha256": digest}


def read_stage_folder(folder: str) -> tuple[dict, list[str]]:
    """The validated ledger of the stage output `folder` and the full paths of its data parts.

    Raises ConfigError with one line naming the folder (or its ledger.json) and the first problem:
    a ledger that is not valid JSON or lacks what a ledger must hold (`parts` included), a part
    missing from data/, a file in data/ the ledger does not list, or a part whose size or sha256
    differs from the ledger's.
    """
    ledger = read_folder_ledger(folder)
    listed = FileSystems.match([FileSystems.join(folder, DATA_FOLDER, "*")])[0].metadata_list
    root = folder.rstrip("/") + "/"
    found = {m.path[len(root):]: m.size_in_bytes for m in listed}
    parts = {part["path"]: part for part in ledger["parts"]}
    problem = parts_problem(parts, found)
    if problem:
        raise ConfigError(f"stage folder '{folder}': {problem}; {_RERUN}")
    paths = [FileSystems.join(folder, path) for path in sorted(parts)]
    with ThreadPoolExecutor(_HASH_THREADS) as pool:
        digests = list(pool.map(lambda p: _digest_or_error(folder, p), paths))
    for path, (_, digest) in zip(sorted(parts), digests):
        if digest != parts[path]["sha256"]:
            raise ConfigError(f"stage folder '{folder}': {path} does not match the sha256 in its "
                              f"{LEDGER_FILE} (the file changed after the stage wrote it); {_RERUN}")
    return ledger, paths


def read_folder_ledger(folder: str) -> dict:
    """The ledger.json of stage folder `folder`, validated (pipelines.ledger.validate_ledger);
    raises ConfigError naming the file when it cannot be read or is not a ledger."""
    path = FileSystems.join(folder, LEDGER_FILE)
    try:
        with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as fh:
            raw = fh.read()
    except Exception as e:  # OSError or a filesystem's own error; its message says which
        raise ConfigError(f"{path}: cannot read: {e}") from None
    try:
        return validate_ledger(json.loads(raw.decode("utf-8")))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ConfigError(f"{path}: not valid JSON ({e}); {_RERUN}") from None
    except LedgerError as e:
        raise ConfigError(f"{path}: not a valid ledger: {e}") from None


def parts_problem(parts: dict[str, dict], found: dict[str, int]) -> str | None:
    """What is wrong with data/ given the ledger's `parts` (by path) and the files `found` there
    (relative path -> size), or None when the same files are there with the recorded sizes."""
    missing = sorted(set(parts) - set(found))
    if missing:
        return f"{missing[0]} is listed in its {LEDGER_FILE} but missing"
    extra = sorted(set(found) - set(parts))
    if extra:
        return f"{extra[0]} is not one of the parts its {LEDGER_FILE} lists"
    for path in sorted(parts):
        if found[path] != parts[path]["bytes"]:
            return f"{path} has {found[path]} bytes, its {LEDGER_FILE} says {parts[path]['bytes']} (damaged)"
    return None


def _digest_or_error(folder: str, path: str) -> tuple[int, str]:
    try:
        return file_digest(path)
    except Exception as e:  # OSError or a filesystem's own error; its message says which
        raise ConfigError(f"stage folder '{folder}': cannot read {path}: {e}") from None
