"""Cutting a document into chunks a translation model accepts, and putting the translations back.

A chunk never crosses a line break, so paragraphs and lists keep their layout, and it ends at a
sentence end where it can: after . ! ? followed by a space, or after a CJK ender (。！？；…),
which needs no space. A sentence longer than the token limit is cut at the whitespace nearest
its middle (or at the middle character, for text without spaces) until every piece fits.
"""

from __future__ import annotations

import re
from typing import Callable, NamedTuple

# A sentence ends after Latin enders (with optional closing quotes/brackets) followed by
# whitespace, or after CJK enders, which are not followed by a space.
_SENTENCE_END = re.compile(r"""(?<=[.!?])["')\]’”]*\s+|(?<=[。！？；…])[」』”’）]*\s*""")
_LINE_BREAK = re.compile(r"\n+")


class Chunk(NamedTuple):
    """A piece of a document to translate, and the whitespace that followed it in the document."""

    text: str
    separator: str


class TranslationRequest(NamedTuple):
    """One chunk to translate from `source_lang` into `target_lang` (the element RunInference gets)."""

    text: str
    source_lang: str
    target_lang: str


def split_sentences(line: str) -> list[tuple[str, str]]:
    """`line` (no line breaks) as (sentence, following whitespace) pairs; concatenated they give `line`."""
    pieces, start = [], 0
    for match in _SENTENCE_END.finditer(line):
        if match.end() == start or match.start() == 0:
            continue
        # closing quotes belong to the sentence, whitespace to the separator
        gap = match.group()
        stripped = gap.rstrip()
        end = match.start() + len(stripped)
        pieces.append((line[start:end], gap[len(stripped):]))
        start = match.end()
    if start < len(line):
        pieces.append((line[start:], ""))
    return [(text, sep) for text, sep in pieces if text]


def _split_long(text: str, sep: str, count_tokens: Callable[[str], int], limit: int) -> list[tuple[str, str]]:
    """(piece, following whitespace) pairs of `text`, each piece within `limit` where cutting can do it."""
    if count_tokens(text) <= limit or len(text) < 2:
        return [(text, sep)]
    middle = len(text) // 2
    spaces = [m.start() for m in re.finditer(r"\s", text)]
    cut = min(spaces, key=lambda i: abs(i - middle)) if spaces else middle
    left, right, gap = text[:cut].rstrip(), text[cut:].lstrip(), " " if spaces else ""
    if not left or not right:
        left, right, gap = text[:middle], text[middle:], ""
    return _split_long(left, gap, count_tokens, limit) + _split_long(right, sep, count_tokens, limit)


def chunk_text(text: str, count_tokens: Callable[[str], int], max_tokens: int) -> list[Chunk]:
    """`text` as chunks of at most `max_tokens` tokens (as `count_tokens` counts them) in document order.

    Whole sentences are packed into a chunk while their summed counts fit; joining
    `chunk.text + chunk.separator` over all chunks gives the text back, up to whitespace at the
    ends of lines. Blank text gives no chunks.
    """
    chunks: list[Chunk] = []
    lines = _LINE_BREAK.split(text)
    breaks = _LINE_BREAK.findall(text) + [""]
    for line, line_break in zip(lines, breaks):
        line = line.strip()
        if not line:
            if chunks:  # a blank line ends the previous chunk with the break it had
                chunks[-1] = Chunk(chunks[-1].text, chunks[-1].separator + line_break)
            continue
        current, current_sep, current_tokens = "", "", 0
        for sentence, sentence_sep in split_sentences(line):
            for piece, sep in _split_long(sentence, sentence_sep, count_tokens, max_tokens):
                tokens = count_tokens(piece)
                if current and current_tokens + tokens <= max_tokens:
                    current, current_tokens = current + current_sep + piece, current_tokens + tokens
                else:
                    if current:
                        chunks.append(Chunk(current, current_sep))
                    current, current_tokens = piece, tokens
                current_sep = sep
        chunks.append(Chunk(current, line_break))
    return chunks


def reassemble(translations: list[str], separators: list[str]) -> str:
    """The translated document: each chunk's translation followed by its original separator."""
    return "".join(text.strip() + sep for text, sep in zip(translations, separators)).strip()
