"""Which documents are augmented: a seeded hash of the id, so the choice is the same on every run."""

from __future__ import annotations

import hashlib


def selection_score(doc_id: str, seed: int) -> float:
    """A number in [0, 1) that depends only on the id and the seed (uniform over ids)."""
    digest = hashlib.blake2b(f"{seed}\x00{doc_id}".encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def is_selected(doc_id: str, seed: int, fraction: float) -> bool:
    """Whether the document with this id is augmented when `fraction` of documents are."""
    return selection_score(doc_id, seed) < fraction
