"""langdetect's detector (Shuyo, 2010) on its own profiles, with the per-character Python work done
by str.translate, regular expressions and NumPy.

langdetect spends ~2 ms of CPU on a 500-character text, 80% of clean's time: it normalises and
windows the text one character at a time (`NGram.add_char`) and multiplies 55 language
probabilities in a Python loop for every sampled n-gram. This module computes the same thing:

- the same text preparation (URLs and e-mail addresses blanked, Vietnamese diacritics folded,
  runs of spaces collapsed, Latin letters dropped from text that is mostly non-Latin);
- the same n-grams in the same order: `NGram.normalize` of every BMP character is tabulated once
  into a translation table, and the 1-3-grams of each word (padded with spaces as langdetect's
  buffer is) are read off by slicing, skipping the positions langdetect's `capitalword` skips
  (an upper-case letter after an upper-case letter);
- the same random sampling: a `random.Random` seeded per text, one gauss per trial and one
  `choice` per update, so every trial draws the n-grams langdetect draws;
- the same updates, five at a time: langdetect checks convergence after the first update and
  then after every fifth, so the five factors between two checks are multiplied as one NumPy
  product. Only the rounding differs (association of the products, pairwise sums): probabilities
  agree with langdetect's to about 1e-12 (tests/clean/test_langdetect_profiles.py compares them).
"""

from __future__ import annotations

import functools
import random
import re

import numpy as np
from langdetect.detector import Detector
from langdetect.detector_factory import DetectorFactory
from langdetect.utils.ngram import NGram

_SPACES = re.compile(" {2,}")
_LATIN = re.compile("[A-z]")
# langdetect's cleaning_text counts characters >= U+0300 outside Latin Extended Additional
_NON_LATIN = re.compile("[\u0300-\u1dff\u1f00-\U0010ffff]")
_NOT_LATIN_LETTER = re.compile("[A-z]+")
# words are few and repeat: their n-gram rows are kept, up to this many words (~30 MB)
_CACHED_WORDS = 200_000


@functools.cache
def _normalization_table() -> dict[int, str]:
    """NGram.normalize of every BMP character that it changes (it leaves the others as they are)."""
    table = {}
    for code in range(0x10000):
        ch = chr(code)
        normalized = NGram.normalize(ch)
        if normalized != ch:
            table[code] = normalized
    return table


class ProfileDetector:
    """langdetect's language probabilities for a text, from langdetect's bundled profiles.

    Loads the profiles (~0.5 s) into one matrix (n-grams x languages) and drops langdetect's
    dictionary of lists, so build one per worker and reuse it."""

    def __init__(self, profiles_directory: str, seed: int | None, trials: int):
        factory = DetectorFactory()
        factory.load_profile(profiles_directory)
        self.languages: tuple[str, ...] = tuple(factory.langlist)
        words = factory.word_lang_prob_map
        self._row = {word: i for i, word in enumerate(words)}
        self._probabilities = np.array(list(words.values()), dtype=np.float64)
        self._seed = seed
        self._trials = trials
        self._normalize = str.maketrans(_normalization_table())
        self._cache: dict[str, tuple[int, ...]] = {}

    def probabilities(self, text: str) -> list[tuple[str, float]]:
        """(language, probability) above langdetect's 0.1 report threshold, most probable first;
        empty when the text has no n-gram the profiles know (langdetect raises then)."""
        rows = self._ngram_rows(_prepared(text))
        if not rows:
            return []
        rng = random.Random()
        rng.seed(self._seed)
        total = np.zeros(len(self.languages))
        for _ in range(self._trials):
            total += self._trial(rows, rng) / self._trials
        ranked = [(lang, float(p)) for lang, p in zip(self.languages, total) if p > Detector.PROB_THRESHOLD]
        # a stable sort, descending, as langdetect's list.sort(reverse=True) on Language objects
        ranked.sort(key=lambda item: item[1], reverse=True)
        return ranked

    def _trial(self, rows: list[int], rng: random.Random) -> np.ndarray:
        prob = np.full(len(self.languages), 1.0 / len(self.languages))
        weight = (Detector.ALPHA_DEFAULT + rng.gauss(0.0, 1.0) * Detector.ALPHA_WIDTH) / Detector.BASE_FREQ
        prob *= weight + self._probabilities[rng.choice(rows)]
        prob /= prob.sum()
        i = 0
        while prob.max() <= Detector.CONV_THRESHOLD and i < Detector.ITERATION_LIMIT:
            picks = [rng.choice(rows) for _ in range(5)]
            prob *= (weight + self._probabilities[picks]).prod(axis=0)
            prob /= prob.sum()
            i += 5
        return prob

    def _ngram_rows(self, text: str) -> list[int]:
        """Profile rows of the text's 1-3-grams in langdetect's order (NGram.add_char's buffer)."""
        rows: list[int] = []
        words = text.translate(self._normalize).split(" ")
        last = len(words) - 1
        for k, word in enumerate(words):
            if word:
                # the buffer starts with a space; a word followed by a space ends with it in the buffer
                rows.extend(self._word_rows(" " + word + (" " if k < last else "")))
        return rows

    def _word_rows(self, padded: str) -> tuple[int, ...]:
        cached = self._cache.get(padded)
        if cached is not None:
            return cached
        row = self._row
        rows = []
        for j in range(1, len(padded)):
            ch = padded[j]
            if ch.isupper() and padded[j - 1].isupper():
                continue
            for gram in (ch, padded[j - 1 : j + 1], padded[j - 2 : j + 1] if j >= 2 else ""):
                if gram and gram != " " and gram in row:
                    rows.append(row[gram])
        found = tuple(rows)
        if len(self._cache) < _CACHED_WORDS:
            self._cache[padded] = found
        return found


def _prepared(text: str) -> str:
    """Detector.append then cleaning_text: the text langdetect takes its n-grams from."""
    text = Detector.URL_RE.sub(" ", text)
    text = Detector.MAIL_RE.sub(" ", text)
    text = NGram.normalize_vi(text)
    text = _SPACES.sub(" ", text[:10000])
    if len(_LATIN.findall(text)) * 2 < len(_NON_LATIN.findall(text)):
        text = _NOT_LATIN_LETTER.sub("", text)
    return text
