"""The pure core of synonym replacement: which words of a text may be replaced, and the replaced text.

Never replaced:
- anything inside a protected span: inline code (`...`), fenced code blocks (```...```), lines
  indented by four spaces or a tab (Markdown code), URLs (scheme:// or www.), e-mail addresses;
- words with a digit, and words next to one of `_/\\=<>{}[]()@#$%^&*+|~` (identifiers, paths,
  markup, numbers such as 3.14 or v2);
- named entities, by a simple heuristic: an English word with any capital letter is treated as
  a possible name (Paris, NASA, iPhone) and kept, sentence-initial words included, since telling
  "The" from "London" needs a tagger; English function words (STOPWORDS) are never content words;
- Chinese: only words of two or more characters found by forward maximum matching against the
  lexicon (single characters are too ambiguous); there is no Chinese named-entity heuristic.

The lexicon only needs `synonyms(word) -> tuple[str, ...]` (and `knows`, `max_word_chars` for Chinese).
"""

from __future__ import annotations

import random
import re
from typing import NamedTuple, Protocol

_PROTECTED = re.compile(
    r"```.*?(?:```|\Z)"  # fenced code block (to the end of the text when unclosed)
    r"|`[^`\n]+`"  # inline code
    r"|(?m:^(?: {4}|\t)[^\n]*)"  # indented code line
    r"|\b[a-zA-Z][a-zA-Z0-9+.-]*://\S+"  # URL with a scheme
    r"|\bwww\.\S+"
    r"|[\w.+-]+@[\w-]+(?:\.[\w-]+)+",  # e-mail address
    re.DOTALL,
)
_ENGLISH_WORD = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)?")
_CODE_CHARS = set("_/\\=<>{}[]()@#$%^&*+|~")
_HAN_RUN = re.compile(r"[\u4e00-\u9fff]+")
STOPWORDS = frozenset("""
a about above after again against all also am an and any are as at be because been before being below between
both but by can could did do does doing down during each few for from further had has have having he her here
hers herself him himself his how i if in into is it its itself just me more most my myself no nor not now of
off on once only or other our ours ourselves out over own same she should so some such than that the their
theirs them themselves then there these they this those through to too under until up very was we were what
when where which while who whom why will with would you your yours yourself yourselves one two may might must
shall us let yes get got
""".split())


class Lexicon(Protocol):
    def synonyms(self, word: str) -> tuple[str, ...]: ...


class Replacement(NamedTuple):
    """The augmented text, how many words were replaced and how many could have been."""

    text: str
    replaced: int
    candidates: int


def protected_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of every code, URL and e-mail span of `text`."""
    return [m.span() for m in _PROTECTED.finditer(text)]


def _inside(spans: list[tuple[int, int]], start: int, end: int) -> bool:
    return any(s < end and start < e for s, e in spans)


def _next_to_code(text: str, start: int, end: int) -> bool:
    before = text[start - 1] if start else " "
    after = text[end] if end < len(text) else " "
    return before in _CODE_CHARS or after in _CODE_CHARS or before.isdigit() or after.isdigit()


def english_candidates(text: str, lexicon: Lexicon) -> list[tuple[int, int, tuple[str, ...]]]:
    """(start, end, synonyms) of every replaceable English word, in text order."""
    spans = protected_spans(text)
    found = []
    for match in _ENGLISH_WORD.finditer(text):
        word = match.group()
        start, end = match.span()
        if not word.islower() or word in STOPWORDS or "'" in word or len(word) < 3:
            continue
        if _inside(spans, start, end) or _next_to_code(text, start, end):
            continue
        synonyms = lexicon.synonyms(word)
        if synonyms:
            found.append((start, end, synonyms))
    return found


def chinese_candidates(text: str, lexicon) -> list[tuple[int, int, tuple[str, ...]]]:
    """(start, end, synonyms) of every replaceable Chinese word: forward maximum matching of each
    run of Han characters against the lexicon's words, words of two or more characters only."""
    spans = protected_spans(text)
    found = []
    for run in _HAN_RUN.finditer(text):
        position, end_of_run = run.span()
        while position < end_of_run:
            for length in range(min(lexicon.max_word_chars, end_of_run - position), 0, -1):
                word = text[position:position + length]
                if length == 1 or lexicon.knows(word):
                    break
            if length >= 2 and not _inside(spans, position, position + length):
                found.append((position, position + length, lexicon.synonyms(word)))
            position += length
    return found


def replace_synonyms(text: str, candidates: list[tuple[int, int, tuple[str, ...]]], ratio: float,
                     rng: random.Random) -> Replacement:
    """Replace round(ratio x candidates) of the candidate words (at least one when there is any),
    chosen by `rng`, each by one of its synonyms chosen by `rng`."""
    if not candidates or ratio <= 0:
        return Replacement(text, 0, len(candidates))
    count = max(1, round(ratio * len(candidates)))
    chosen = sorted(rng.sample(range(len(candidates)), count))
    parts, last = [], 0
    for index in chosen:
        start, end, synonyms = candidates[index]
        parts.append(text[last:start])
        parts.append(rng.choice(synonyms))
        last = end
    parts.append(text[last:])
    return Replacement("".join(parts), count, len(candidates))
