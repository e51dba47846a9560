"""C4's line and page rules (Raffel et al. 2020, section 2.2; TFDS c4_utils.py).

Page rules look at the whole document, as the paper states them ("any page where the phrase
lorem ipsum appeared", "any pages that contained a curly bracket"); the TFDS code checks only
lines that survived the earlier line rules. Line rules run per line in the TFDS order: cut
citation markers, drop lines with an over-long word, without terminal punctuation (or ending
in an ellipsis), with too few words, mentioning javascript, or with policy/cookie boilerplate.
Sentences are counted with the regex splitter of `segmentation` (nltk's punkt in TFDS), which
also ends sentences at 。！？. Paragraph breaks between kept lines are preserved.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from fullchain.pipelines.clean.config import C4Config
from fullchain.pipelines.clean.failure import Failure
from fullchain.pipelines.clean.segmentation import count_sentences, split_paragraphs, split_words

C4_LOREM_IPSUM = "c4_lorem_ipsum"
C4_CURLY_BRACKET = "c4_curly_bracket"
C4_TOO_FEW_SENTENCES = "c4_too_few_sentences"
C4_EMPTY_AFTER_LINE_FILTER = "c4_empty_after_line_filter"
REASONS = (C4_LOREM_IPSUM, C4_CURLY_BRACKET, C4_EMPTY_AFTER_LINE_FILTER, C4_TOO_FEW_SENTENCES)

_ELLIPSES = ("...", "…")


class C4Result(NamedTuple):
    """The outcome of the C4 rules: the text with removed lines cut out and how many were
    removed, or the `failure` that rejects the whole document (then `text` is the input)."""

    text: str
    removed_lines: int
    failure: Failure | None


class C4Filter:
    """C4's rules with the settings of `cfg`, regexes compiled once."""

    def __init__(self, cfg: C4Config):
        self.cfg = cfg
        self._citation = re.compile(cfg.citation_pattern) if cfg.citation_pattern else None
        self._terminal = tuple(cfg.terminal_punctuation)
        self._policy = tuple(cfg.policy_substrings)

    def _keeps(self, line: str, cjk: bool) -> bool:
        cfg = self.cfg
        words = split_words(line, cjk)
        if cfg.max_word_length is not None and words and max(map(len, words)) > cfg.max_word_length:
            return False
        if cfg.require_terminal_punctuation and (not line.endswith(self._terminal) or line.endswith(_ELLIPSES)):
            return False
        if cfg.min_words_per_line is not None and len(words) < cfg.min_words_per_line:
            return False
        if cfg.remove_javascript_lines or self._policy:
            lower = line.lower()
            if cfg.remove_javascript_lines and "javascript" in lower:
                return False
            if any(phrase in lower for phrase in self._policy):
                return False
        return True

    def __call__(self, text: str, cjk: bool) -> C4Result:
        """Apply the rules to normalised `text`; `cjk` selects CJK word counting per line."""
        cfg = self.cfg
        if cfg.reject_lorem_ipsum and "lorem ipsum" in text.lower():
            return C4Result(text, 0, Failure(C4_LOREM_IPSUM, "contains 'lorem ipsum'"))
        if cfg.reject_curly_bracket and "{" in text:
            return C4Result(text, 0, Failure(C4_CURLY_BRACKET, "contains '{'"))

        kept_paragraphs = []
        removed = sentences = 0
        for paragraph in split_paragraphs(text):
            kept_lines = []
            for line in paragraph.split("\n"):
                line = line.strip()
                if not line:
                    continue
                if self._citation is not None:
                    line = self._citation.sub("", line).strip()
                if line and self._keeps(line, cjk):
                    kept_lines.append(line)
                    sentences += count_sentences(line)
                else:
                    removed += 1
            if kept_lines:
                kept_paragraphs.append("\n".join(kept_lines))

        if not kept_paragraphs:
            return C4Result(text, removed, Failure(C4_EMPTY_AFTER_LINE_FILTER, f"all {removed} lines removed"))
        if cfg.min_sentences is not None and sentences < cfg.min_sentences:
            return C4Result(
                text, removed, Failure(C4_TOO_FEW_SENTENCES, f"{sentences} sentences < {cfg.min_sentences}")
            )
        return C4Result("\n\n".join(kept_paragraphs), removed, None)
