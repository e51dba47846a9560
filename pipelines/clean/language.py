"""Language identification: by Unicode script where the script decides, else with langdetect.

Han-dominant text is Chinese, with Kana Japanese, with Hangul Korean (script.py says what
"dominant" means); its language is decided without langdetect (`method` "script"), and a Chinese
text's variant (simplified or traditional characters) comes from OpenCC (chinese_variant.py).
Everything else (Latin, Cyrillic, Arabic, ..., and CJK mixed below the dominance share) goes to
langdetect (`method` "langdetect"), whose candidates are checked against the script: a
language written in a script the text lacks (Korean without Hangul, Japanese without Kana,
Chinese without Han) is dropped and the others' probabilities rescaled to sum to 1.

langdetect picks n-grams of the text at random and refines language probabilities from them;
langdetect_profiles.py computes the same on langdetect's profiles about three times faster.
langdetect re-seeds its generator for every detection, and so does ProfileDetector, so with a
seed set each document's result depends only on its text, never on what was detected before.
Left at None (langdetect's default) the generator is seeded from the OS and results vary
between runs.
"""

from __future__ import annotations

from typing import NamedTuple

from langdetect.detector_factory import PROFILES_DIRECTORY

from fullchain.pipelines.clean.chinese_variant import ChineseVariant
from fullchain.pipelines.clean.config import LangIdConfig, pipeline_language
from fullchain.pipelines.clean.failure import Failure
from fullchain.pipelines.clean.langdetect_profiles import ProfileDetector
from fullchain.pipelines.clean.script import ScriptCounts, count_scripts, language_by_script, script_allows

UNDETERMINED = "und"

LANG_UNDETERMINED = "lang_undetermined"
LANG_LOW_PROBABILITY = "lang_low_probability"
LANG_NOT_ALLOWED = "lang_not_allowed"
REASONS = (LANG_UNDETERMINED, LANG_LOW_PROBABILITY, LANG_NOT_ALLOWED)

BY_SCRIPT = "script"
BY_LANGDETECT = "langdetect"
_NO_CJK = ScriptCounts(0, 0, 0, 0)


class LanguageGuess(NamedTuple):
    """A detected language: `lang` as the pipeline records it (zh-cn and zh-tw become zh), its
    probability (langdetect's, summed over the variants of that language; for a script decision
    the CJK share of the letter units), the variant (zh-cn or zh-tw for Chinese, else `lang`),
    and the method that decided: BY_SCRIPT or BY_LANGDETECT."""

    lang: str
    probability: float
    variant: str
    method: str = BY_LANGDETECT


UNDETERMINED_GUESS = LanguageGuess(UNDETERMINED, 0.0, UNDETERMINED)


class LanguageIdentifier:
    """Identifies a text's language on its first `cfg.prefix_chars` characters and judges it
    against the allowed languages and minimum probability. Loads langdetect's profiles and
    OpenCC's tables once, here (~0.3 s), so build one per worker (DoFn.setup) and reuse it."""

    def __init__(self, cfg: LangIdConfig):
        self.cfg = cfg
        self._allowed = frozenset(cfg.languages)
        self._langdetect = ProfileDetector(PROFILES_DIRECTORY, cfg.seed, cfg.langdetect_trials)
        self._variant = ChineseVariant()

    def detect(self, text: str) -> LanguageGuess:
        """The language of `text`; `UNDETERMINED_GUESS` when it has no letters langdetect knows."""
        prefix = text[: self.cfg.prefix_chars]
        counts = _NO_CJK if prefix.isascii() else count_scripts(prefix)
        if self.cfg.script_decides:
            lang = language_by_script(counts, self.cfg.script_min_share)
            if lang is not None:
                return self._guess(lang, counts.cjk_share, prefix, BY_SCRIPT)
        ranked = self._langdetect.probabilities(prefix)
        if not ranked:
            return UNDETERMINED_GUESS
        possible = [(code, prob) for code, prob in ranked if not self.cfg.script_decides or script_allows(code, counts)]
        if not possible:
            # langdetect named only languages the text's script rules out: the script's own guess stands
            lang = language_by_script(counts, 0.0)
            return UNDETERMINED_GUESS if lang is None else self._guess(lang, counts.cjk_share, prefix, BY_SCRIPT)
        scale = sum(prob for _, prob in possible)
        lang = pipeline_language(possible[0][0])
        # langdetect splits Chinese between zh-cn and zh-tw; the language's probability is their sum.
        probability = sum(prob for code, prob in possible if pipeline_language(code) == lang) / scale
        return self._guess(lang, min(probability, 1.0), prefix, BY_LANGDETECT)

    def _guess(self, lang: str, probability: float, prefix: str, method: str) -> LanguageGuess:
        variant = self._variant(prefix) if lang == "zh" else lang
        return LanguageGuess(lang, probability, variant, method)

    def rejection(self, guess: LanguageGuess) -> Failure | None:
        """Why a document with this guess is rejected, or None if its language is acceptable.
        `min_probability` judges langdetect's probabilities only: a script decision has already
        required `script_min_share`."""
        min_probability = self.cfg.min_probability if guess.method == BY_LANGDETECT else None
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
