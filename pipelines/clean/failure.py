"""The verdict a rule gives when it rejects a text."""

from __future__ import annotations

from typing import NamedTuple


class Failure(NamedTuple):
    """Why a rule rejected a text: a machine-readable `reason` (one of the stage's REJECTION_REASONS)
    and a short human `detail` stating the measured value against the threshold."""

    reason: str
    detail: str
