"""The pure core of the classify stage: a document's scores into its metadata, and the keep/reject
verdict of the configured filters. No model and no Beam here."""

from __future__ import annotations

import dataclasses

from fullchain.pipelines.classify.classifiers import ClassifierInfo
from fullchain.pipelines.classify.config import REASON_PREFIX, split_label_key
from fullchain.pipelines.clean.failure import Failure
from fullchain.pipelines.document import Document

SCORE_DECIMALS = 4
LABELS_SUFFIX = "_labels"


def annotated(doc: Document, scores: dict[str, dict[str, float]], infos: list[ClassifierInfo]) -> Document:
    """A copy of `doc` whose meta holds, per classifier, `<name>`: {label: probability} and
    `<name>_labels`: the labels at or above their threshold (in the model's label order)."""
    meta = dict(doc.meta)
    for info in infos:
        label_scores = scores[info.name]
        meta[info.name] = {label: round(label_scores[label], SCORE_DECIMALS) for label in info.labels}
        meta[info.name + LABELS_SUFFIX] = [label for label in info.labels
                                          if label_scores[label] >= info.thresholds[label]]
    return dataclasses.replace(doc, meta=meta)


def verdict(scores: dict[str, dict[str, float]], infos: list[ClassifierInfo],
            filters: dict[str, str]) -> Failure | None:
    """None to keep, or the Failure of the first classifier (in config order) with a failing filter:
    reason classifier_<name>, detail naming every failing filter with its score and threshold."""
    by_name = {info.name: info for info in infos}
    failing: dict[str, list[str]] = {}
    for key, action in filters.items():
        name, label = split_label_key(key)
        score, threshold = scores[name][label], by_name[name].thresholds[label]
        holds = score >= threshold
        if action == "reject" and holds:
            failing.setdefault(name, []).append(f"{key} {score:.{SCORE_DECIMALS}f} >= {threshold:g} (reject)")
        elif action == "keep" and not holds:
            failing.setdefault(name, []).append(f"{key} {score:.{SCORE_DECIMALS}f} < {threshold:g} (keep)")
    if not failing:
        return None
    first = next(info.name for info in infos if info.name in failing)
    return Failure(f"{REASON_PREFIX}{first}", "; ".join(d for info in infos for d in failing.get(info.name, [])))
