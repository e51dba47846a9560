"""The classifiers a classify config names: what each folder is (a trained one or a Hugging Face
one), the checks run before a job (kind, labels named in thresholds and filter), and loading them
on a worker."""

from __future__ import annotations

from dataclasses import dataclass

from fullchain.pipelines.classify.config import ClassifyConfig, split_label_key
from fullchain.pipelines.classify.hashed_model import (
    ClassifierFolderError, check_hashed_classifier, is_hashed_classifier, load_hashed_classifier, read_folder_config,
)
from fullchain.pipelines.config import ModelCheckError

HASHED, HUGGING_FACE = "hashed-ngram", "hugging-face"
# a label without a configured threshold, of a Hugging Face model or a trained model's negative label
DEFAULT_THRESHOLD = 0.5


@dataclass(frozen=True)
class ClassifierInfo:
    """One configured classifier as the judge needs it: kind, labels, and each label's threshold."""

    name: str
    folder: str
    kind: str
    labels: tuple[str, ...]
    thresholds: dict[str, float]


def classifier_infos(cfg: ClassifyConfig, full_check: bool = False) -> list[ClassifierInfo]:
    """Every configured classifier, in config order, with thresholds resolved (the config's, else a
    trained folder's own for its positive label, else 0.5). Raises ModelCheckError (one line) for a
    folder of the wrong kind or a label the model does not have. `full_check` also verifies weights
    and tokenizers (the preflight before a job); without it only config files are read."""
    from fullchain.pipelines.classify.hf_classifier import check_hf_classifier, hf_classifier_info

    if not cfg.classifiers:
        raise ModelCheckError("classify.classifiers is empty: name at least one classifier folder "
                              "(name: folder)")
    infos = []
    for name, folder in cfg.classifiers.items():
        option = f"classify.classifiers.{name}"
        try:
            config = read_folder_config(folder)
            if is_hashed_classifier(config):
                labels = check_hashed_classifier(folder, config)
                kind, own = HASHED, {config["positive_label"]: float(config["threshold"])}
        except ClassifierFolderError as e:
            raise ModelCheckError(f"{option}: {e}") from None
        if not is_hashed_classifier(config):
            check = check_hf_classifier(option, folder) if full_check else hf_classifier_info(
                option, folder)
            kind, labels, own = HUGGING_FACE, check.labels, {}
        thresholds = {label: own.get(label, DEFAULT_THRESHOLD) for label in labels}
        infos.append(ClassifierInfo(name, folder, kind, tuple(labels), thresholds))
    by_name = {info.name: info for info in infos}
    for option_name, entries in (("thresholds", cfg.thresholds), ("filter", cfg.filter)):
        for key in entries:
            name, label = split_label_key(key)
            if label not in by_name[name].labels:
                raise ModelCheckError(f"classify.{option_name}: {key!r}: classifier {name!r} ({by_name[name].folder}) "
                                      f"has no label {label!r} (labels: {', '.join(by_name[name].labels)})")
            if option_name == "thresholds":
                by_name[name].thresholds[label] = cfg.thresholds[key]
    return infos


def check_classifiers(cfg: ClassifyConfig) -> list[ClassifierInfo]:
    """The preflight of a classify job: classifier_infos with weights and tokenizers verified."""
    return classifier_infos(cfg, full_check=True)


class LoadedClassifiers:
    """Every configured classifier loaded on one worker; `scores` runs them all on one batch."""

    def __init__(self, infos: list[ClassifierInfo], cfg: ClassifyConfig):
        from fullchain.pipelines.classify.hf_classifier import HFClassifier

        self._models = {info.name: (load_hashed_classifier(info.folder) if info.kind == HASHED
                                    else HFClassifier(info.folder, cfg.max_tokens, cfg.device)) for info in infos}

    def scores(self, texts: list[str]) -> list[dict[str, dict[str, float]]]:
        """{classifier: {label: probability}} of each text."""
        per_model = {name: model.scores(texts) for name, model in self._models.items()}
        return [{name: per_model[name][i] for name in per_model} for i in range(len(texts))]
