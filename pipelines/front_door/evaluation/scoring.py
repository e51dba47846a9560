"""The arithmetic of scoring token sequences, on plain numpy arrays (no model, no harness):
log-likelihoods of continuations from one forward pass, batches of similar length, and text cut
at the first stop string."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np


@dataclass(frozen=True)
class ScoringRow:
    """One sequence to score: the model reads `tokens` (the context and the continuation, without
    the continuation's last token) and the last `continuation` of its predictions are scored."""

    tokens: list[int]
    continuation: list[int]


def scoring_row(context: Sequence[int], continuation: Sequence[int], max_length: int) -> ScoringRow:
    """The row that scores `continuation` after `context` in one pass over at most `max_length`
    input tokens; the context is cut from the left when the whole does not fit (as the harness's
    own backends do)."""
    if not continuation:
        raise ValueError("a continuation needs at least one token")
    whole = list(context) + list(continuation)
    tokens = whole[-(max_length + 1):][:-1]
    return ScoringRow(tokens=tokens, continuation=list(continuation)[-len(tokens):])


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """log softmax over the last axis, in float64 so that sums over long continuations keep their digits."""
    values = logits.astype(np.float64)
    shifted = values - values.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def continuation_scores(row_logits: np.ndarray, continuation: Sequence[int]) -> tuple[float, bool]:
    """(sum of the continuation's log-probabilities, whether greedy decoding picks every one of its
    tokens) from the logits [n, V] of the last n = len(continuation) positions of a row."""
    log_probs = log_softmax(row_logits)
    targets = np.asarray(continuation, dtype=np.int64)
    picked = log_probs[np.arange(len(targets)), targets]
    return float(picked.sum()), bool((log_probs.argmax(axis=-1) == targets).all())


def left_padded(rows: Sequence[Sequence[int]], pad: int) -> tuple[np.ndarray, np.ndarray]:
    """(ids, mask) int64 [len(rows), longest]: the rows right-aligned, padding on the left masked 0."""
    width = max(len(r) for r in rows)
    ids = np.full((len(rows), width), pad, dtype=np.int64)
    mask = np.zeros((len(rows), width), dtype=np.int64)
    for i, row in enumerate(rows):
        ids[i, width - len(row):] = row
        mask[i, width - len(row):] = 1
    return ids, mask


def length_batches(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Indices grouped into batches of at most `batch_size`, longest first, so that a batch pads
    little and the first batch shows at once whether the longest fits in memory."""
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    return [order[start:start + batch_size] for start in range(0, len(order), batch_size)]


def cut_at_stop(text: str, until: Sequence[str]) -> tuple[str, bool]:
    """(text up to the first of the stop strings, whether one occurred)."""
    cuts = [text.find(stop) for stop in until if stop and stop in text]
    return (text[:min(cuts)], True) if cuts else (text, False)
