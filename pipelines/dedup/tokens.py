"""Splitting text into the tokens that both the exact hash and the shingles are made of.

A token is a run of word characters, casefolded, except that every Chinese/Japanese
character is a token of its own: those scripts put no spaces between words, and one
character per token lets them be shingled as character n-grams with the same code as
words. Punctuation, symbols and whitespace are never part of a token.
"""

from __future__ import annotations

import re

_CJK_CHARS = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff66-\uff9f\U00020000-\U0002fa1f"
_CJK_RUN = re.compile(f"[{_CJK_CHARS}]+")
# `[^\W...]` is "a word character that is not CJK": \w minus the CJK ranges.
_TOKEN = re.compile(f"[{_CJK_CHARS}]|[^\\W{_CJK_CHARS}]+")
# For ASCII text (most English) the regex's \w is exactly [A-Za-z0-9_]: mapping every other byte
# to a space and splitting gives the same tokens about 4x faster than the regex.
_ASCII_NON_WORD_TO_SPACE = bytes(c if c < 128 and (chr(c).isalnum() or chr(c) == "_") else 32 for c in range(256))


def tokenize(text: str) -> list[str]:
    """The casefolded tokens of `text`: word runs, and single Chinese/Japanese characters."""
    if text.isascii():
        return text.lower().encode("ascii").translate(_ASCII_NON_WORD_TO_SPACE).decode("ascii").split()
    return _TOKEN.findall(text.casefold())


def count_cjk_chars(text: str) -> int:
    """How many Chinese/Japanese characters `text` has, which is how many of its tokens are one."""
    if text.isascii():
        return 0
    # Runs, not single characters: 4x faster on Chinese text, where almost every character is one.
    return sum(map(len, _CJK_RUN.findall(text)))
