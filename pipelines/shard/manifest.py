"""manifest.json: what a shard output holds, built from the written shards, and checked by readers.

The manifest is written last; its presence marks a complete output. Readers (the trainer) call
`load_manifest` and `verify_shard` before trusting a shard.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

from fullchain.pipelines.shard.assignment import SPLITS
from fullchain.pipelines.shard.format import MANIFEST_FILE, manifest_path

FORMAT_VERSION = 1
_SHARD_FIELDS = {"split": str, "path": str, "samples": int, "tokens": int, "bytes": int, "sha256": str}
_TOP_FIELDS = ("format_version", "shards", "splits", "tokenizer", "dtype", "input_documents", "written",
               "skipped", "config", "pipeline")


class ManifestError(ValueError):
    """A manifest that does not validate, or a shard that does not match its manifest entry."""


def shard_entry(split: str, path: str, samples: int, tokens: int, data: bytes) -> dict[str, Any]:
    """The manifest entry of one written shard; `path` relative to the output folder."""
    return {"split": split, "path": path, "samples": samples, "tokens": tokens, "bytes": len(data),
            "sha256": hashlib.sha256(data).hexdigest()}


def build_manifest(shards: list[dict[str, Any]], input_documents: int, skipped: dict[str, int],
                   tokenizer: dict[str, Any], dtype: str, config: dict[str, Any],
                   pipeline: list[dict]) -> dict[str, Any]:
    """The manifest of a run; raises ManifestError when input_documents != written + skipped.

    `tokenizer` describes the tokenizer (source, path, sha256, vocab_size, eos); `config` is the
    shard config; `pipeline` the ledgers of the stages that produced the input. No timestamps, so a
    rerun on the same input writes the same manifest.
    """
    shards = sorted(shards, key=lambda s: s["path"])
    splits = {split: {"shards": 0, "samples": 0, "tokens": 0, "bytes": 0} for split in SPLITS}
    for shard in shards:
        totals = splits[shard["split"]]
        totals["shards"] += 1
        for name in ("samples", "tokens", "bytes"):
            totals[name] += shard[name]
    written = sum(totals["samples"] for totals in splits.values())
    skipped = dict(sorted(skipped.items()))
    if input_documents != written + sum(skipped.values()):
        raise ManifestError(f"documents do not add up: input {input_documents} != written {written} + "
                            f"skipped {sum(skipped.values())} {skipped}")
    return {"format_version": FORMAT_VERSION, "shards": shards, "splits": splits, "tokenizer": tokenizer,
            "dtype": dtype, "input_documents": input_documents, "written": written, "skipped": skipped,
            "config": config, "pipeline": pipeline}


def manifest_bytes(manifest: dict[str, Any]) -> bytes:
    """The manifest as written: indented JSON with sorted keys, so equal manifests are equal bytes."""
    return json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False).encode("utf-8") + b"\n"


def validate_manifest(manifest: Any) -> dict[str, Any]:
    """Return `manifest` if it has every field with the right types and consistent totals, else
    raise ManifestError naming the first problem."""
    if not isinstance(manifest, dict):
        raise ManifestError("manifest is not a JSON object")
    missing = [name for name in _TOP_FIELDS if name not in manifest]
    if missing:
        raise ManifestError(f"manifest lacks {', '.join(missing)}")
    if manifest["format_version"] != FORMAT_VERSION:
        raise ManifestError(f"manifest format_version {manifest['format_version']!r}, expected {FORMAT_VERSION}")
    paths = set()
    for i, shard in enumerate(manifest["shards"]):
        for name, kind in _SHARD_FIELDS.items():
            if not isinstance(shard.get(name), kind):
                raise ManifestError(f"shards[{i}].{name} missing or not {kind.__name__}")
        if shard["split"] not in SPLITS:
            raise ManifestError(f"shards[{i}].split {shard['split']!r} is not one of {', '.join(SPLITS)}")
        if shard["path"].startswith("/") or ".." in shard["path"].split("/"):
            raise ManifestError(f"shards[{i}].path {shard['path']!r} is not a relative path inside the output")
        if shard["path"] in paths:
            raise ManifestError(f"shards[{i}].path {shard['path']!r} listed twice")
        paths.add(shard["path"])
    written = sum(shard["samples"] for shard in manifest["shards"])
    if written != manifest["written"]:
        raise ManifestError(f"written {manifest['written']} != {written}, the sum of the shards' samples")
    if manifest["input_documents"] != written + sum(manifest["skipped"].values()):
        raise ManifestError("input_documents != written + skipped")
    return manifest


def load_manifest(path: str) -> dict[str, Any]:
    """Read and validate a manifest.json (`path` is the file or its folder); raises ManifestError."""
    path = manifest_path(path)
    try:
        with open(path, "rb") as fh:
            manifest = json.loads(fh.read().decode("utf-8"))
    except FileNotFoundError:
        raise ManifestError(f"{path}: no manifest (the shard output is missing or incomplete)") from None
    except (UnicodeError, json.JSONDecodeError) as e:
        raise ManifestError(f"{path}: not a JSON manifest: {e}") from None
    try:
        return validate_manifest(manifest)
    except ManifestError as e:
        raise ManifestError(f"{path}: {e}") from None


def verify_shard(path: str, entry: dict[str, Any] | None) -> None:
    """Raise ManifestError unless the file at `path` is the shard `entry` lists (size and sha256).
    `entry` None means the shard is not in the manifest."""
    if entry is None:
        raise ManifestError(f"{path}: shard not listed in the manifest")
    try:
        size = os.path.getsize(path)
    except OSError:
        raise ManifestError(f"{path}: listed shard is missing") from None
    if size != entry["bytes"]:
        raise ManifestError(f"{path}: {size} bytes, manifest says {entry['bytes']} (partial or replaced shard)")
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    if digest.hexdigest() != entry["sha256"]:
        raise ManifestError(f"{path}: sha256 differs from the manifest (corrupt shard)")


def manifest_table(manifest: dict[str, Any]) -> str:
    """A short text table of a manifest: documents in, written, skipped, and per split shards/samples/tokens."""
    lines = ["shard manifest", "-" * 62,
             f"{'input documents':<28}{manifest['input_documents']:>12,}",
             f"{'written':<28}{manifest['written']:>12,}"]
    lines += [f"{'skipped: ' + reason:<28}{count:>12,}" for reason, count in manifest["skipped"].items() if count]
    lines.append(f"{'split':<8}{'shards':>8}{'samples':>12}{'tokens':>14}{'MB':>10}")
    for split, totals in manifest["splits"].items():
        lines.append(f"{split:<8}{totals['shards']:>8,}{totals['samples']:>12,}{totals['tokens']:>14,}"
                     f"{totals['bytes'] / 1e6:>10,.1f}")
    lines.append(f"tokenizer: {manifest['tokenizer']['source']} ({manifest['tokenizer']['vocab_size']:,} tokens), "
                 f"ids {manifest['dtype']}")
    return "\n".join(lines)
