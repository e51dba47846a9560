"""Training the hashed n-gram classifier: a seeded train/held-out split, then L2-regularised logistic
regression by full-batch Adam on the sparse features. Pure numpy, deterministic: the same texts,
settings and seed give bit-identical weights (every reduction runs in a fixed order)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fullchain.pipelines.classify.features import FeatureSpec, SparseMatrix, featurize, row_dots, stack
from fullchain.pipelines.classify.metrics import BinaryMetrics, best_f1_threshold, metrics_at


@dataclass(frozen=True)
class TrainSettings:
    """How the linear model is fitted."""

    epochs: int = 60
    learning_rate: float = 0.2
    l2: float = 1e-6
    holdout_fraction: float = 0.2
    seed: int = 0


@dataclass
class LinearModel:
    """Logistic regression over hashed features: P(positive | text) = sigmoid(w . x + bias)."""

    spec: FeatureSpec
    weights: np.ndarray  # float32, spec.dim
    bias: float

    def logits(self, matrix: SparseMatrix) -> np.ndarray:
        """w . x + bias of every row (float64)."""
        return row_dots(matrix, self.weights) + self.bias

    def probabilities(self, texts: list[str]) -> np.ndarray:
        """P(positive) of each text."""
        return sigmoid(self.logits(stack([featurize(t, self.spec) for t in texts])))


@dataclass
class TrainedClassifier:
    """A fitted model, its held-out metrics at the chosen threshold and scores (with their 0/1
    labels), and the sizes of the split."""

    model: LinearModel
    metrics: BinaryMetrics
    train_positives: int
    train_negatives: int
    heldout_scores: np.ndarray
    heldout_labels: np.ndarray


def sigmoid(z: np.ndarray) -> np.ndarray:
    """1 / (1 + e^-z), without overflow warnings for large |z|."""
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def holdout_split(n: int, fraction: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(train indices, held-out indices) of n items: a seeded shuffle, the first `fraction` held out
    (at least one item each side when n >= 2)."""
    order = rng.permutation(n)
    held = min(max(int(round(n * fraction)), 1 if n >= 2 else 0), n - 1) if n else 0
    return np.sort(order[held:]), np.sort(order[:held])


def fit(matrix: SparseMatrix, labels: np.ndarray, spec: FeatureSpec, settings: TrainSettings) -> LinearModel:
    """Logistic regression on CSR `matrix` rows with 0/1 `labels`: full-batch Adam on the mean
    log-loss plus l2 * |w|^2 / 2, classes weighted to equal total weight so an unbalanced pair of
    sets does not just learn the majority."""
    n = matrix.rows
    positives = labels.sum()
    sample_weight = np.where(labels == 1, n / (2 * max(positives, 1)), n / (2 * max(n - positives, 1))) / n
    row_of_entry = np.repeat(np.arange(n), np.diff(matrix.indptr))
    weights = np.zeros(spec.dim, dtype=np.float64)
    bias = 0.0
    m, v = np.zeros_like(weights), np.zeros_like(weights)
    mb = vb = 0.0
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    for step in range(1, settings.epochs + 1):
        error = (sigmoid(row_dots(matrix, weights) + bias) - labels) * sample_weight
        grad = np.bincount(matrix.indices, weights=error[row_of_entry] * matrix.values, minlength=spec.dim)
        grad += settings.l2 * weights
        grad_bias = float(error.sum())
        m = beta1 * m + (1 - beta1) * grad
        v = beta2 * v + (1 - beta2) * grad * grad
        mb = beta1 * mb + (1 - beta1) * grad_bias
        vb = beta2 * vb + (1 - beta2) * grad_bias * grad_bias
        correction = np.sqrt(1 - beta2 ** step) / (1 - beta1 ** step)
        weights -= settings.learning_rate * correction * m / (np.sqrt(v) + eps)
        bias -= settings.learning_rate * correction * mb / (np.sqrt(vb) + eps)
    return LinearModel(spec, weights.astype(np.float32), float(bias))


def train_classifier(positive_texts: list[str], negative_texts: list[str], spec: FeatureSpec,
                     settings: TrainSettings, progress=None) -> TrainedClassifier:
    """Split each set (seeded), fit on the training part, choose the F1-best threshold on the
    held-out part and measure there. `progress`, when given, is called once per featurised text.
    ValueError when a set has fewer than 2 texts (nothing to hold out)."""
    for name, texts in (("positive", positive_texts), ("negative", negative_texts)):
        if len(texts) < 2:
            raise ValueError(f"the {name} set has {len(texts)} document(s); at least 2 are needed "
                             f"(one to train on, one to hold out)")
    rng = np.random.default_rng(settings.seed)
    texts = [*positive_texts, *negative_texts]
    labels = np.concatenate([np.ones(len(positive_texts)), np.zeros(len(negative_texts))])
    train_parts, held_parts = [], []
    for cls in (1, 0):
        members = np.flatnonzero(labels == cls)
        train, held = holdout_split(len(members), settings.holdout_fraction, rng)
        train_parts.append(members[train])
        held_parts.append(members[held])
    train_idx, held_idx = np.concatenate(train_parts), np.concatenate(held_parts)
    vectors = []
    for text in texts:
        vectors.append(featurize(text, spec))
        if progress is not None:
            progress()
    model = fit(stack([vectors[i] for i in train_idx]), labels[train_idx], spec, settings)
    held_scores = sigmoid(model.logits(stack([vectors[i] for i in held_idx])))
    threshold = best_f1_threshold(held_scores, labels[held_idx])
    return TrainedClassifier(model, metrics_at(held_scores, labels[held_idx], threshold),
                             int(labels[train_idx].sum()), int(len(train_idx) - labels[train_idx].sum()),
                             held_scores, labels[held_idx])
