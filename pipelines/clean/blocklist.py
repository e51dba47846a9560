"""Rejecting documents that contain blocked words or match blocked regular expressions.

Words of spaced scripts match whole words, case-insensitively: one-token words by set lookup
on the text's tokens (fast for lists of thousands), phrases and words with non-word characters
by one combined regex. Words containing CJK characters match as substrings, since zh/ja text
has no spaces to mark word edges (as C4's bad-words filter does for zh/ja/th).
"""

from __future__ import annotations

import re

from fullchain.pipelines.clean.config import BlocklistConfig
from fullchain.pipelines.clean.failure import Failure
from fullchain.pipelines.clean.segmentation import has_cjk

BLOCKLIST = "blocklist"
REASONS = (BLOCKLIST,)

_TOKEN_RE = re.compile(r"\w+")


class Blocklist:
    """The blocked words and patterns of `cfg`, compiled once."""

    def __init__(self, cfg: BlocklistConfig):
        words = [word.strip().lower() for word in cfg.words if word.strip()]
        cjk_words = [word for word in words if has_cjk(word)]
        spaced = [word for word in words if not has_cjk(word)]
        self._tokens = frozenset(word for word in spaced if _TOKEN_RE.fullmatch(word))
        phrases = sorted((word for word in spaced if word not in self._tokens), key=len, reverse=True)
        self._phrases = (
            re.compile("(?<!\\w)(?:" + "|".join(map(re.escape, phrases)) + ")(?!\\w)") if phrases else None
        )
        self._substrings = tuple(cjk_words)
        self._patterns = [(pattern, re.compile(pattern)) for pattern in cfg.patterns]

    @property
    def enabled(self) -> bool:
        """Whether anything is blocked at all."""
        return bool(self._tokens or self._phrases or self._substrings or self._patterns)

    def find(self, text: str) -> str | None:
        """A description of the first blocked term found in `text`, or None."""
        if self._tokens or self._phrases or self._substrings:
            lower = text.lower()
            if self._tokens:
                hits = self._tokens.intersection(_TOKEN_RE.findall(lower))
                if hits:
                    return f"word {min(hits)!r}"
            if self._phrases is not None:
                match = self._phrases.search(lower)
                if match:
                    return f"word {match.group()!r}"
            for word in self._substrings:
                if word in lower:
                    return f"word {word!r}"
        for source, pattern in self._patterns:
            if pattern.search(text):
                return f"pattern {source!r}"
        return None

    def __call__(self, text: str) -> Failure | None:
        """The `blocklist` failure naming the matched term, or None."""
        found = self.find(text)
        return Failure(BLOCKLIST, f"matched {found}") if found is not None else None
