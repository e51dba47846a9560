"""Unicode, punctuation and whitespace normalisation of document text.

What is kept, and why:
- NFKC folds full-width ASCII, so Chinese ，！？：；（） become , ! ? : ; ( ). The marks without
  an ASCII equivalent stay: 。 (full stop), 、 (enumeration comma), 《》 (titles), 【】〔〕, ・.
- Quotation marks become ASCII: “ ” „ ‟ « » 「 」 〝 〞 〟 to ", and ‘ ’ ‚ ‛ ‹ › 『 』 ´ to '
  (『』 nest inside 「」 as ' nests inside "). Hyphen, minus and en-dash variants become '-';
  em-dash variants become '—' (U+2014), kept distinct because "——" is Chinese punctuation and
  "—" is not a hyphen in English. Ellipses (…, ⋯, ︙) become "...".
- Control characters are removed except \\t and \\n; \\r\\n, \\r, \\v, \\f, NEL and the Unicode
  line/paragraph separators become \\n. Zero-width space, word joiner, BOM, soft hyphen, bidi
  controls and lone surrogates are removed (a lone surrogate cannot be written as UTF-8). ZWJ
  and ZWNJ are kept: emoji sequences and Persian/Indic spelling need them.
All mappings and patterns are built once at import; `normalize` is one regex substitution
(two when NFKC changes the text) plus whitespace passes that are skipped when not needed.
"""

from __future__ import annotations

import re
import unicodedata

_NEWLINE_CHARS = "\r\x0b\x0c\x85\u2028\u2029"
_SPACE_CHARS = "\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u202f\u205f\u3000"
_INVISIBLE_CHARS = (
    "\u00ad\u180e\u200b\u200e\u200f\u202a\u202b\u202c\u202d\u202e"
    "\u2060\u2061\u2062\u2063\u2064\u2066\u2067\u2068\u2069\ufeff\ufffe\uffff"
)
_DOUBLE_QUOTES = "“”„‟«»「」〝〞〟❝❞＂"
_SINGLE_QUOTES = "‘’‚‛‹›『』´❛❜＇"
_HYPHENS = "\u2010\u2011\u2012\u2013\u2212\ufe63\uff0d"
_EM_DASHES = "\u2015\u2e3a\u2e3b\ufe58"
_ELLIPSES = "\u2026\u22ef\ufe19"


def _mapping(unify_punctuation: bool, fold_full_width: bool) -> dict[str, str]:
    mapping = {chr(code): "" for code in [*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0)] if chr(code) not in "\t\n"}
    mapping.update((chr(code), "") for code in range(0xD800, 0xE000))
    mapping.update((char, "") for char in _INVISIBLE_CHARS)
    mapping.update((char, "\n") for char in _NEWLINE_CHARS)
    mapping.update((char, " ") for char in _SPACE_CHARS)
    if fold_full_width:
        # NFKC's own mapping of U+FF01..U+FF5E; done here, Chinese prose is then usually already
        # NFKC-normal and skips the much slower unicodedata.normalize call.
        mapping.update((chr(code), chr(code - 0xFEE0)) for code in range(0xFF01, 0xFF5F))
    if unify_punctuation:
        for chars, replacement in (
            (_DOUBLE_QUOTES, '"'),
            (_SINGLE_QUOTES, "'"),
            (_HYPHENS, "-"),
            (_EM_DASHES, "\u2014"),
            (_ELLIPSES, "..."),
        ):
            mapping.update((char, replacement) for char in chars)
    return mapping


def _char_class(chars: list[str]) -> str:
    codes = sorted(map(ord, chars))
    ranges = []
    start = previous = codes[0]
    for code in codes[1:] + [-1]:
        if code != previous + 1:
            ranges.append(f"\\U{start:08x}" if start == previous else f"\\U{start:08x}-\\U{previous:08x}")
            start = code
        previous = code
    return "[" + "".join(ranges) + "]"


class _Replacer:
    """One-pass replacement of the characters of a mapping: a regex finds them, so text
    without any costs one C-level scan (str.translate with a dict costs a lookup per character)."""

    def __init__(self, mapping: dict[str, str]):
        self._pattern = re.compile(_char_class(list(mapping)))
        self._mapping = mapping

    def _replace(self, match: re.Match[str]) -> str:
        return self._mapping[match.group()]

    def __call__(self, text: str) -> str:
        return self._pattern.sub(self._replace, text)


_REPLACERS = {
    (unify, fold): _Replacer(_mapping(unify, fold)) for unify in (False, True) for fold in (False, True)
}
_TAB_RUN_RE = re.compile(r" *\t[ \t]*")
_SPACE_RUN_RE = re.compile(r"  +")
_BLANK_LINES_RE = re.compile(r"\n\n\n+")


def normalize(text: str, *, nfkc: bool = True, unify_punctuation: bool = True, whitespace: bool = True) -> str:
    """Normalise `text`: remove control/invisible characters, then optionally apply NFKC,
    unify punctuation variants and normalise whitespace (see the module docstring)."""
    replace = _REPLACERS[unify_punctuation, nfkc]
    # \r\n must become one newline before the mapping turns a lone \r into one.
    text = replace(text.replace("\r\n", "\n"))
    if nfkc and not unicodedata.is_normalized("NFKC", text):
        # NFKC can produce mapped characters (e.g. vertical-form ﹁ becomes 「), so replace again.
        text = replace(unicodedata.normalize("NFKC", text))
    if whitespace:
        if "\t" in text:
            text = _TAB_RUN_RE.sub("\t", text)
        if "  " in text:
            text = _SPACE_RUN_RE.sub(" ", text)
        text = "\n".join([line.strip(" \t") for line in text.split("\n")])
        if "\n\n\n" in text:
            text = _BLANK_LINES_RE.sub("\n\n", text)
        text = text.strip()
    return text
