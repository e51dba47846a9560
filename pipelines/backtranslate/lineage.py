"""The augmented document: a new stable id and metadata naming the document it came from."""

from __future__ import annotations

import hashlib

from fullchain.pipelines.document import Document

METHOD = "backtranslate"


def augmented_id(original_id: str, method: str, pivot_lang: str) -> str:
    """Id of an augmentation: a hash of the original's id, the method and the pivot, 20 hex digits like
    `stable_id`, so re-running the stage gives the same id and augmentations via two pivots differ."""
    digest = hashlib.blake2b(f"{original_id}\x00{method}\x00{pivot_lang}".encode("utf-8"), digest_size=10)
    return digest.hexdigest()


def augmented_document(original: Document, text: str, source_lang: str, pivot_lang: str,
                       similarity: float, scores: dict[str, float] | None = None) -> Document:
    """The round-trip translation of `original` as a new Document; the original's meta is kept and
    `augmented_from`, `augmentation`, `pivot_lang` and `roundtrip_similarity` are added, and with
    `scores` (roundtrip_scores.py) `roundtrip_bleu` and `roundtrip_chrf`."""
    meta = dict(original.meta)
    meta.update(augmented_from=original.id, augmentation=METHOD, pivot_lang=pivot_lang,
                roundtrip_similarity=round(similarity, 4))
    if scores is not None:
        meta.update(roundtrip_bleu=scores["bleu"], roundtrip_chrf=scores["chrf"])
    return Document(id=augmented_id(original.id, METHOD, pivot_lang), text=text, source=original.source,
                    lang=source_lang, meta=meta)
