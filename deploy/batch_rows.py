"""The running batch of the continuous-batching scheduler (continuous_batching.py): its rows'
key/value caches, masks and next input tokens, in numpy only.

`fullchain publish` copies it beside continuous_batching.py into `<name>_llm`'s version folder.
Each row is one sequence: its cache is left-padded to the batch's width and masked by
`attention_mask`, with its own `position_ids`, so sequences of any lengths decode together through
the graph of docs/CONTRACTS.md section 6. Rows join and leave only between steps; padding columns
no row uses any more are cut off.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class GraphShape:
    """What the scheduler needs of the exported graph (kv_decoding.DecoderSpec has these fields)."""

    num_layers: int
    num_kv_heads: int
    head_dim: int
    pad_token_id: int = 0
    max_positions: int | None = None


class RunningBatch:
    """The running batch: its sequences (rows), the next input token of each, the mask and the
    per-layer key/value tensors [rows, heads, width, head_dim]."""

    def __init__(self, shape: GraphShape):
        self.shape = shape
        self.rows: list[Any] = []
        self.next_ids = np.zeros((0,), dtype=np.int64)
        self.mask = np.zeros((0, 0), dtype=np.int64)
        self.past: dict[str, np.ndarray] = {
            name: np.zeros((0, shape.num_kv_heads, 0, shape.head_dim), dtype=np.float32) for name in self._names()}

    def _names(self) -> list[str]:
        return [f"past_key_values.{i}.{kind}" for i in range(self.shape.num_layers) for kind in ("key", "value")]

    def keep(self, keep: list[int]) -> None:
        """Keep only these rows (indices, in order) and cut the padding columns no kept row uses."""
        if len(keep) == len(self.rows):
            return
        index = np.array(keep, dtype=np.int64)
        self.rows = [self.rows[i] for i in keep]
        self.next_ids = self.next_ids[index]
        mask = self.mask[index]
        used = np.flatnonzero(mask.any(axis=0))
        start = int(used[0]) if used.size else mask.shape[1]
        self.mask = np.ascontiguousarray(mask[:, start:])
        self.past = {name: np.ascontiguousarray(value[index][:, :, start:]) for name, value in self.past.items()}

    def join(self, rows: list[Any], next_ids: list[int], mask: np.ndarray,
             past: dict[str, np.ndarray]) -> None:
        """Add prefilled rows: both sides are left-padded to the wider width."""
        width = max(self.mask.shape[1], mask.shape[1])

        def widen(a: np.ndarray, axis: int) -> np.ndarray:
            pad = [(0, 0)] * a.ndim
            pad[axis] = (width - a.shape[axis], 0)
            return np.pad(a, pad) if pad[axis][0] else a

        self.rows = self.rows + rows
        self.next_ids = np.concatenate([self.next_ids, np.array(next_ids, dtype=np.int64)])
        self.mask = np.concatenate([widen(self.mask, 1), widen(mask, 1)], axis=0)
        self.past = {name: np.concatenate([widen(self.past[name], 2), widen(past[name], 2)], axis=0)
                     for name in self.past}

    def feeds(self) -> dict[str, np.ndarray]:
        """The graph feeds of one decoding step of every row."""
        rows = len(self.rows)
        feeds = {"input_ids": self.next_ids.reshape(rows, 1),
                 "attention_mask": np.concatenate([self.mask, np.ones((rows, 1), dtype=np.int64)], axis=1),
                 "position_ids": self.mask.sum(axis=1, keepdims=True).astype(np.int64)}
        feeds.update(self.past)
        return feeds

    def advance(self, outputs: dict[str, np.ndarray]) -> None:
        """After a decoding step: the fed token is in the cache now."""
        self.mask = np.concatenate([self.mask, np.ones((len(self.rows), 1), dtype=np.int64)], axis=1)
        self.past = {name: outputs[name.replace("past_key_values", "present")] for name in self.past}
