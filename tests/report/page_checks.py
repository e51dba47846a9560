"""What a report page must show: every `data-key` element's text is the summary.json value at
that path, as the page writes it. One check for the HTML test and the browser test."""

from __future__ import annotations

import re
from typing import Any


def resolve(summary: dict, key: str) -> Any:
    """The summary value at a data-key path (dots between dict keys and list indices)."""
    value: Any = summary
    for part in key.split("."):
        value = value[int(part)] if isinstance(value, list) else value[part]
    return value


def shown_value_problem(summary: dict, key: str, text: str, scale: float = 1.0) -> str | None:
    """Why `text` (shown for `key`, scaled by `scale`) is not the summary's value, or None."""
    try:
        expected = resolve(summary, key)
    except (KeyError, IndexError, ValueError, TypeError):
        return f"{key}: not in summary.json"
    if isinstance(expected, bool):
        return None if text == ("yes" if expected else "no") else f"{key}: {text!r} for {expected}"
    if isinstance(expected, (int, float)):
        try:
            shown = float(text.replace(",", ""))
        except ValueError:
            return f"{key}: {text!r} is not a number ({expected})"
        # half a unit of the last digit shown (relative for the exponent form)
        mantissa = text.split("e")[0]
        decimals = len(mantissa.split(".")[1]) if "." in mantissa else 0
        tolerance = 0.5 * 10 ** -decimals * (10 ** int(text.split("e")[1]) if "e" in text else 1)
        return None if abs(shown - expected * scale) <= tolerance * 1.0001 else f"{key}: {text!r} for {expected}"
    return None if text == str(expected) else f"{key}: {text!r} for {expected!r}"


def numeric_cells_without_key(cells: list[tuple[str, bool]]) -> list[str]:
    """Numeric table cells (text, whether a data-key element is inside) that show a number but no data-key:
    a number on the page that does not come from summary.json."""
    return [text for text, keyed in cells if not keyed and re.search(r"\d", text)]
