"""The writing systems of a text, and the language they decide on their own.

Han characters without Hangul are not Korean, and text with Kana is Japanese, whatever a
statistical model says: langdetect labels Han-only text `ko`, `vi` or `no` often enough that
clean rejected a third to nine tenths of real Chinese registers with it. So the script is read
first, and langdetect is asked only where the script does not decide (Latin, Cyrillic, Arabic
or mixed text).

What "dominates" means, precisely: the text's *letter units* are its Han, Kana and Hangul
characters, one unit each, and its words of any other script (runs of letters, digits and
underscores not counted), one unit each; the same units as the CJK-aware words of
segmentation.py, where a Han character is a word. CJK dominates when the Han + Kana + Hangul
units are at least `min_share` of all letter units. Then:
- Hangul is at least KANA_HANGUL_SHARE of the CJK units and outnumbers Kana -> ko;
- else Kana is at least KANA_HANGUL_SHARE of the CJK units -> ja;
- else -> zh (Han-dominant; a stray Kana or Hangul, e.g. in an emoticon, does not make it ja/ko).
"""

from __future__ import annotations

import re
from typing import NamedTuple

_HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f\u3005\u3007"
_KANA = "\u3041-\u3096\u309d-\u309f\u30a1-\u30fa\u30fc-\u30ff\u31f0-\u31ff\uff66-\uff9f"
_HANGUL = "\u1100-\u11ff\u3131-\u318e\ua960-\ua97f\uac00-\ud7a3\ud7b0-\ud7ff\uffa0-\uffdc"
_HAN_RE = re.compile(f"[{_HAN}]")
_KANA_RE = re.compile(f"[{_KANA}]")
_HANGUL_RE = re.compile(f"[{_HANGUL}]")
# a letter of any other script: a word character that is not a digit, underscore or CJK
_OTHER_WORD_RE = re.compile(f"[^\\W\\d_{_HAN}{_KANA}{_HANGUL}]+")

# Share of the CJK units that Kana (or Hangul) must reach to make a CJK text Japanese (Korean).
# Japanese prose is ~60% Kana, Korean is mostly Hangul; a Chinese text may quote one Kana name.
KANA_HANGUL_SHARE = 0.1


class ScriptCounts(NamedTuple):
    """Letter units of a text by script (see the module docstring)."""

    han: int
    kana: int
    hangul: int
    other_words: int

    @property
    def cjk(self) -> int:
        """Han, Kana and Hangul characters together."""
        return self.han + self.kana + self.hangul

    @property
    def cjk_share(self) -> float:
        """CJK units over all letter units; 0.0 for a text without letters."""
        total = self.cjk + self.other_words
        return self.cjk / total if total else 0.0


def count_scripts(text: str) -> ScriptCounts:
    """The letter units of `text` by script."""
    other = len(_OTHER_WORD_RE.findall(text))
    if text.isascii():
        return ScriptCounts(0, 0, 0, other)
    return ScriptCounts(len(_HAN_RE.findall(text)), len(_KANA_RE.findall(text)), len(_HANGUL_RE.findall(text)), other)


def language_by_script(counts: ScriptCounts, min_share: float) -> str | None:
    """'zh', 'ja' or 'ko' when CJK units are at least `min_share` of the letter units; None when
    the script does not decide (no CJK, or too little of it: langdetect's case)."""
    if counts.cjk == 0 or counts.cjk_share < min_share:
        return None
    floor = KANA_HANGUL_SHARE * counts.cjk
    if counts.hangul >= floor and counts.hangul > counts.kana:
        return "ko"
    if counts.kana >= floor:
        return "ja"
    return "zh"


def script_allows(lang: str, text_counts: ScriptCounts) -> bool:
    """Whether a language langdetect proposed is possible in a text with these scripts: Korean
    needs Hangul, Japanese Kana, Chinese Han. Other languages are not checked."""
    if lang == "ko":
        return text_counts.hangul > 0
    if lang == "ja":
        return text_counts.kana > 0
    if lang.startswith("zh"):
        return text_counts.han > 0
    return True
