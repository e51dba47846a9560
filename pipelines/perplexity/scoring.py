"""The pure core of ppl-filter: scoring windows, perplexity, buckets and the keep/reject verdict.

No model and no Beam here: the model handler turns windows into summed token losses, the Beam layer
wires these functions together.
"""

from __future__ import annotations

import dataclasses
import math

from fullchain.pipelines.clean.failure import Failure
from fullchain.pipelines.document import Document

STAGE = "ppl_filter"
# Beam metrics of the stage, RunInference's own among them
METRICS_NAMESPACE = "fullchain.ppl_filter"
PERPLEXITY = "perplexity"
PPL_EMPTY = "ppl_empty"
REJECTION_REASONS: tuple[str, ...] = (PERPLEXITY, PPL_EMPTY)
HEAD, MIDDLE, TAIL = "head", "middle", "tail"
BUCKETS: tuple[str, ...] = (HEAD, MIDDLE, TAIL)
PPL_DECIMALS = 2


def lang_thresholds(entries: list[str]) -> dict[str, float]:
    """Parse ["en=800", "zh=1200"] into {"en": 800.0, "zh": 1200.0}; raises ValueError on a bad entry."""
    thresholds: dict[str, float] = {}
    for entry in entries:
        lang, sep, value = entry.partition("=")
        try:
            threshold = float(value) if sep else math.nan
        except ValueError:
            threshold = math.nan
        if not threshold > 0:  # also rejects NaN
            raise ValueError(f'entry {entry!r} is not "lang=positive number"')
        lang = lang.strip()
        if lang in thresholds:
            raise ValueError(f"language {lang!r} is given twice")
        thresholds[lang] = threshold
    return thresholds


def scoring_windows(token_ids: list[int], window_tokens: int, max_windows: int,
                    context_id: int | None) -> list[list[int]]:
    """The model inputs of one document: its first `max_windows` windows of `window_tokens` tokens.

    Each window starts with `context_id` (the model's BOS token) when there is one, so that its first
    token is predicted too; without it the first token of each window is context only. Windows with
    nothing to predict are dropped, so a document whose list is empty cannot be scored.
    """
    windows = []
    for start in range(0, min(len(token_ids), window_tokens * max_windows), window_tokens):
        window = token_ids[start:start + window_tokens]
        if context_id is not None:
            window = [context_id, *window]
        if len(window) >= 2:
            windows.append(window)
    return windows


def perplexity(nll_sum: float, n_tokens: int) -> float | None:
    """exp(mean negative log-likelihood per predicted token), or None when no token was predicted."""
    if n_tokens <= 0:
        return None
    mean = nll_sum / n_tokens
    # exp overflows above ~709, and a NaN loss (fp16 overflow) is no better: both count as unbounded
    return math.exp(mean) if mean < 700 else math.inf


def cut_points(quantiles: list[float], head_max_percentile: float,
               middle_max_percentile: float) -> tuple[float, float]:
    """(head cut, middle cut) from evenly spaced quantiles q[0] = min .. q[-1] = max of one language."""
    last = len(quantiles) - 1
    return (quantiles[round(head_max_percentile / 100 * last)],
            quantiles[round(middle_max_percentile / 100 * last)])


def percentile_bucket(ppl: float, cuts: tuple[float, float]) -> str:
    """head when ppl <= the head cut, middle when <= the middle cut, else tail."""
    head_cut, middle_cut = cuts
    if ppl <= head_cut:
        return HEAD
    return MIDDLE if ppl <= middle_cut else TAIL


def absolute_bucket(ppl: float, threshold: float | None) -> str:
    """head when ppl is within the threshold (or there is none), else tail: absolute mode has no middle."""
    return HEAD if threshold is None or ppl <= threshold else TAIL


def verdict(ppl: float, bucket: str, keep_buckets: list[str] | tuple[str, ...], bounds: str) -> Failure | None:
    """None to keep, or a `perplexity` Failure whose detail states the value and `bounds`, the
    limits of its bucket (see absolute_bounds, percentile_bounds)."""
    if bucket in keep_buckets:
        return None
    return Failure(PERPLEXITY, f"perplexity {ppl:.{PPL_DECIMALS}f} {bounds} (bucket {bucket})")


def absolute_bounds(threshold: float, lang: str) -> str:
    """The bounds text of a document over its absolute threshold."""
    return f"> max_ppl {threshold:g} for lang {lang!r}"


def percentile_bounds(bucket: str, cuts: tuple[float, float], lang: str) -> str:
    """The bounds text of a percentile bucket of language `lang`."""
    head_cut, middle_cut = cuts
    bounds = {HEAD: f"<= head cut {head_cut:.{PPL_DECIMALS}f}",
              MIDDLE: f"in (head cut {head_cut:.{PPL_DECIMALS}f}, middle cut {middle_cut:.{PPL_DECIMALS}f}]",
              TAIL: f"> middle cut {middle_cut:.{PPL_DECIMALS}f}"}[bucket]
    return f"{bounds} for lang {lang!r}"


def empty_failure() -> Failure:
    """The Failure of a document without a single token to predict."""
    return Failure(PPL_EMPTY, "no token to score after tokenization")


def with_score(doc: Document, ppl: float | None, bucket: str | None) -> Document:
    """A copy of `doc` whose meta holds `ppl` (rounded, null when unscorable) and `ppl_bucket`."""
    rounded = None if ppl is None else (round(ppl, PPL_DECIMALS) if math.isfinite(ppl) else None)
    return dataclasses.replace(doc, meta={**doc.meta, "ppl": rounded, "ppl_bucket": bucket})
