"""Held-out quality of a binary classifier: precision, recall and F1 at a threshold, ROC AUC, and the
threshold that maximises F1. Pure numpy."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class BinaryMetrics(NamedTuple):
    """Quality on held-out documents at `threshold` (positive when score >= threshold)."""

    threshold: float
    precision: float
    recall: float
    f1: float
    accuracy: float
    auc: float
    positives: int
    negatives: int

    def to_json(self) -> dict:
        """The metrics as config.json and metrics.json store them (4 decimals)."""
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in self._asdict().items()}


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """The probability that a random positive scores above a random negative (ties count half):
    the Mann-Whitney U statistic over average ranks. NaN when one class is absent."""
    positives = int(labels.sum())
    negatives = len(labels) - positives
    if positives == 0 or negatives == 0:
        return float("nan")
    order = np.argsort(scores, kind="stable")
    ranks = np.empty(len(scores), dtype=np.float64)
    sorted_scores = scores[order]
    # average rank of each run of equal scores
    boundaries = np.flatnonzero(np.diff(sorted_scores)) + 1
    starts = np.concatenate([[0], boundaries])
    ends = np.concatenate([boundaries, [len(scores)]])
    run_ranks = (starts + ends + 1) / 2.0
    ranks[order] = np.repeat(run_ranks, ends - starts)
    rank_sum = ranks[labels.astype(bool)].sum()
    return float((rank_sum - positives * (positives + 1) / 2) / (positives * negatives))


def roc_curve(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(false-positive rates, true-positive rates) at every distinct threshold, from (0, 0) to (1, 1)."""
    order = np.argsort(-scores, kind="stable")
    sorted_scores, truth = scores[order], labels[order].astype(bool)
    # one point per distinct score: the last index of each run of equal scores
    last = np.concatenate([np.flatnonzero(np.diff(sorted_scores)), [len(scores) - 1]]) if len(scores) else []
    tp = np.cumsum(truth)[last]
    fp = np.cumsum(~truth)[last]
    positives, negatives = max(int(truth.sum()), 1), max(int((~truth).sum()), 1)
    return np.concatenate([[0.0], fp / negatives]), np.concatenate([[0.0], tp / positives])


def metrics_at(scores: np.ndarray, labels: np.ndarray, threshold: float) -> BinaryMetrics:
    """Precision, recall, F1 and accuracy at `threshold`, with the AUC (threshold-free)."""
    predicted = scores >= threshold
    truth = labels.astype(bool)
    tp = int(np.sum(predicted & truth))
    fp = int(np.sum(predicted & ~truth))
    fn = int(np.sum(~predicted & truth))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    accuracy = float(np.mean(predicted == truth)) if len(labels) else 0.0
    return BinaryMetrics(float(threshold), precision, recall, f1, accuracy, roc_auc(scores, labels),
                         int(truth.sum()), int((~truth).sum()))


def best_f1_threshold(scores: np.ndarray, labels: np.ndarray) -> float:
    """The threshold with the highest F1 on (scores, labels): a midpoint between two adjacent
    distinct scores, so a slightly different score of the same document lands on the same side;
    0.5 when there is nothing to choose from."""
    distinct = np.unique(scores)
    if len(distinct) < 2 or labels.sum() == 0:
        return 0.5
    candidates = (distinct[:-1] + distinct[1:]) / 2
    f1 = [metrics_at(scores, labels, t).f1 for t in candidates]
    return float(candidates[int(np.argmax(f1))])
