"""RunInference model handlers for the two translation steps (source -> pivot, pivot -> source).

An example is a TranslationRequest; a batch may mix language pairs (several source languages),
so it is translated one pair at a time, in the batch's order. The model and its own tokenizer
are loaded once per worker process (translators.load_model).
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

from apache_beam.ml.inference.base import ModelHandler, PredictionResult

from fullchain.pipelines.backtranslate.chunking import TranslationRequest
from fullchain.pipelines.backtranslate.config import METRICS_NAMESPACE, BacktranslateConfig
from fullchain.pipelines.backtranslate.translators import (
    CausalTranslator, Seq2SeqTranslator, Translator, model_path, translate_nonblank,
)

class _TranslationHandler(ModelHandler[TranslationRequest, str, Translator]):
    """Batches of TranslationRequests -> PredictionResults whose inference is the translated text."""

    def __init__(self, cfg: BacktranslateConfig, direction: str):
        super().__init__()
        self._cfg = cfg
        self._direction = direction

    def run_inference(self, batch: Sequence[TranslationRequest], model: Translator,
                      inference_args: dict[str, Any] | None = None) -> Iterable[PredictionResult]:
        translations: list[str] = [""] * len(batch)
        pairs: dict[tuple[str, str], list[int]] = {}
        for i, request in enumerate(batch):
            pairs.setdefault((request.source_lang, request.target_lang), []).append(i)
        for (source_lang, target_lang), positions in pairs.items():
            texts = [batch[i].text for i in positions]
            for i, text in zip(positions, translate_nonblank(model, texts, source_lang, target_lang)):
                translations[i] = text
        return [PredictionResult(request, text) for request, text in zip(batch, translations)]

    def batch_elements_kwargs(self) -> Mapping[str, Any]:
        # fixed-size batches: BatchElements' adaptive sizing would start at 1 and take many
        # batches to reach a size where generate() is efficient
        return {"min_batch_size": self._cfg.batch_size, "max_batch_size": self._cfg.batch_size}

    def get_metrics_namespace(self) -> str:
        return METRICS_NAMESPACE


class Seq2SeqTranslationHandler(_TranslationHandler):
    """Translation with a seq2seq model's generate() (MarianMT, NLLB, M2M100)."""

    def load_model(self) -> Seq2SeqTranslator:
        # without a backward model, the forward model translates both ways: a multilingual one
        return Seq2SeqTranslator(model_path(self._cfg, self._direction), self._cfg,
                                 multilingual=self._cfg.backward_model is None)


class CausalTranslationHandler(_TranslationHandler):
    """Translation by prompting a causal LM; only the newly generated tokens are decoded."""

    def load_model(self) -> CausalTranslator:
        return CausalTranslator(model_path(self._cfg, self._direction), self._cfg)


class GivenTranslatorHandler(_TranslationHandler):
    """Translation with a translator object given up front (tests, or a user's own translation step)."""

    def __init__(self, cfg: BacktranslateConfig, direction: str, translator: Translator):
        super().__init__(cfg, direction)
        self._translator = translator

    def load_model(self) -> Translator:
        return self._translator


def translation_handler(cfg: BacktranslateConfig, direction: str,
                        translator: Translator | None = None) -> _TranslationHandler:
    """The handler of one direction ('forward' or 'backward') for `cfg.model_kind`, or for `translator`."""
    if translator is not None:
        return GivenTranslatorHandler(cfg, direction, translator)
    if cfg.model_kind == "causal":
        return CausalTranslationHandler(cfg, direction)
    return Seq2SeqTranslationHandler(cfg, direction)
