"""The classifiers inside Beam's RunInference: one ModelHandler that loads every configured classifier
once per worker and scores a batch of texts with each."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from apache_beam.ml.inference.base import ModelHandler, PredictionResult

from fullchain.pipelines.classify.classifiers import ClassifierInfo, LoadedClassifiers
from fullchain.pipelines.classify.config import METRICS_NAMESPACE, ClassifyConfig


class ClassifiersModelHandler(ModelHandler[str, PredictionResult, LoadedClassifiers]):
    """Scores texts with every configured classifier: each PredictionResult's inference is
    {classifier: {label: probability}}.

    Used alone with RunInference, Beam batches up to batch_size texts in arrival order;
    ClassifyDocuments batches by length itself and hands over whole batches.
    """

    def __init__(self, cfg: ClassifyConfig, infos: list[ClassifierInfo]):
        super().__init__(max_batch_size=cfg.batch_size)
        self._cfg = cfg
        self._infos = infos

    def load_model(self) -> LoadedClassifiers:
        """Every classifier from its folder (Hugging Face weights from safetensors only)."""
        return LoadedClassifiers(self._infos, self._cfg)

    def run_inference(self, batch: Sequence[str], model: LoadedClassifiers,
                      inference_args: dict[str, Any] | None = None) -> Iterable[PredictionResult]:
        """One {classifier: {label: probability}} per text."""
        return [PredictionResult(text, scores) for text, scores in zip(batch, model.scores(list(batch)))]

    def get_metrics_namespace(self) -> str:
        """RunInference's own metrics (inference counts, latencies) share the stage's namespace."""
        return METRICS_NAMESPACE
