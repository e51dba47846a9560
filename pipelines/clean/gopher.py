"""Gopher quality and repetition rules (Rae et al. 2021, "Scaling Language Models", appendix A.1.1).

Both work on a `Segmented` text, so words are CJK-aware: in zh/ja each Han/Kana character is a
word. Differences from the paper's wording, all for CJK text or for lines:
- mean word length is only checked for spaced languages (a CJK word is one character);
- line ratios count non-empty lines (blank lines between paragraphs are not lines of content);
- n-gram character fractions are over word characters (whitespace excluded), so spaced and
  CJK text are measured alike; a "top" n-gram must occur at least twice to count as repetition.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

from fullchain.pipelines.clean.config import GopherQualityConfig, GopherRepetitionConfig
from fullchain.pipelines.clean.failure import Failure
from fullchain.pipelines.clean.segmentation import Segmented, base_language

GOPHER_TOO_FEW_WORDS = "gopher_too_few_words"
GOPHER_TOO_MANY_WORDS = "gopher_too_many_words"
GOPHER_MEAN_WORD_LENGTH = "gopher_mean_word_length"
GOPHER_SYMBOL_WORD_RATIO = "gopher_symbol_word_ratio"
GOPHER_BULLET_LINES = "gopher_bullet_lines"
GOPHER_ELLIPSIS_LINES = "gopher_ellipsis_lines"
GOPHER_ALPHA_WORDS = "gopher_alpha_words"
GOPHER_STOP_WORDS = "gopher_stop_words"
QUALITY_REASONS = (
    GOPHER_TOO_FEW_WORDS,
    GOPHER_TOO_MANY_WORDS,
    GOPHER_MEAN_WORD_LENGTH,
    GOPHER_SYMBOL_WORD_RATIO,
    GOPHER_BULLET_LINES,
    GOPHER_ELLIPSIS_LINES,
    GOPHER_ALPHA_WORDS,
    GOPHER_STOP_WORDS,
)

GOPHER_DUP_LINE_FRAC = "gopher_dup_line_frac"
GOPHER_DUP_PARA_FRAC = "gopher_dup_para_frac"
GOPHER_DUP_LINE_CHAR_FRAC = "gopher_dup_line_char_frac"
GOPHER_DUP_PARA_CHAR_FRAC = "gopher_dup_para_char_frac"
GOPHER_TOP_NGRAM_CHAR_FRAC = "gopher_top_ngram_char_frac"
GOPHER_DUP_NGRAM_CHAR_FRAC = "gopher_dup_ngram_char_frac"
REPETITION_REASONS = (
    GOPHER_DUP_LINE_FRAC,
    GOPHER_DUP_PARA_FRAC,
    GOPHER_DUP_LINE_CHAR_FRAC,
    GOPHER_DUP_PARA_CHAR_FRAC,
    GOPHER_TOP_NGRAM_CHAR_FRAC,
    GOPHER_DUP_NGRAM_CHAR_FRAC,
)

_ELLIPSES = ("...", "…")
# A whitespace-separated token without a letter: only punctuation, symbols, digits or '_'.
_NON_ALPHA_TOKEN_RE = re.compile(r"(?<!\S)(?:[^\w\s]|[\d_])+(?!\S)")


def _stop_word_pattern(words: Sequence[str], whole_words: bool) -> re.Pattern[str] | None:
    if not words:
        return None
    # Longest first, so a stop word that starts another does not shadow it.
    alternatives = "|".join(re.escape(word) for word in sorted(set(words), key=len, reverse=True))
    if whole_words:
        return re.compile(f"(?<!\\w)(?:{alternatives})(?!\\w)", re.IGNORECASE)
    return re.compile(alternatives)


class GopherQuality:
    """Gopher's quality rules; `__call__` returns the first rule the text fails, or None."""

    def __init__(self, cfg: GopherQualityConfig):
        self.cfg = cfg
        self._bullets = tuple(cfg.bullet_prefixes)
        self._stop_words = {
            lang: pattern
            for lang, pattern in (
                ("en", _stop_word_pattern(cfg.stop_words_en, whole_words=True)),
                ("zh", _stop_word_pattern(cfg.stop_words_zh, whole_words=False)),
                ("ja", _stop_word_pattern(cfg.stop_words_ja, whole_words=False)),
            )
            if pattern is not None
        }

    def __call__(self, seg: Segmented, lang: str) -> Failure | None:
        """Check `seg` (language `lang`, '' if unknown: the stop-word rule is then skipped)."""
        cfg = self.cfg
        words = seg.words
        n_words = len(words)
        if cfg.min_words is not None and n_words < cfg.min_words:
            return Failure(GOPHER_TOO_FEW_WORDS, f"{n_words} words < {cfg.min_words}")
        if cfg.max_words is not None and n_words > cfg.max_words:
            return Failure(GOPHER_TOO_MANY_WORDS, f"{n_words} words > {cfg.max_words}")
        if n_words == 0:
            return None

        if not seg.cjk and (cfg.min_mean_word_length is not None or cfg.max_mean_word_length is not None):
            mean = sum(map(len, words)) / n_words
            low, high = cfg.min_mean_word_length, cfg.max_mean_word_length
            if (low is not None and mean < low) or (high is not None and mean > high):
                return Failure(GOPHER_MEAN_WORD_LENGTH, f"mean word length {mean:.2f} outside [{low}, {high}]")

        if cfg.max_symbol_word_ratio is not None:
            text = seg.text
            for symbol, count in (("#", text.count("#")), ("ellipsis", text.count("...") + text.count("…"))):
                ratio = count / n_words
                if ratio > cfg.max_symbol_word_ratio:
                    return Failure(
                        GOPHER_SYMBOL_WORD_RATIO, f"{symbol} per word {ratio:.3f} > {cfg.max_symbol_word_ratio}"
                    )

        lines = seg.lines
        if lines and cfg.max_bullet_lines_ratio is not None:
            ratio = sum(1 for line in lines if line.startswith(self._bullets)) / len(lines)
            if ratio > cfg.max_bullet_lines_ratio:
                return Failure(GOPHER_BULLET_LINES, f"bullet lines {ratio:.3f} > {cfg.max_bullet_lines_ratio}")
        if lines and cfg.max_ellipsis_lines_ratio is not None:
            ratio = sum(1 for line in lines if line.endswith(_ELLIPSES)) / len(lines)
            if ratio > cfg.max_ellipsis_lines_ratio:
                return Failure(
                    GOPHER_ELLIPSIS_LINES, f"ellipsis-ending lines {ratio:.3f} > {cfg.max_ellipsis_lines_ratio}"
                )

        if cfg.min_alpha_words_ratio is not None:
            # CJK words are single letters or letter/digit runs: only all-numeric ones lack a letter.
            non_alpha = sum(map(str.isnumeric, words)) if seg.cjk else len(_NON_ALPHA_TOKEN_RE.findall(seg.text))
            ratio = 1.0 - non_alpha / n_words
            if ratio < cfg.min_alpha_words_ratio:
                return Failure(GOPHER_ALPHA_WORDS, f"words with a letter {ratio:.3f} < {cfg.min_alpha_words_ratio}")

        pattern = self._stop_words.get(base_language(lang))
        if cfg.min_stop_words is not None and pattern is not None:
            found = 0
            for _ in pattern.finditer(seg.text):
                found += 1
                if found >= cfg.min_stop_words:
                    break
            else:
                return Failure(GOPHER_STOP_WORDS, f"{found} stop words < {cfg.min_stop_words}")
        return None


