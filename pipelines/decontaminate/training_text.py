"""The documents' text of the training data, in each form the chain writes it: a shard output
(the KEY.txt member of every sample of the listed split, shards verified against the manifest), a
stage folder (its data/*.parquet parts, checked against its ledger), or plain JSONL / Parquet files."""

from __future__ import annotations

import json
import os
import tarfile
from typing import Iterator

import pyarrow.parquet as pq

from fullchain.pipelines.shard.format import HEADER_MEMBER, MANIFEST_FILE, TEXT_MEMBER, manifest_path, shard_path
from fullchain.pipelines.shard.manifest import load_manifest, verify_shard
from fullchain.pipelines.stage_folder import read_stage_folder


class TrainingTextError(ValueError):
    """Training text that cannot be read; one line naming the path."""


def source_kind(path: str) -> str:
    """'shards', 'stage', 'jsonl' or 'parquet'; TrainingTextError for anything else."""
    if os.path.isdir(path):
        if os.path.isfile(os.path.join(path, MANIFEST_FILE)):
            return "shards"
        if os.path.isfile(os.path.join(path, "ledger.json")):
            return "stage"
        raise TrainingTextError(f"{path}: neither a shard output ({MANIFEST_FILE}) nor a stage folder (ledger.json)")
    if path.endswith((".jsonl", ".jsonl.gz", ".json")):
        return "jsonl"
    if path.endswith(".parquet"):
        return "parquet"
    if not os.path.exists(path):
        raise TrainingTextError(f"{path}: no such file or folder")
    raise TrainingTextError(f"{path}: not a shard output, a stage folder, a .jsonl or a .parquet file")


def documents(path: str, text_field: str = "text", splits: tuple[str, ...] = ("train",)) -> Iterator[tuple[str, dict]]:
    """(text, record) of every document of `path` (a shard output's `splits`; a record is the
    document's other fields, its header for shards)."""
    kind = source_kind(path)
    if kind == "shards":
        yield from _shard_documents(path, splits)
    elif kind == "stage":
        _, parts = read_stage_folder(path)
        for part in parts:
            yield from _parquet_documents(part, text_field)
    elif kind == "parquet":
        yield from _parquet_documents(path, text_field)
    else:
        yield from _jsonl_documents(path, text_field)


def _shard_documents(path: str, splits: tuple[str, ...]) -> Iterator[tuple[str, dict]]:
    try:
        manifest = load_manifest(manifest_path(path))
    except ValueError as e:
        raise TrainingTextError(str(e)) from None
    for entry in manifest["shards"]:
        if entry["split"] not in splits:
            continue
        file = shard_path(path, entry)
        try:
            verify_shard(file, entry)
        except ValueError as e:
            raise TrainingTextError(str(e)) from None
        headers: dict[str, dict] = {}
        with tarfile.open(file, mode="r:") as tar:
            for member in tar:
                if not member.isfile() or "/" in member.name:
                    continue
                # a sample's members are adjacent in the tar, its header before its text
                if member.name.endswith("." + HEADER_MEMBER):
                    key = member.name[: -len(HEADER_MEMBER) - 1]
                    headers[key] = json.loads(tar.extractfile(member).read().decode("utf-8"))
                elif member.name.endswith("." + TEXT_MEMBER):
                    key = member.name[: -len(TEXT_MEMBER) - 1]
                    yield tar.extractfile(member).read().decode("utf-8"), headers.pop(key, {"key": key})


def _parquet_documents(path: str, text_field: str) -> Iterator[tuple[str, dict]]:
    table = pq.read_table(path)
    if text_field not in table.column_names:
        raise TrainingTextError(f"{path}: no column {text_field!r} (columns: {', '.join(table.column_names)})")
    for record in table.to_pylist():
        yield str(record.pop(text_field) or ""), record


def _jsonl_documents(path: str, text_field: str) -> Iterator[tuple[str, dict]]:
    import gzip

    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="utf-8") as fh:
            for number, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as e:
                    raise TrainingTextError(f"{path}:{number}: not JSON: {e}") from None
                if not isinstance(record, dict) or not isinstance(record.get(text_field), str):
                    raise TrainingTextError(f"{path}:{number}: no string field {text_field!r}")
                yield record.pop(text_field), record
    except OSError as e:
        raise TrainingTextError(f"{path}: {e.strerror or e}") from None
