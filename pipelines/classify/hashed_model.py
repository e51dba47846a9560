"""The folder of a classifier trained by `fullchain classifier train`, written and read back.

    FOLDER/config.json        kind, format_version, features, labels, threshold, held-out metrics, training
    FOLDER/model.safetensors  `weights` (float32, one per hash bucket) and `bias` (float32, [1])

Weights are safetensors like every model fullchain loads (never pickle). `config.json`'s `kind`
tells this folder from a Hugging Face one, which has `architectures` instead.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from fullchain.pipelines.classify.features import FeatureSpec
from fullchain.pipelines.classify.metrics import BinaryMetrics
from fullchain.pipelines.classify.training import LinearModel, TrainedClassifier, TrainSettings

KIND = "fullchain-hashed-ngram-classifier"
FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"


class ClassifierFolderError(ValueError):
    """A classifier folder that cannot be used; one line naming the folder or file."""


@dataclass
class HashedClassifier:
    """A loaded trained classifier: the linear model, its two labels (negative, positive) and the
    threshold chosen on held-out data for the positive label."""

    model: LinearModel
    labels: tuple[str, str]
    threshold: float

    def scores(self, texts: list[str]) -> list[dict[str, float]]:
        """{negative label: 1 - p, positive label: p} of each text."""
        negative, positive = self.labels
        return [{negative: 1.0 - p, positive: p} for p in self.model.probabilities(texts).tolist()]


def save_classifier(folder: str, trained: TrainedClassifier, labels: tuple[str, str],
                    settings: TrainSettings, sources: dict[str, Any]) -> str:
    """Write `trained` into `folder` (created; files written under temporary names, config.json last,
    so a folder with config.json is complete); returns the config.json path."""
    from safetensors.numpy import save_file

    os.makedirs(folder, exist_ok=True)
    weights_path = os.path.join(folder, WEIGHTS_FILE)
    save_file({"weights": trained.model.weights, "bias": np.array([trained.model.bias], dtype=np.float32)},
              weights_path + ".tmp")
    os.replace(weights_path + ".tmp", weights_path)
    config = {
        "kind": KIND, "format_version": FORMAT_VERSION, "features": trained.model.spec.to_json(),
        "labels": list(labels), "positive_label": labels[1], "threshold": round(trained.metrics.threshold, 6),
        "heldout_metrics": trained.metrics.to_json(),
        "training": {"epochs": settings.epochs, "learning_rate": settings.learning_rate, "l2": settings.l2,
                     "holdout_fraction": settings.holdout_fraction, "seed": settings.seed,
                     "train_positives": trained.train_positives, "train_negatives": trained.train_negatives,
                     **sources},
    }
    config_path = os.path.join(folder, CONFIG_FILE)
    with open(config_path + ".tmp", "w", encoding="utf-8") as fh:
        json.dump(config, fh, indent=2, ensure_ascii=False)
        fh.write("\n")
    os.replace(config_path + ".tmp", config_path)
    return config_path


def read_folder_config(folder: str) -> dict:
    """The config.json of a classifier folder (trained or Hugging Face) as a dict; ClassifierFolderError
    when the folder or the file is missing or not a JSON object."""
    path = os.path.join(folder, CONFIG_FILE)
    if not os.path.isdir(folder):
        raise ClassifierFolderError(f"{folder}: not a folder")
    try:
        with open(path, encoding="utf-8") as fh:
            config = json.load(fh)
    except FileNotFoundError:
        raise ClassifierFolderError(f"{path}: missing (a classifier folder holds config.json)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ClassifierFolderError(f"{path}: cannot read: {e}") from None
    if not isinstance(config, dict):
        raise ClassifierFolderError(f"{path}: not a JSON object")
    return config


def is_hashed_classifier(config: dict) -> bool:
    """Whether a folder's config.json is that of a classifier trained by fullchain."""
    return config.get("kind") == KIND


def check_hashed_classifier(folder: str, config: dict) -> tuple[str, str]:
    """Check a trained classifier folder without loading its weights (config keys, the safetensors
    header and the weights' shape); returns its labels. ClassifierFolderError with one line."""
    from safetensors import SafetensorError, safe_open

    path = os.path.join(folder, CONFIG_FILE)
    if config.get("format_version") != FORMAT_VERSION:
        raise ClassifierFolderError(f"{path}: format_version {config.get('format_version')!r}, this fullchain "
                                    f"reads {FORMAT_VERSION}")
    try:
        spec = FeatureSpec.from_json(config["features"])
        labels = config["labels"]
        threshold = float(config["threshold"])
    except (KeyError, TypeError, ValueError) as e:
        raise ClassifierFolderError(f"{path}: bad or missing features/labels/threshold ({e})") from None
    if (not isinstance(labels, list) or len(labels) != 2 or not all(isinstance(x, str) and x for x in labels)
            or labels[0] == labels[1]):
        raise ClassifierFolderError(f"{path}: labels must be two different names, got {labels!r}")
    if not 0.0 <= threshold <= 1.0:
        raise ClassifierFolderError(f"{path}: threshold must be within [0, 1], got {threshold}")
    weights_path = os.path.join(folder, WEIGHTS_FILE)
    try:
        with safe_open(weights_path, "np") as fh:
            shapes = {key: tuple(fh.get_slice(key).get_shape()) for key in fh.keys()}
    except (SafetensorError, OSError) as e:
        raise ClassifierFolderError(f"{weights_path}: not a readable safetensors file ({e})") from None
    if shapes.get("weights") != (spec.dim,) or shapes.get("bias") != (1,):
        raise ClassifierFolderError(f"{weights_path}: holds {shapes}, expected weights ({spec.dim},) for "
                                    f"hash_bits {spec.hash_bits} and bias (1,)")
    return labels[0], labels[1]


def load_hashed_classifier(folder: str) -> HashedClassifier:
    """Load a trained classifier folder (checked first, see check_hashed_classifier)."""
    from safetensors.numpy import load_file

    config = read_folder_config(folder)
    if not is_hashed_classifier(config):
        raise ClassifierFolderError(f"{os.path.join(folder, CONFIG_FILE)}: kind is {config.get('kind')!r}, "
                                    f"not {KIND!r}")
    labels = check_hashed_classifier(folder, config)
    tensors = load_file(os.path.join(folder, WEIGHTS_FILE))
    model = LinearModel(FeatureSpec.from_json(config["features"]), tensors["weights"].astype(np.float32),
                        float(tensors["bias"][0]))
    return HashedClassifier(model, labels, float(config["threshold"]))


def metrics_table(metrics: BinaryMetrics, labels: tuple[str, str]) -> str:
    """The held-out metrics as a short text table."""
    rows = [("held-out documents", f"{metrics.positives:,} {labels[1]} / {metrics.negatives:,} {labels[0]}"),
            ("threshold (best F1)", f"{metrics.threshold:.4f}"), ("precision", f"{metrics.precision:.4f}"),
            ("recall", f"{metrics.recall:.4f}"), ("F1", f"{metrics.f1:.4f}"),
            ("accuracy", f"{metrics.accuracy:.4f}"), ("ROC AUC", f"{metrics.auc:.4f}")]
    width = max(len(name) for name, _ in rows)
    return "\n".join([f"classifier (held out, positive = {labels[1]})", "-" * (width + 30),
                      *(f"{name:<{width}}  {value}" for name, value in rows)])
