"""Exact Jaccard similarity of two shingle sets, the check applied to every LSH candidate pair."""

from __future__ import annotations

import numpy as np


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """|a & b| / |a | b| of two sets given as arrays of distinct values (as `shingles.shingle_sets` makes).

    Two empty sets have similarity 0: a document without shingles is nobody's near duplicate.
    """
    if len(a) == 0 or len(b) == 0:
        return 0.0
    common = len(np.intersect1d(a, b, assume_unique=True))
    return common / (len(a) + len(b) - common)
