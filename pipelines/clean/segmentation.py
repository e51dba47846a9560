"""Cutting text into words, lines, paragraphs and sentences, with CJK-aware words.

Chinese and Japanese are written without spaces, so whitespace splitting (Gopher's notion of
a word) would make a whole sentence one "word". For them each Han or Kana character is a
word and runs of other letters/digits (Latin words, numbers) are words; punctuation is not a
word. Spaced languages, Korean included, are split on whitespace as in Gopher, punctuation
attached. Rules that count words therefore give comparable numbers for both kinds of text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

CJK_LANGUAGES = frozenset({"zh", "ja"})

# Han (CJK unified ideographs, extensions, compatibility), the iteration/closing marks 々〆〇,
# Hiragana and Katakana without the middle dot ・ (punctuation), half-width Katakana.
_CJK_CLASS = (
    "\u3005-\u3007"
    "\u3041-\u3096\u309d-\u309f"
    "\u30a1-\u30fa\u30fc-\u30ff\u31f0-\u31ff"
    "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
    "\uff66-\uff9f"
    "\U00020000-\U0003134f"
)
_CJK_CHAR_RE = re.compile(f"[{_CJK_CLASS}]")
_KANA_RE = re.compile("[\u3041-\u3096\u309d-\u309f\u30a1-\u30fa\u30fc-\u30ff\u31f0-\u31ff\uff66-\uff9f]")
# [^\W_...] is "a word character other than underscore and CJK": letters and digits of other scripts.
_CJK_WORD_RE = re.compile(f"[{_CJK_CLASS}]|[^\\W_{_CJK_CLASS}]+")
_PARAGRAPH_BREAK_RE = re.compile(r"\n[ \t]*\n\s*")
_CLOSERS = "\"'”’」』)\\]"
# CJK full stops end a sentence anywhere; a Latin . ! ? only before a space, the end or CJK text,
# so decimals and dotted names do not split. Closing quotes/brackets stay with their sentence.
_SENTENCE_END_RE = re.compile(
    f"[。！？]+[{_CLOSERS}]*|[.!?]+[{_CLOSERS}]*(?=\\s|$|[{_CJK_CLASS}])"
)

# Share of CJK characters among non-space characters above which unlabelled text is treated as CJK.
# Chinese prose is ~85 % Han (the rest punctuation, digits, Latin names); mixed tech writing ~40 %.
CJK_SHARE_THRESHOLD = 0.3


def base_language(lang: str) -> str:
    """The language part of a code: 'zh-cn' -> 'zh', 'EN' -> 'en', '' -> ''."""
    return lang.split("-", 1)[0].lower()


def has_cjk(text: str) -> bool:
    """Whether `text` contains a Han or Kana character."""
    return _CJK_CHAR_RE.search(text) is not None


def cjk_share(text: str) -> float:
    """Share of Han/Kana characters among the non-whitespace characters of `text` (0.0 for blank text)."""
    if text.isascii():
        return 0.0
    visible = len("".join(text.split()))
    if visible == 0:
        return 0.0
    return len(_CJK_CHAR_RE.findall(text)) / visible


def cjk_language_by_script(text: str) -> str:
    """'ja' if the text has Kana, 'zh' if it is otherwise mostly Han, '' if it is not CJK text."""
    if cjk_share(text) < CJK_SHARE_THRESHOLD:
        return ""
    return "ja" if _KANA_RE.search(text) else "zh"


def uses_cjk_words(lang: str, text: str) -> bool:
    """Whether `text` should be cut into CJK words: by language code when one is known
    (zh/ja yes, anything else no), else by the share of Han/Kana characters in it."""
    base = base_language(lang)
    if base and base != "und":
        return base in CJK_LANGUAGES
    return cjk_share(text) >= CJK_SHARE_THRESHOLD


def split_words(text: str, cjk: bool) -> list[str]:
    """Words of `text`: per Han/Kana character plus letter/digit runs if `cjk`, else whitespace-separated."""
    return _CJK_WORD_RE.findall(text) if cjk else text.split()


def split_lines(text: str) -> list[str]:
    """The non-empty lines of `text`, stripped."""
    return [line for line in (raw.strip() for raw in text.split("\n")) if line]


def split_paragraphs(text: str) -> list[str]:
    """The paragraphs of `text` (blocks separated by blank lines), stripped, empty ones dropped."""
    return [para for para in (raw.strip() for raw in _PARAGRAPH_BREAK_RE.split(text)) if para]


def split_sentences(text: str) -> list[str]:
    """Sentences of `text`, ends marked by . ! ? (before a space, the end or CJK text) or 。！？."""
    sentences = []
    start = 0
    for match in _SENTENCE_END_RE.finditer(text):
        sentence = text[start : match.end()].strip()
        if sentence:
            sentences.append(sentence)
        start = match.end()
    tail = text[start:].strip()
    if tail:
        sentences.append(tail)
    return sentences


def count_sentences(text: str) -> int:
    """`len(split_sentences(text))` without building the list."""
    count = 0
    end = 0
    for match in _SENTENCE_END_RE.finditer(text):
        count += 1
        end = match.end()
    return count + (1 if text[end:].strip() else 0)


@dataclass(frozen=True, slots=True)
class Segmented:
    """A normalised text cut once into the units the rules count, shared by all of them."""

    text: str
    cjk: bool
    words: list[str]
    lines: list[str]
    paragraphs: list[str]


def segment(text: str, cjk: bool) -> Segmented:
    """Cut `text` into words (CJK-aware if `cjk`, see `uses_cjk_words`), non-empty lines and paragraphs."""
    return Segmented(
        text=text,
        cjk=cjk,
        words=split_words(text, cjk),
        lines=split_lines(text),
        paragraphs=split_paragraphs(text),
    )
