"""The options of `fullchain classifier train`: which documents, which features, how the model is fitted."""

from __future__ import annotations

from dataclasses import dataclass

from fullchain.pipelines.classify.features import FeatureSpec
from fullchain.pipelines.classify.training import TrainSettings
from fullchain.pipelines.config import option
from fullchain.pipelines.job_config import ReadConfig


@dataclass(kw_only=True)
class ClassifierFeaturesConfig:
    """The hashed n-grams of a trained classifier."""

    word_ngrams: list[int] = option([1, 2], "Word n-gram orders (words are whitespace-separated tokens).")
    char_ngrams: list[int] = option([3, 4, 5], "Character n-gram orders, over the lower-cased text with "
                                               "whitespace runs as one space (covers scripts without spaces).")
    hash_bits: int = option(20, "2 ** hash_bits hash buckets (weights: 4 bytes each; 20 is 4 MiB).")
    max_chars: int = option(0, "Characters of a document read (0: all); bounds the cost of huge documents.")

    def __post_init__(self) -> None:
        self.spec()

    def spec(self) -> FeatureSpec:
        """The FeatureSpec of these options (ValueError for bad orders or sizes)."""
        return FeatureSpec(tuple(self.word_ngrams), tuple(self.char_ngrams), self.hash_bits, self.max_chars)


@dataclass(kw_only=True)
class ClassifierTrainConfig:
    """fullchain classifier train: a hashed n-gram logistic-regression classifier from two sets of documents."""

    positive: str = option("", "Documents of the positive class: globs or folders as a stage's --input "
                               "(e.g. reference text such as the real-text corpus).")
    negative: str = option("", "Documents of the negative class (e.g. crawl junk, template text).")
    output: str = option("", "Folder to write the classifier into (config.json, model.safetensors).")
    positive_label: str = option("positive", "Label name of the positive class (what the stage's thresholds "
                                             "and filter name: '<classifier>.<label>').")
    negative_label: str = option("negative", "Label name of the negative class.")
    features: ClassifierFeaturesConfig = option(ClassifierFeaturesConfig(), "The hashed n-gram features.")
    epochs: int = option(60, "Full-batch Adam steps.")
    learning_rate: float = option(0.2, "Adam step size.")
    l2: float = option(1e-6, "L2 penalty on the weights.")
    holdout_fraction: float = option(0.2, "Share of each set held out to choose the threshold and measure "
                                          "precision, recall and AUC.")
    seed: int = option(0, "Seed of the held-out split; the same inputs and seed give identical weights.")
    read: ReadConfig = option(ReadConfig(), "How input records are read (as every data stage).")

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ValueError(f"epochs must be at least 1, got {self.epochs}")
        if self.learning_rate <= 0:
            raise ValueError(f"learning_rate must be positive, got {self.learning_rate}")
        if self.l2 < 0:
            raise ValueError(f"l2 must not be negative, got {self.l2}")
        if not 0.0 < self.holdout_fraction < 1.0:
            raise ValueError(f"holdout_fraction must be within (0, 1), got {self.holdout_fraction}")
        for name in ("positive_label", "negative_label"):
            if not getattr(self, name) or "." in getattr(self, name):
                raise ValueError(f"{name} must be a non-empty name without '.', got {getattr(self, name)!r}")
        if self.positive_label == self.negative_label:
            raise ValueError(f"positive_label and negative_label must differ, both are {self.positive_label!r}")

    def settings(self) -> TrainSettings:
        """The fitting settings."""
        return TrainSettings(self.epochs, self.learning_rate, self.l2, self.holdout_fraction, self.seed)