def _duplicates(items: list[str]) -> tuple[int, int]:
    """Number of items equal to an earlier one, and their total characters."""
    seen: set[str] = set()
    count = chars = 0
    for item in items:
        if item in seen:
            count += 1
            chars += len(item)
        else:
            seen.add(item)
    return count, chars


def _duplicate_failure(
    unit: str,
    items: list[str],
    text_chars: int,
    max_fraction: float | None,
    max_char_fraction: float | None,
    reason: str,
    char_reason: str,
) -> Failure | None:
    """The failure of the duplicate-count or duplicate-character rule for `items` (lines or paragraphs)."""
    if not items or (max_fraction is None and max_char_fraction is None):
        return None
    count, chars = _duplicates(items)
    if max_fraction is not None and count / len(items) > max_fraction:
        return Failure(reason, f"duplicate {unit} {count / len(items):.3f} > {max_fraction}")
    if max_char_fraction is not None and chars / text_chars > max_char_fraction:
        return Failure(char_reason, f"characters in duplicate {unit} {chars / text_chars:.3f} > {max_char_fraction}")
    return None


def _ngrams(words: list[str], n: int) -> list[tuple[str, ...]]:
    return list(zip(*(words[i:] for i in range(n))))


def _top_ngram_chars(words: list[str], n: int) -> int:
    """Characters covered by the most frequent n-gram (count x its length), 0 if none repeats."""
    counts = Counter(_ngrams(words, n))
    if not counts:
        return 0
    top = max(counts.values())
    if top < 2:
        return 0
    return top * max(sum(map(len, gram)) for gram, count in counts.items() if count == top)


