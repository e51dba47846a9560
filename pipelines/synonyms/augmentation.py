"""The stage's core without Beam: whether a document is augmented, and its augmentation.

The augmented document has the lineage of back-translation's: a new stable id (a hash of the
original id, the method and the seed, by backtranslate's `augmented_id`), `augmented_from` and
`augmentation` in meta, the original's other meta kept.
"""

from __future__ import annotations

import hashlib
import random
from typing import Callable, NamedTuple

from fullchain.pipelines.backtranslate.lineage import augmented_id
from fullchain.pipelines.backtranslate.roundtrip import is_augmentation
from fullchain.pipelines.backtranslate.selection import is_selected
from fullchain.pipelines.document import Document
from fullchain.pipelines.synonyms.config import METHOD, SynonymsConfig
from fullchain.pipelines.synonyms.replacement import chinese_candidates, english_candidates, replace_synonyms


class Outcome(NamedTuple):
    """What became of one input document: `status` is one of generated, other_language,
    already_augmented, not_selected, no_candidates; `document` the augmentation when generated."""

    status: str
    document: Document | None = None


def document_rng(doc_id: str, seed: int) -> random.Random:
    """The random source of one document's replacements: a function of its id and the seed only,
    so the output does not depend on the runner, the worker or the order of documents."""
    digest = hashlib.blake2b(f"{METHOD}\x00{seed}\x00{doc_id}".encode("utf-8"), digest_size=8).digest()
    return random.Random(int.from_bytes(digest, "big"))


def augment(doc: Document, cfg: SynonymsConfig, lexicon_of: Callable[[str], object], lang: str | None = None) -> Outcome:
    """The Outcome of `doc` in language `lang` (default: `doc.lang`); `lexicon_of(lang)` gives the
    lexicon of en or zh (loaded only when needed)."""
    lang = doc.lang if lang is None else lang
    if lang not in cfg.languages:
        return Outcome("other_language")
    if is_augmentation(doc):
        return Outcome("already_augmented")
    if not is_selected(doc.id, cfg.seed, cfg.fraction):
        return Outcome("not_selected")
    lexicon = lexicon_of(lang)
    find = english_candidates if lang == "en" else chinese_candidates
    result = replace_synonyms(doc.text, find(doc.text, lexicon), cfg.synonym_ratio, document_rng(doc.id, cfg.seed))
    if not result.replaced:
        return Outcome("no_candidates")
    meta = dict(doc.meta)
    meta.update(augmented_from=doc.id, augmentation=METHOD, synonym_replacements=result.replaced,
                synonym_candidates=result.candidates)
    return Outcome("generated", Document(id=augmented_id(doc.id, METHOD, f"seed{cfg.seed}"), text=result.text,
                                         source=doc.source, lang=lang, meta=meta))
