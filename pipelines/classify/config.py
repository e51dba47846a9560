"""The options of `fullchain classify`: the stage's section of the run config."""

from __future__ import annotations

import math
from dataclasses import dataclass

from fullchain.pipelines.config import option

STAGE = "classify"
# Beam metrics of the stage, RunInference's own among them
METRICS_NAMESPACE = "fullchain.classify"
FILTER_ACTIONS = ("keep", "reject")
DEVICES = ("auto", "cpu", "cuda")
REASON_PREFIX = "classifier_"


def split_label_key(key: str) -> tuple[str, str]:
    """'safety.unsafe' -> ('safety', 'unsafe'); ValueError for a key without a classifier and a label."""
    name, sep, label = key.partition(".")
    if not sep or not name or not label:
        raise ValueError(f"{key!r} must be 'classifier.label', e.g. 'safety.unsafe'")
    return name, label


@dataclass(kw_only=True)
class ClassifyConfig:
    """fullchain classify: score every document with classifiers; annotate, and filter per label."""

    classifiers: dict[str, str] = option(
        {}, "Classifier name -> folder: a folder written by `fullchain classifier train`, or any Hugging Face "
            "sequence-classification folder (config.json, model.safetensors, tokenizer). The name is the meta "
            "key of its scores (meta.<name> = {label: probability}) and of its rejections "
            "(reason classifier_<name>).")
    thresholds: dict[str, float] = option(
        {}, "'classifier.label' -> probability (for a regression head, e.g. FineWeb-Edu's: its output) at or "
            "above which the label holds for a document. Default: the threshold a trained folder chose on "
            "held-out data (its positive label), 0.5 for other labels.")
    filter: dict[str, str] = option(
        {}, "'classifier.label' -> 'keep' (reject documents for which the label does not hold, e.g. "
            "'quality.positive: keep') or 'reject' (reject documents for which it holds, e.g. "
            "'safety.unsafe: reject'). Labels not named here only annotate (meta.<name>_labels).")
    batch_size: int = option(32, "Most documents per model batch (Hugging Face classifiers).")
    max_tokens: int = option(512, "Hugging Face classifiers: tokens of a document given to the model (the rest "
                                  "is not read); a model with fewer positions reads that many.")
    length_aware_batching: bool = option(
        True, "Batch documents of similar length together, so a batch pads little; does not change scores.")
    device: str = option("auto", "Hugging Face classifiers: cpu, cuda, or auto (cuda when available).")

    def __post_init__(self) -> None:
        for name, folder in self.classifiers.items():
            if not name or not name.replace("_", "").isalnum() or name != name.lower():
                raise ValueError(f"classifiers: name {name!r} must be lower-case letters, digits and _ "
                                 f"(it becomes meta.{name} and the reason classifier_{name})")
            if not folder:
                raise ValueError(f"classifiers: {name} has no folder")
        for option_name, entries in (("thresholds", self.thresholds), ("filter", self.filter)):
            for key in entries:
                name, _ = split_label_key(key)
                if name not in self.classifiers:
                    raise ValueError(f"{option_name}: {key!r} names classifier {name!r}, not one of classifiers "
                                     f"({', '.join(self.classifiers) or 'none configured'})")
        for key, value in self.thresholds.items():
            # probabilities are within [0, 1]; a regression head's output (FineWeb-Edu: 0-5) is not
            if not math.isfinite(value):
                raise ValueError(f"thresholds: {key} must be a finite number, got {value}")
        for key, action in self.filter.items():
            if action not in FILTER_ACTIONS:
                raise ValueError(f"filter: {key} must be one of {', '.join(FILTER_ACTIONS)}, got {action!r}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {self.batch_size}")
        if self.max_tokens < 2:
            raise ValueError(f"max_tokens must be at least 2, got {self.max_tokens}")
        if self.device not in DEVICES:
            raise ValueError(f"device must be one of {', '.join(DEVICES)}, got {self.device!r}")
