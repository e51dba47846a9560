"""Language identification with langdetect, deterministic and bounded in cost.

langdetect picks n-grams of the text at random and refines language probabilities from them.
`Detector.__init__` copies `DetectorFactory.seed` and `_detect_block` calls
`self.random.seed(self.seed)` on a fresh `random.Random` for every detection, so with a seed
set each document's result depends only on its text, never on what was detected before.
Left at None (langdetect's default) the generator is seeded from the OS and results vary
between runs. The seed is set on this identifier's own factory, not on langdetect's global one.
"""

from __future__ import annotations

from typing import NamedTuple

from langdetect.detector_factory import PROFILES_DIRECTORY, DetectorFactory
from langdetect.lang_detect_exception import LangDetectException

from fullchain.pipelines.clean.config import LangIdConfig, pipeline_language
from fullchain.pipelines.clean.failure import Failure

UNDETERMINED = "und"

LANG_UNDETERMINED = "lang_undetermined"
LANG_LOW_PROBABILITY = "lang_low_probability"
LANG_NOT_ALLOWED = "lang_not_allowed"
REASONS = (LANG_UNDETERMINED, LANG_LOW_PROBABILITY, LANG_NOT_ALLOWED)


class LanguageGuess(NamedTuple):
    """A detected language: `lang` as the pipeline records it (zh-cn and zh-tw become zh), the
    probability summed over the variants of that language, and the top variant langdetect named."""

    lang: str
    probability: float
    variant: str


UNDETERMINED_GUESS = LanguageGuess(UNDETERMINED, 0.0, UNDETERMINED)


class LanguageIdentifier:
    """Detects a text's language on its first `cfg.prefix_chars` characters and judges it
    against the allowed languages and minimum probability. Loads langdetect's profiles once,
    here (~0.3 s), so build one per worker (DoFn.setup) and reuse it."""

    def __init__(self, cfg: LangIdConfig):
        self.cfg = cfg
        self._allowed = frozenset(cfg.languages)
        self._factory = DetectorFactory()
        self._factory.load_profile(PROFILES_DIRECTORY)
        self._factory.set_seed(cfg.seed)

    def detect(self, text: str) -> LanguageGuess:
        """The language of `text`; `UNDETERMINED_GUESS` when it has no letters langdetect knows."""
        detector = self._factory.create()
        detector.append(text[: self.cfg.prefix_chars])
        try:
            ranked = detector.get_probabilities()
        except LangDetectException:
            return UNDETERMINED_GUESS
        if not ranked:
            return UNDETERMINED_GUESS
        variant = ranked[0].lang
        lang = pipeline_language(variant)
        # langdetect splits Chinese between zh-cn and zh-tw; the language's probability is their sum.
        probability = sum(item.prob for item in ranked if pipeline_language(item.lang) == lang)
        return LanguageGuess(lang, min(probability, 1.0), variant)

    def rejection(self, guess: LanguageGuess) -> Failure | None:
        """Why a document with this guess is rejected, or None if its language is acceptable."""
        min_probability = self.cfg.min_probability
        if guess.lang == UNDETERMINED and (self._allowed or min_probability is not None):
            return Failure(LANG_UNDETERMINED, "no language detected")
        if min_probability is not None and guess.probability < min_probability:
            return Failure(
                LANG_LOW_PROBABILITY,
                f"{guess.lang} probability {guess.probability:.3f} < {min_probability}",
            )
        if self._allowed and guess.lang not in self._allowed and guess.variant not in self._allowed:
            return Failure(
                LANG_NOT_ALLOWED,
                f"{guess.variant} (p={guess.probability:.3f}) not in {sorted(self._allowed)}",
            )
        return None
