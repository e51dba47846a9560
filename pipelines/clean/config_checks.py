"""The checks of clean's settings, one function per kind of value; each raises ValueError naming
the field (the config loader adds the file, line and section)."""

from __future__ import annotations

import re
from typing import NoReturn


def fail(name: str, requirement: str, value: object) -> NoReturn:
    """Raise the ValueError naming a field, what it must be, and the value it got."""
    # The config loader prefixes the section ("[langid] ..."), so the message names the field only.
    raise ValueError(f"{name} {requirement}, got {value!r}")


def check_fraction(name: str, value: float | None) -> None:
    """A value within [0, 1] (None: the threshold is off)."""
    if value is not None and not 0.0 <= value <= 1.0:
        fail(name, "must be within [0, 1]", value)


def check_non_negative(name: str, value: float | None) -> None:
    """A value >= 0 (None: off)."""
    if value is not None and value < 0:
        fail(name, "must be >= 0", value)


def check_positive(name: str, value: float | None) -> None:
    """A value > 0 (None: off)."""
    if value is not None and value <= 0:
        fail(name, "must be > 0", value)


def check_range(low_name: str, low: float | None, high_name: str, high: float | None) -> None:
    """low <= high where both are set."""
    if low is not None and high is not None and low > high:
        fail(low_name, f"must be <= {high_name} ({high!r})", low)


def check_ngram_fractions(name: str, value: dict[int, float]) -> None:
    """{n-gram size >= 1: fraction within [0, 1]}."""
    for n, fraction in value.items():
        if not isinstance(n, int) or n < 1:
            fail(name, "keys must be n-gram sizes >= 1", n)
        if not 0.0 <= fraction <= 1.0:
            fail(f"{name}[{n}]", "must be within [0, 1]", fraction)


def check_regex(name: str, pattern: str | None) -> None:
    """A pattern Python's re compiles (None: off)."""
    if pattern is None:
        return
    try:
        re.compile(pattern)
    except re.error as err:
        fail(name, f"is not a valid regular expression ({err})", pattern)
