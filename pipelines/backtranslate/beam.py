"""The backtranslate stage in Beam: `Backtranslate(cfg)` over a PCollection of Documents.

Every original is kept unchanged. The seeded share of source-language documents is cut into
chunks keyed by (document key, position, separator); the chunks of all documents go through
RunInference source -> pivot, then pivot -> source, batched across documents; CoGroupByKey
brings each document's chunks back to it, in order, and the gate judges the reassembled round
trip. Counters are in the Beam metrics namespace `fullchain.backtranslate`, next to
RunInference's own.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.pvalue import TaggedOutput

from fullchain.pipelines.backtranslate.chunking import TranslationRequest, chunk_text, reassemble
from fullchain.pipelines.backtranslate.config import METRICS_NAMESPACE, BacktranslateConfig
from fullchain.pipelines.backtranslate.gate import REASONS, RoundTripGate
from fullchain.pipelines.backtranslate.roundtrip import (
    is_augmentation, judged_augmentation, source_language, wants_augmentation,
)
from fullchain.pipelines.backtranslate.roundtrip_scores import SCORES, roundtrip_measures
from fullchain.pipelines.clean.config import LangIdConfig
from fullchain.pipelines.clean.language import LanguageIdentifier
from fullchain.pipelines.document import Document, Rejected
from fullchain.pipelines.stage_outputs import StageOutputs

if TYPE_CHECKING:
    from fullchain.pipelines.backtranslate.translators import Translator

STAGE = "backtranslate"
REJECTION_REASONS = REASONS
METRIC_NAMES: tuple[str, ...] = (
    "input",  # documents in
    "other_language",  # passed through: not one of source_languages
    "already_augmented",  # passed through: made by an augmentation stage
    "selected",  # chosen for augmentation
    "chunks",  # pieces translated (each twice)
    "generated",  # augmentations made (= added)
    "augmented_kept",  # augmentations that passed the gate
    *REASONS,  # augmentations rejected, by reason
)

_SELECTED = "selected"
_ADDED = "added"
_REJECTED = "rejected"


def document_key(doc: Document) -> str:
    """The key joining a document with its chunks: the id plus a digest of the text, so two
    documents that share an id (the stage does not require unique ids) never swap chunks."""
    return f"{doc.id}\x00{hashlib.blake2b(doc.text.encode('utf-8'), digest_size=8).hexdigest()}"


class _RouteDoFn(beam.DoFn):
    """Passes every document on; also emits the selected ones, keyed, with their source language."""

    def __init__(self, cfg: BacktranslateConfig):
        self._cfg = cfg

    def setup(self):
        self._langid = None
        self._counters = {name: Metrics.counter(METRICS_NAMESPACE, name)
                          for name in ("input", "other_language", "already_augmented", "selected")}

    def process(self, doc: Document):
        self._counters["input"].inc()
        if not doc.lang and self._langid is None:
            # only documents that skipped clean lack a language; most inputs never pay for the profiles
            self._langid = LanguageIdentifier(LangIdConfig(languages=[], min_probability=None))
        lang = source_language(doc, self._langid)
        yield doc
        if lang not in self._cfg.source_languages:
            self._counters["other_language"].inc()
        elif is_augmentation(doc):
            self._counters["already_augmented"].inc()
        elif wants_augmentation(doc, lang, self._cfg):
            self._counters["selected"].inc()
            yield TaggedOutput(_SELECTED, (document_key(doc), (doc, lang)))


class _ChunkDoFn(beam.DoFn):
    """A selected document -> its chunks as ((document key, position, separator), TranslationRequest)."""

    def __init__(self, cfg: BacktranslateConfig, translator: Translator | None):
        self._cfg = cfg
        self._translator = translator

    def setup(self):
        from fullchain.pipelines.backtranslate.translators import TokenCounter

        # the forward model's tokenizer alone: the weights are loaded by RunInference
        self._count_tokens = (self._translator.count_tokens if self._translator is not None
                              else TokenCounter(self._cfg.forward_model))
        self._chunks = Metrics.counter(METRICS_NAMESPACE, "chunks")

    def process(self, keyed):
        key, (doc, lang) = keyed
        chunks = chunk_text(doc.text, self._count_tokens, self._cfg.max_input_tokens)
        self._chunks.inc(len(chunks))
        for position, chunk in enumerate(chunks):
            yield (key, position, chunk.separator), TranslationRequest(chunk.text, lang, self._cfg.pivot_lang)


def _back_to_source(keyed_result):
    key, result = keyed_result
    request = result.example
    return key, TranslationRequest(result.inference, request.target_lang, request.source_lang)


def _by_document(keyed_result):
    (key, position, separator), result = keyed_result
    return key, (position, separator, result.inference)


class _JudgeDoFn(beam.DoFn):
    """A document and its translated chunks -> the augmentation (output `added`), and it again as
    kept (main output) or as Rejected (output `rejected`)."""

    def __init__(self, cfg: BacktranslateConfig):
        self._cfg = cfg

    def setup(self):
        self._gate = RoundTripGate(self._cfg.gate)
        self._counters = {name: Metrics.counter(METRICS_NAMESPACE, name)
                          for name in ("generated", "augmented_kept", *REASONS)}
        self._similarity = Metrics.distribution(METRICS_NAMESPACE, "roundtrip_chrf_permille")
        # sacrebleu's sentence scores (0-100), in hundredths: Beam distributions hold integers
        self._scores = {name: Metrics.distribution(METRICS_NAMESPACE, f"roundtrip_sacrebleu_{name}_x100")
                        for name in ("bleu", "chrf")}

    def process(self, grouped):
        _, sides = grouped
        # one entry per position: documents with the same id and text produced the same chunks twice
        chunks = sorted({position: (position, sep, text) for position, sep, text in sides["chunks"]}.values())
        roundtrip = reassemble([text for _, _, text in chunks], [sep for _, sep, _ in chunks])
        for doc, lang in sides["doc"]:
            augmentation = judged_augmentation(doc, roundtrip, lang, self._cfg, self._gate)
            self._counters["generated"].inc()
            self._similarity.update(round(1000 * augmentation.decision.similarity))
            for name, distribution in self._scores.items():
                distribution.update(round(100 * augmentation.document.meta[f"roundtrip_{name}"]))
            yield TaggedOutput(_ADDED, augmentation.document)
            reason = augmentation.decision.reason
            if reason is None:
                self._counters["augmented_kept"].inc()
                yield augmentation.document
            else:
                self._counters[reason].inc()
                yield TaggedOutput(_REJECTED, Rejected(augmentation.document, STAGE, reason,
                                                       augmentation.decision.detail))


class Backtranslate(beam.PTransform):
    """PCollection[Document] -> StageOutputs(kept, rejected, added).

    kept: every input document unchanged, plus the augmentations that passed the gate.
    rejected: the augmentations that failed it (stage backtranslate, reasons in gate.REASONS).
    added: every augmentation generated. measures: each augmentation's sacrebleu round-trip BLEU
    and chrF (`roundtrip_bleu`, `roundtrip_chrf`), kept or rejected. `translator` replaces the configured models (tests,
    or a custom translation step); it must be picklable.
    """

    def __init__(self, cfg: BacktranslateConfig, translator: Translator | None = None):
        super().__init__()
        self._cfg = cfg
        self._translator = translator

    def _translate(self, direction: str) -> beam.PTransform:
        # Beam's ML stack and transformers import torch (~4 s): only a job that runs this stage pays
        # for it, not every command that builds the table of stages.
        from apache_beam.ml.inference.base import KeyedModelHandler, RunInference

        from fullchain.pipelines.backtranslate.handlers import translation_handler

        handler = KeyedModelHandler(translation_handler(self._cfg, direction, self._translator))
        return RunInference(handler, metrics_namespace=METRICS_NAMESPACE)

    def expand(self, docs) -> StageOutputs:
        routed = docs | "Route" >> beam.ParDo(_RouteDoFn(self._cfg)).with_outputs(_SELECTED, main="all")
        # selection keeps input order within a file's bundle; spread the selected documents over the workers
        selected = routed[_SELECTED] | "SpreadSelected" >> beam.Reshuffle()
        translated = (
            selected
            | "Chunk" >> beam.ParDo(_ChunkDoFn(self._cfg, self._translator))
            | "ToPivot" >> self._translate("forward")
            | "PivotToSource" >> beam.Map(_back_to_source)
            | "BackToSource" >> self._translate("backward")
            | "ByDocument" >> beam.Map(_by_document)
        )
        judged = (
            {"doc": selected, "chunks": translated}
            | "Regroup" >> beam.CoGroupByKey()
            | "Judge" >> beam.ParDo(_JudgeDoFn(self._cfg)).with_outputs(_ADDED, _REJECTED, main="accepted")
        )
        kept = (routed["all"], judged["accepted"]) | "Kept" >> beam.Flatten()
        measures = judged[_ADDED] | "RoundTripScores" >> beam.FlatMap(lambda doc: roundtrip_measures(doc.meta))
        return StageOutputs(kept, judged[_REJECTED], judged[_ADDED], measures=measures)
