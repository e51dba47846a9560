"""The stage's core without Beam: which documents to augment, and the augmented document made of a
round trip with the gate's verdict. The Beam layer (beam.py) chunks the selected documents and
translates the chunks of many documents batched together (handlers.py)."""

from __future__ import annotations

from typing import NamedTuple

from fullchain.pipelines.backtranslate.config import BacktranslateConfig
from fullchain.pipelines.backtranslate.gate import GateDecision, RoundTripGate
from fullchain.pipelines.backtranslate.lineage import augmented_document
from fullchain.pipelines.backtranslate.roundtrip_scores import roundtrip_scores
from fullchain.pipelines.backtranslate.selection import is_selected
from fullchain.pipelines.clean.language import LanguageIdentifier
from fullchain.pipelines.document import Document


class Augmentation(NamedTuple):
    """A generated document and the gate's verdict on it (`decision.reason` None: kept)."""

    document: Document
    decision: GateDecision


def source_language(doc: Document, langid: LanguageIdentifier | None) -> str:
    """The document's language: `lang` as clean set it, else detected (when an identifier is given)."""
    if doc.lang or langid is None:
        return doc.lang
    return langid.detect(doc.text).lang


def is_augmentation(doc: Document) -> bool:
    """Whether `doc` was made by an augmentation stage; it is never augmented again, so re-running
    the stage on its own output adds nothing new."""
    return "augmented_from" in doc.meta


def wants_augmentation(doc: Document, lang: str, cfg: BacktranslateConfig) -> bool:
    """Whether `doc` (in `lang`) is one of the seeded share of source-language originals to augment."""
    return lang in cfg.source_languages and not is_augmentation(doc) and is_selected(doc.id, cfg.seed, cfg.fraction)


def judged_augmentation(original: Document, roundtrip: str, source_lang: str, cfg: BacktranslateConfig,
                        gate: RoundTripGate) -> Augmentation:
    """The augmented document made of the back-translation `roundtrip` of `original`, and its verdict."""
    decision = gate.judge(original.text, roundtrip, source_lang)
    scores = roundtrip_scores(roundtrip, original.text, source_lang)
    return Augmentation(augmented_document(original, roundtrip, source_lang, cfg.pivot_lang, decision.similarity,
                                           scores), decision)