def _dup_ngram_chars(words: list[str], lengths: list[int], n: int) -> int:
    """Characters of the words inside n-grams that occur more than once, each word counted once."""
    grams = _ngrams(words, n)
    counts = Counter(grams)
    if len(counts) == len(grams):
        return 0
    covered = bytearray(len(words))
    run = b"\x01" * n
    for start, gram in enumerate(grams):
        if counts[gram] > 1:
            covered[start : start + n] = run
    return sum(length for length, flag in zip(lengths, covered) if flag)


class GopherRepetition:
    """Gopher's repetition rules; `__call__` returns the first rule the text fails, or None."""

    def __init__(self, cfg: GopherRepetitionConfig):
        self.cfg = cfg
        self._top = sorted(cfg.max_top_ngram_char_fraction.items())
        self._dup = sorted(cfg.max_dup_ngram_char_fraction.items())

    def __call__(self, seg: Segmented) -> Failure | None:
        """Check `seg` for repeated paragraphs, lines and word n-grams."""
        cfg = self.cfg
        text_chars = len(seg.text)
        if text_chars == 0:
            return None
        failure = _duplicate_failure(
            "paragraphs", seg.paragraphs, text_chars, cfg.max_dup_paragraph_fraction,
            cfg.max_dup_paragraph_char_fraction, GOPHER_DUP_PARA_FRAC, GOPHER_DUP_PARA_CHAR_FRAC,
        ) or _duplicate_failure(
            "lines", seg.lines, text_chars, cfg.max_dup_line_fraction,
            cfg.max_dup_line_char_fraction, GOPHER_DUP_LINE_FRAC, GOPHER_DUP_LINE_CHAR_FRAC,
        )
        if failure is not None:
            return failure

        words = seg.words
        lengths = list(map(len, words))
        word_chars = sum(lengths)
        if word_chars == 0:
            return None
        for n, max_frac in self._top:
            fraction = _top_ngram_chars(words, n) / word_chars
            if fraction > max_frac:
                return Failure(GOPHER_TOP_NGRAM_CHAR_FRAC, f"top {n}-gram covers {fraction:.3f} > {max_frac}")
        for index, (n, max_frac) in enumerate(self._dup):
            fraction = _dup_ngram_chars(words, lengths, n) / word_chars
            if fraction > max_frac:
                return Failure(GOPHER_DUP_NGRAM_CHAR_FRAC, f"duplicate {n}-grams cover {fraction:.3f} > {max_frac}")
            # Coverage by repeated (n+k)-grams never exceeds coverage by repeated n-grams, so once
            # this fraction is below every later threshold the later sizes cannot fail.
            later = [frac for _, frac in self._dup[index + 1 :]]
            if not later or fraction <= min(later):
                break
        return None
