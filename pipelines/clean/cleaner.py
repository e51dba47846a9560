"""The `fullchain clean` stage core: one document in, a cleaned document or a rejection out.

`DocumentCleaner` applies, in this order (cheap and text-changing steps first, so that every
rule sees the final text and a hopeless document costs as little as possible):

1. too-long guard (`max_chars`): a length comparison, before anything reads the text;
2. mojibake repair, then the binary-data check (`bad_encoding`);
3. normalisation (control characters, NFKC, punctuation, whitespace), then the `empty` check;
3b. personal data (pii.py): counted per kind in meta `pii`; a kind whose policy is reject
   rejects (`pii_<kind>`), the redacted kinds are replaced by placeholders, so every later
   rule sees the redacted text;
4. blocklist;
5. language identification: sets `lang` and meta `lang_method` (script or langdetect),
   `lang_prob` and, for Chinese, `lang_variant` (zh-cn or zh-tw);
6. Gopher quality rules, 7. Gopher repetition rules (both on CJK-aware words);
8. C4 line and page rules, whose output text (removed lines cut out) is the document's new
   text; meta `c4_removed_lines` counts the lines removed.

Rejections carry stage "clean", a reason from REJECTION_REASONS and a detail with the measured
value against the threshold; their document is the input one (original text) with the
language fields filled in once known.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from fullchain.pipelines.clean import c4, gopher, language, pii
from fullchain.pipelines.clean.blocklist import BLOCKLIST, Blocklist
from fullchain.pipelines.clean.c4 import C4Filter
from fullchain.pipelines.clean.config import CleanConfig
from fullchain.pipelines.clean.encoding import BAD_ENCODING, binary_note, repair_mojibake
from fullchain.pipelines.clean.failure import Failure
from fullchain.pipelines.clean.gopher import GopherQuality, GopherRepetition
from fullchain.pipelines.clean.language import UNDETERMINED, LanguageIdentifier
from fullchain.pipelines.clean.normalize import normalize
from fullchain.pipelines.clean.pii import PII_KINDS, REDACT, REJECT, PiiFinder, redact
from fullchain.pipelines.clean.segmentation import cjk_language_by_script, segment, uses_cjk_words
from fullchain.pipelines.document import Document, Rejected

STAGE = "clean"
TOO_LONG = "too_long"
EMPTY = "empty"

REJECTION_REASONS: tuple[str, ...] = (
    TOO_LONG,
    BAD_ENCODING,
    EMPTY,
    *pii.REASONS,
    BLOCKLIST,
    *language.REASONS,
    *gopher.QUALITY_REASONS,
    *gopher.REPETITION_REASONS,
    *c4.REASONS,
)

METRIC_NAMES: tuple[str, ...] = (
    "kept",
    "rejected",
    "c4_removed_lines",
    *(f"rejected_{reason}" for reason in REJECTION_REASONS),
    *(f"pii_found_{kind}" for kind in PII_KINDS),
)


def metric_counts(result: Document | Rejected) -> dict[str, int]:
    """Counter increments for one cleaner result, named from METRIC_NAMES: `kept` with
    `c4_removed_lines` and `pii_found_<kind>` (matches redacted or kept), or `rejected` with
    `rejected_<reason>`."""
    if isinstance(result, Rejected):
        return {"rejected": 1, f"rejected_{result.reason}": 1}
    counts = {"kept": 1, "c4_removed_lines": int(result.meta.get("c4_removed_lines", 0))}
    counts.update({f"pii_found_{kind}": n for kind, n in result.meta.get("pii", {}).items()})
    return counts


def pii_tallies(result: Document | Rejected, policies: dict[str, str]) -> dict[str, int]:
    """The ledger tallies of one cleaner result (docs/CLEAN.md, "PII in the ledger"):
    `pii_documents.<kind>`, 1 for each kind found in the document, kept or rejected; and, for a
    kept document, `pii_redacted.<kind>` / `pii_kept.<kind>`: its spans of the kinds whose policy
    is redact / keep (what the output holds as placeholders, or as found)."""
    doc = result.doc if isinstance(result, Rejected) else result
    found = doc.meta.get("pii", {})
    tallies = {f"pii_documents.{kind}": 1 for kind in found}
    if not isinstance(result, Rejected):
        for kind, n in found.items():
            if policies[kind] != REJECT:
                tallies[f"pii_{'redacted' if policies[kind] == REDACT else 'kept'}.{kind}"] = n
    return tallies


class DocumentCleaner:
    """Cleans documents with the rules of `cfg`. Building one compiles every pattern and loads
    the language profiles (~0.3 s), so build one per worker and call it per document."""

    def __init__(self, cfg: CleanConfig):
        self.cfg = cfg
        self._pii = PiiFinder(PII_KINDS, tuple(cfg.pii.phone_regions)) if cfg.pii.enabled else None
        policies = cfg.pii.policies()
        self._pii_rejected = [kind for kind in PII_KINDS if policies[kind] == REJECT]
        self._pii_redacted = frozenset(kind for kind in PII_KINDS if policies[kind] == REDACT)
        self._blocklist = Blocklist(cfg.blocklist)
        self._langid = LanguageIdentifier(cfg.langid) if cfg.langid.enabled else None
        self._quality = GopherQuality(cfg.gopher_quality) if cfg.gopher_quality.enabled else None
        self._repetition = GopherRepetition(cfg.gopher_repetition) if cfg.gopher_repetition.enabled else None
        self._c4 = C4Filter(cfg.c4) if cfg.c4.enabled else None

    def __call__(self, doc: Document) -> Document | Rejected:
        """The cleaned document (new text, `lang`, meta) or the rejection of `doc`."""
        cfg = self.cfg
        text = doc.text
        if cfg.max_chars is not None and len(text) > cfg.max_chars:
            return _reject(doc, doc.lang, doc.meta, Failure(TOO_LONG, f"{len(text)} characters > {cfg.max_chars}"))

        meta: dict[str, Any] = dict(doc.meta)
        if cfg.repair_mojibake:
            repaired = repair_mojibake(text)
            if repaired != text:
                meta["mojibake_repaired"] = True
                text = repaired
        binary = binary_note(text, cfg.max_control_fraction)
        if binary is not None:
            return _reject(doc, doc.lang, meta, Failure(BAD_ENCODING, binary))

        norm = cfg.normalize
        text = normalize(
            text, nfkc=norm.nfkc, unify_punctuation=norm.unify_punctuation, whitespace=norm.normalize_whitespace
        )
        if not text.strip():
            return _reject(doc, doc.lang, meta, Failure(EMPTY, "no text left after normalisation"))

        if self._pii is not None:
            matches = self._pii(text)
            if matches:
                found = {kind: n for kind in PII_KINDS if (n := sum(m.kind == kind for m in matches))}
                meta["pii"] = found
                rejecting = next((kind for kind in self._pii_rejected if kind in found), None)
                if rejecting is not None:
                    # the detail names the kind and count, never the personal data itself
                    detail = f"{found[rejecting]} {rejecting} match(es); policy reject"
                    return _reject(doc, doc.lang, meta, Failure(f"pii_{rejecting}", detail))
                text = redact(text, matches, self._pii_redacted)

        if self._blocklist.enabled:
            failure = self._blocklist(text)
            if failure is not None:
                return _reject(doc, doc.lang, meta, failure)

        lang = doc.lang
        if self._langid is not None:
            guess = self._langid.detect(text)
            lang = guess.lang
            meta["lang_method"] = guess.method
            meta["lang_prob"] = round(guess.probability, 4)
            if guess.variant != guess.lang:
                meta["lang_variant"] = guess.variant
            failure = self._langid.rejection(guess)
            if failure is not None:
                return _reject(doc, lang, meta, failure)

        # Without a usable language (langid off and none in the input) the script decides
        # between CJK and spaced words, and picks the zh/ja stop words for CJK text.
        rule_lang = lang if lang and lang != UNDETERMINED else cjk_language_by_script(text)
        cjk = uses_cjk_words(rule_lang, text)
        if self._quality is not None or self._repetition is not None:
            seg = segment(text, cjk)
            failure = (self._quality(seg, rule_lang) if self._quality is not None else None) or (
                self._repetition(seg) if self._repetition is not None else None
            )
            if failure is not None:
                return _reject(doc, lang, meta, failure)

        if self._c4 is not None:
            result = self._c4(text, cjk)
            meta["c4_removed_lines"] = result.removed_lines
            if result.failure is not None:
                return _reject(doc, lang, meta, result.failure)
            text = result.text

        return dataclasses.replace(doc, text=text, lang=lang, meta=meta)


def _reject(doc: Document, lang: str, meta: dict[str, Any], failure: Failure) -> Rejected:
    as_read = dataclasses.replace(doc, lang=lang, meta=meta)
    return Rejected(doc=as_read, stage=STAGE, reason=failure.reason, detail=failure.detail)
