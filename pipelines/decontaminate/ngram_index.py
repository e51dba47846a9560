"""The n-gram overlap between evaluation items and training text (pure core, no Beam).

Text is compared as lowercase words (runs of letters and digits), so punctuation, case and spacing
do not hide a copy. Each item contributes its word n-grams (n = 13 by default, as in the GPT-3
contamination study); an item shorter than n words contributes its whole word sequence as one gram,
so a short item copied into a training document is found too. The index holds the items' grams
only: training text is streamed past it, and memory grows with the evaluation suite, not the corpus.
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from typing import Any, Iterable, Mapping

WORD = re.compile(r"\w+", re.UNICODE)
# an item of fewer words than this is not checked: a two-word item matches everywhere by chance
MIN_ITEM_WORDS = 4


def words(text: str) -> list[str]:
    """The lowercase words of `text`."""
    return WORD.findall(text.lower())


def item_text(record: Mapping[str, Any]) -> str:
    """The text of an evaluation item: its record's string fields (and lists of strings), joined, so
    a question, its choices and its answer are all looked for."""
    parts: list[str] = []
    for value in record.values():
        if isinstance(value, str):
            parts.append(value)
        elif isinstance(value, list):
            parts += [v for v in value if isinstance(v, str)]
    return "\n".join(parts)


def gram_key(gram: Iterable[str]) -> bytes:
    """A stable 8-byte key of one n-gram (the same in every process, unlike hash())."""
    return hashlib.blake2b(" ".join(gram).encode("utf-8"), digest_size=8).digest()


def item_grams(text: str, n: int) -> set[bytes]:
    """The keys of an item's n-grams (its whole word sequence when shorter than n; none under MIN_ITEM_WORDS)."""
    tokens = words(text)
    if len(tokens) < MIN_ITEM_WORDS:
        return set()
    size = min(n, len(tokens))
    return {gram_key(tokens[i:i + size]) for i in range(len(tokens) - size + 1)}


class NgramIndex:
    """The n-grams of a set of evaluation items, to find them in training text."""

    def __init__(self, items: Mapping[str, str], n: int = 13):
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        self.n = n
        self.owners: dict[bytes, set[str]] = defaultdict(set)
        self.grams_of: dict[str, int] = {}
        sizes = set()
        for item_id, text in items.items():
            grams = item_grams(text, n)
            self.grams_of[item_id] = len(grams)
            for key in grams:
                self.owners[key].add(item_id)
            if grams:
                sizes.add(min(n, len(words(text))))
        self.sizes = sorted(sizes)

    def matches(self, text: str) -> dict[str, set[bytes]]:
        """Item id -> the keys of its grams that occur in `text`."""
        tokens = words(text)
        found: dict[str, set[bytes]] = defaultdict(set)
        for size in self.sizes:
            for i in range(len(tokens) - size + 1):
                key = gram_key(tokens[i:i + size])
                for item_id in self.owners.get(key, ()):
                    found[item_id].add(key)
        return found

    def overlaps(self, text: str) -> bool:
        """Whether any item's gram occurs in `text`."""
        return bool(self.matches(text))


def contaminated_items(index: NgramIndex, documents: Iterable[str], min_overlap: int = 1) -> dict[str, int]:
    """Item id -> how many of its grams occur somewhere in `documents`, for the items with at least
    `min_overlap` (the contaminated ones)."""
    seen: dict[str, set[bytes]] = defaultdict(set)
    for text in documents:
        for item_id, keys in index.matches(text).items():
            seen[item_id] |= keys
    return {item_id: len(keys) for item_id, keys in seen.items() if len(keys) >= min_overlap}
