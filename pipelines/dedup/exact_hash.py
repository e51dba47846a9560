"""The key of exact-duplicate detection: a hash of the normalised text.

Normalising before hashing makes copies that differ only in letter case, punctuation,
symbols or whitespace (re-wrapped lines, a trailing newline, curly vs straight quotes)
exact duplicates. Such copies have identical shingle sets anyway, so this removes them
cheaply before the MinHash step; what it never merges are texts whose words differ.
"""

from __future__ import annotations

import hashlib

from fullchain.pipelines.dedup.tokens import tokenize


def normalised_text(text: str) -> str:
    """`text` casefolded, without punctuation or symbols, tokens joined by one space.

    Chinese/Japanese characters are tokens of their own, so spaces between them do not matter.
    """
    return " ".join(tokenize(text))


def exact_hash(text: str) -> bytes:
    """A 128-bit hash of the normalised text: equal for exact duplicates, collision-free in practice."""
    return tokens_hash(tokenize(text))


def tokens_hash(tokens: list[str]) -> bytes:
    """`exact_hash` of a text from its tokens (`tokens.tokenize`)."""
    return hashlib.blake2b(" ".join(tokens).encode("utf-8"), digest_size=16).digest()
