"""The round-trip gate: is a back-translation a useful new document?

Kept only if it is non-empty, in the original's language, and similar to the original within
[min_similarity, max_similarity] by chrF: above the band it is a near copy, below it the
meaning drifted (or the model produced something else).
"""

from __future__ import annotations

from typing import NamedTuple

from fullchain.pipelines.backtranslate.config import GateConfig
from fullchain.pipelines.backtranslate.similarity import chrf
from fullchain.pipelines.clean.config import LangIdConfig
from fullchain.pipelines.clean.language import LanguageIdentifier

ROUNDTRIP_EMPTY = "roundtrip_empty"
ROUNDTRIP_LANGUAGE = "roundtrip_language"
ROUNDTRIP_TOO_SIMILAR = "roundtrip_too_similar"
ROUNDTRIP_DRIFTED = "roundtrip_drifted"
REASONS = (ROUNDTRIP_EMPTY, ROUNDTRIP_LANGUAGE, ROUNDTRIP_TOO_SIMILAR, ROUNDTRIP_DRIFTED)


class GateDecision(NamedTuple):
    """The gate's verdict: `reason` is None when kept; `detail` gives the measured values."""

    reason: str | None
    detail: str
    similarity: float


class RoundTripGate:
    """Judges round trips. Loads langdetect's profiles once (~0.3 s): build one per worker."""

    def __init__(self, cfg: GateConfig):
        self.cfg = cfg
        self._langid = LanguageIdentifier(LangIdConfig(languages=[], min_probability=None,
                                                       prefix_chars=cfg.langid_prefix_chars, seed=cfg.langid_seed))

    def judge(self, original: str, roundtrip: str, source_lang: str) -> GateDecision:
        """The verdict on `roundtrip`, the back-translation of `original` (in `source_lang`)."""
        if not roundtrip.strip():
            return GateDecision(ROUNDTRIP_EMPTY, "the round trip produced no text", 0.0)
        similarity = chrf(roundtrip, original)
        measured = f"chrF {similarity:.3f}"
        if self.cfg.check_language:
            guess = self._langid.detect(roundtrip)
            if guess.lang != source_lang and guess.variant != source_lang:
                return GateDecision(ROUNDTRIP_LANGUAGE, f"detected {guess.variant} (p={guess.probability:.3f}), "
                                                        f"expected {source_lang}; {measured}", similarity)
        if similarity > self.cfg.max_similarity:
            return GateDecision(ROUNDTRIP_TOO_SIMILAR, f"{measured} > max_similarity {self.cfg.max_similarity}",
                                similarity)
        if similarity < self.cfg.min_similarity:
            return GateDecision(ROUNDTRIP_DRIFTED, f"{measured} < min_similarity {self.cfg.min_similarity}",
                                similarity)
        return GateDecision(None, f"{measured} within [{self.cfg.min_similarity}, {self.cfg.max_similarity}]",
                            similarity)
