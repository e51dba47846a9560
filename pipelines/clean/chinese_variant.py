"""Simplified or traditional characters: the variant of a Chinese text, decided with OpenCC.

Most Han characters are written the same in both systems; the variant shows in the others.
A character that OpenCC's traditional-to-simplified table (t2s) changes is a traditional form,
one that its simplified-to-traditional table (s2t) changes is a simplified form. The text is
traditional (`zh-tw`) when it has more traditional than simplified forms, else simplified
(`zh-cn`, also when it has neither: characters common to both). The codes are langdetect's, so
`langid.languages` can name one variant whichever method decided the language.
"""

from __future__ import annotations

import opencc

SIMPLIFIED = "zh-cn"
TRADITIONAL = "zh-tw"


class ChineseVariant:
    """Judges the variant of Chinese texts. The OpenCC converters load their dictionaries once,
    here; each character's verdict is cached, so a worker converts each character only once."""

    def __init__(self):
        self._to_simplified = opencc.OpenCC("t2s")
        self._to_traditional = opencc.OpenCC("s2t")
        # character -> +1 traditional form, -1 simplified form, 0 common to both
        self._form: dict[str, int] = {}

    def __call__(self, han: str) -> str:
        """`zh-cn` or `zh-tw` for a text's Han characters `han` (other characters count as common)."""
        balance = 0
        form = self._form
        for char in han:
            verdict = form.get(char)
            if verdict is None:
                verdict = form[char] = self._judge(char)
            balance += verdict
        return TRADITIONAL if balance > 0 else SIMPLIFIED

    def _judge(self, char: str) -> int:
        traditional = self._to_simplified.convert(char) != char
        simplified = self._to_traditional.convert(char) != char
        return int(traditional) - int(simplified)
