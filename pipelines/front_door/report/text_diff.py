"""Where a near duplicate differs from its survivor: the diff the report's cluster examples show
(the excerpts start a little before the first difference; the changed words are marked)."""

from __future__ import annotations

import difflib
import html

# words of common text shown before the first difference
CONTEXT_UNITS = 12


def text_units(text: str) -> list[str]:
    """The units a diff compares: words with the space after them, or characters for text written
    without spaces (Chinese), so that joining the units gives back `text`."""
    if text.count(" ") * 20 < len(text):
        return list(text)
    units, start = [], 0
    for i, char in enumerate(text):
        if char == " ":
            units.append(text[start:i + 1])
            start = i + 1
    if start < len(text):
        units.append(text[start:])
    return units


def first_difference(reference: str, text: str) -> tuple[int, int]:
    """Character offsets in `reference` and in `text` CONTEXT_UNITS units before their first
    difference (0, 0 when they are equal)."""
    ref_units, units = text_units(reference), text_units(text)
    matcher = difflib.SequenceMatcher(None, ref_units, units, autojunk=False)
    op = next((op for op in matcher.get_opcodes() if op[0] != "equal"), None)
    if op is None:
        return 0, 0
    return (len("".join(ref_units[:max(op[1] - CONTEXT_UNITS, 0)])),
            len("".join(units[:max(op[3] - CONTEXT_UNITS, 0)])))


def marked_changes(text: str, reference: str) -> str:
    """`text` as HTML with what is not in `reference` at that place in <mark>."""
    ref_units, units = text_units(reference), text_units(text)
    out = []
    for op, _, _, start, end in difflib.SequenceMatcher(None, ref_units, units, autojunk=False).get_opcodes():
        chunk = html.escape("".join(units[start:end]))
        if chunk:
            out.append(chunk if op == "equal" else f"<mark>{chunk}</mark>")
    return "".join(out)
