"""Checkpoint folders of a training run: layout, completeness, data positions, retention.

    OUTPUT/checkpoints/step_00000200/
        ds/                 DeepSpeed engine state: model, optimizer, LR scheduler (engine.save)
        weights/ or hf/     model weights for export: per (stage, tp rank) safetensors, or LoRA's HF folder
        data/dp0000.json    data position of each data-parallel replica (trainers.data state_dict)
        state.json          step, tokens, model shape, parallel layout, tokenizer, config
        COMPLETE            written last: a folder without it is a save that was cut short

A run killed during a save leaves a folder without COMPLETE; it is never resumed from and is
removed by the next run. Only folders with COMPLETE count for `keep`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

COMPLETE = "COMPLETE"
WEIGHTS_DIR = "weights"
_STEP_DIR = re.compile(r"^step_(\d{8})$")
# the run's Hugging Face folder, written (atomically) from its last checkpoint when training ends
RUN_HF_FOLDER = "hf"


class CheckpointError(ValueError):
    """A checkpoint that cannot be used; the message is one line naming the folder."""


def checkpoints_root(output: str) -> str:
    """Where a run's checkpoints live."""
    return os.path.join(output, "checkpoints")


def checkpoint_dir(output: str, step: int) -> str:
    """The folder of the checkpoint taken after `step` optimizer steps."""
    return os.path.join(checkpoints_root(output), f"step_{step:08d}")


def weights_file_name(stage: int, tp_rank: int) -> str:
    """File of one (pipeline stage, tensor-parallel rank)'s weights in a checkpoint's weights/ folder."""
    return f"pp{stage:02d}-tp{tp_rank:02d}.safetensors"


def _step_dirs(output: str) -> list[tuple[int, str]]:
    root = checkpoints_root(output)
    if not os.path.isdir(root):
        return []
    found = []
    for name in os.listdir(root):
        m = _STEP_DIR.match(name)
        if m:
            found.append((int(m.group(1)), os.path.join(root, name)))
    return sorted(found)


def complete_checkpoints(output: str) -> list[tuple[int, str]]:
    """(step, folder) of every complete checkpoint of the run at `output`, oldest first."""
    return [(s, p) for s, p in _step_dirs(output) if os.path.exists(os.path.join(p, COMPLETE))]


def latest_checkpoint(output: str) -> str | None:
    """The newest complete checkpoint folder, or None."""
    found = complete_checkpoints(output)
    return found[-1][1] if found else None


def remove_incomplete(output: str) -> list[str]:
    """Delete checkpoint folders a killed save left without COMPLETE; returns them."""
    removed = []
    for _, path in _step_dirs(output):
        if not os.path.exists(os.path.join(path, COMPLETE)):
            shutil.rmtree(path)
            removed.append(path)
    return removed


def prune(output: str, keep: int) -> list[str]:
    """Delete all but the newest `keep` complete checkpoints; returns the deleted folders."""
    old = complete_checkpoints(output)[:-keep] if keep > 0 else complete_checkpoints(output)
    for _, path in old:
        # COMPLETE goes first, so a prune cut short leaves an incomplete folder, never a
        # "complete" one with missing files.
        os.remove(os.path.join(path, COMPLETE))
        shutil.rmtree(path)
    return [p for _, p in old]


def write_data_state(folder: str, dp_rank: int, state: dict[str, Any]) -> None:
    """Record one data-parallel replica's data position in a checkpoint."""
    path = Path(folder, "data", f"dp{dp_rank:04d}.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(state))


def read_data_state(folder: str, dp_rank: int) -> dict[str, Any]:
    """One replica's data position from a checkpoint."""
    return _read_json(os.path.join(folder, "data", f"dp{dp_rank:04d}.json"))


def finish_checkpoint(folder: str, state: dict[str, Any]) -> None:
    """Write state.json and then COMPLETE (rank 0, after every rank finished its part)."""
    Path(folder, "state.json").write_text(json.dumps(state, indent=2, sort_keys=True))
    Path(folder, COMPLETE).write_text("")


def read_checkpoint_state(folder: str) -> dict[str, Any]:
    """state.json of a complete checkpoint; CheckpointError when the folder is not one."""
    if not os.path.isdir(folder):
        raise CheckpointError(f"{folder}: no such checkpoint folder")
    if not os.path.exists(os.path.join(folder, COMPLETE)):
        raise CheckpointError(f"{folder}: incomplete checkpoint (no {COMPLETE} marker; the save was cut short)")
    return _read_json(os.path.join(folder, "state.json"))


def _read_json(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except (OSError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{path}: cannot read: {e}") from None
