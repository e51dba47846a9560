"""Lineage: which shards (by manifest sha256), which checkpoint, which export and which published
version the run's figures belong to, and whether each link of the chain really points at the
one before it (the checkpoint trained on these shards, the export made from this training's HF
folder, the published version a copy of this export)."""

from __future__ import annotations

import hashlib
import os
import re
from typing import Any

from fullchain.pipelines.shard.format import MANIFEST_FILE
from fullchain.report.run_layout import EXPORT, PUBLISH, RUN_FILE, SHARD, TRAIN, read_json

_STEP_DIR = re.compile(r"^step_(\d{8})$")
_VERSION_DIR = re.compile(r"^[1-9][0-9]*$")
EXPORT_FILE = "export.json"


def file_sha256(path: str) -> str:
    """sha256 hex digest of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def lineage(run_dir: str) -> dict[str, Any]:
    """The lineage section: one entry per link (shards, checkpoint, export, published), each
    {"ran": False} when that stage's output is not in the run folder."""
    shards = _shards(run_dir)
    checkpoint = _checkpoint(run_dir)
    export = _export(run_dir)
    return {"shards": shards, "checkpoint": checkpoint, "export": export,
            "published": _published(run_dir, export)}


def _shards(run_dir: str) -> dict[str, Any]:
    path = os.path.join(run_dir, SHARD, MANIFEST_FILE)
    if not os.path.isfile(path):
        return {"ran": False}
    manifest = read_json(path)
    return {"ran": True, "manifest": os.path.join(SHARD, MANIFEST_FILE), "sha256": file_sha256(path),
            "shards": len(manifest.get("shards", [])), "tokenizer_sha256": manifest.get("tokenizer", {}).get("sha256")}


def _checkpoint(run_dir: str) -> dict[str, Any]:
    root = os.path.join(run_dir, TRAIN, "checkpoints")
    steps = sorted(name for name in (os.listdir(root) if os.path.isdir(root) else [])
                   if _STEP_DIR.match(name) and os.path.exists(os.path.join(root, name, "COMPLETE")))
    if not steps:
        return {"ran": False}
    state = read_json(os.path.join(root, steps[-1], "state.json")) or {}
    manifest = state.get("config", {}).get("data", {}).get("manifest", "")
    weights = os.path.join(run_dir, TRAIN, "hf", "model.safetensors")
    return {"ran": True, "checkpoint": os.path.join(TRAIN, "checkpoints", steps[-1]), "step": state.get("step"),
            "tokens": state.get("tokens"), "data_manifest": manifest,
            "trained_on_run_shards": _same_folder(manifest, os.path.join(run_dir, SHARD), run_dir),
            "hf_weights_sha256": file_sha256(weights) if os.path.isfile(weights) else None}


def _export(run_dir: str) -> dict[str, Any]:
    path = os.path.join(run_dir, EXPORT, EXPORT_FILE)
    if not os.path.isfile(path):
        return {"ran": False}
    export = read_json(path)
    source = export.get("source", "")
    return {"ran": True, "export_json": os.path.join(EXPORT, EXPORT_FILE), "sha256": file_sha256(path),
            "precision": export.get("precision"), "source": source,
            "from_run_training": _same_folder(source, os.path.join(run_dir, TRAIN, "hf"), run_dir)}


def _published(run_dir: str, export: dict[str, Any]) -> dict[str, Any]:
    """The published versions whose generation model holds a copy of this run's export.json."""
    root = os.path.join(run_dir, PUBLISH)
    if not os.path.isdir(root):
        return {"ran": False}
    recorded = ((read_json(os.path.join(run_dir, RUN_FILE)) or {}).get("stages", {}).get("publish", {})
                .get("key_figure", {}).get("value"))
    matches = []
    for model in sorted(os.listdir(root)):
        folder = os.path.join(root, model)
        if not os.path.isdir(folder):
            continue
        for version in sorted((v for v in os.listdir(folder) if _VERSION_DIR.match(v)), key=int):
            copy = os.path.join(folder, version, EXPORT_FILE)
            if export.get("ran") and os.path.isfile(copy) and file_sha256(copy) == export["sha256"]:
                matches.append({"model": model, "version": int(version)})
    return {"ran": True, "repository": PUBLISH, "recorded_version": recorded, "versions_of_this_export": matches}


def _same_folder(recorded: str, expected: str, run_dir: str) -> bool | None:
    """Whether the path a stage recorded (absolute, or relative to where the run was started, or
    to the run folder) is the folder `expected`; None when nothing was recorded."""
    if not recorded:
        return None
    for candidate in (recorded, os.path.join(run_dir, recorded), os.path.join(os.path.dirname(run_dir), recorded)):
        if os.path.exists(candidate) and os.path.exists(expected) and os.path.samefile(candidate, expected):
            return True
    return False
