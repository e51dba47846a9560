"""What the duplicate search knows of a document (its `DocKey`, everything but the text) and the
decisions it makes on keys alone: which member of an exact-duplicate group survives, which of the
documents sharing an id is kept, and the detail of a near duplicate.

The Beam layer (beam.py) shuffles only DocKeys, band keys and ids; the text meets its decision
once, where the kept and rejected documents are written. Pure functions: no Beam here.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Iterable

from fullchain.pipelines.document import Document

STAGE = "dedup"
EXACT_DUPLICATE = "exact_duplicate"
NEAR_DUPLICATE = "near_duplicate"
DUPLICATE_ID = "duplicate_id"


@dataclass(frozen=True, slots=True)
class DocKey:
    """One input record as the duplicate search sees it.

    `serial` is unique per record within a job (it pairs a decision with its record, even between
    records with the same id and text); `record_hash` covers the whole record, so ties between
    records equal in id, text hash and source are broken by content and never by arrival order.
    `bands` are the LSH band keys, empty when the near-duplicate search is off or the text has no
    shingles.
    """

    serial: int
    id: str
    text_hash: bytes
    source: str
    record_hash: bytes
    bands: tuple[bytes, ...] = ()

    @property
    def node(self) -> tuple[str, int]:
        """The document as a node of the near-duplicate graph: ordered by id, which is unique there."""
        return self.id, self.serial


@dataclass(frozen=True, slots=True)
class Decision:
    """Why a record is rejected: reason, a human-readable detail and the kept document it duplicates."""

    reason: str
    detail: str
    duplicate_of: str | None = None


def record_hash(doc: Document) -> bytes:
    """A 64-bit hash of every field of `doc` (the tie-break between otherwise equal records)."""
    meta = json.dumps(doc.meta, ensure_ascii=False, sort_keys=True, default=str)
    content = "\x00".join((doc.id, doc.text, doc.source, doc.lang, meta))
    return hashlib.blake2b(content.encode("utf-8", "surrogatepass"), digest_size=8).digest()


def exact_group_decisions(text_hash: bytes, keys: Iterable[DocKey]) -> tuple[DocKey, list[tuple[int, Decision]]]:
    """The survivor of a group of records with the same normalised text (smallest id, then source,
    then content) and (serial, Decision) for every other record: exact_duplicate of the survivor."""
    members = sorted(keys, key=lambda k: (k.id, k.source, k.record_hash, k.serial))
    survivor = members[0]
    detail = f"same normalised text as {survivor.id} (hash {text_hash[:8].hex()})"
    return survivor, [(k.serial, Decision(EXACT_DUPLICATE, detail, survivor.id)) for k in members[1:]]


def one_per_id(doc_id: str, keys: Iterable[DocKey]) -> tuple[DocKey, list[tuple[int, Decision]]]:
    """Of records (with different texts) sharing `doc_id`, the one kept for the near-duplicate search
    (smallest text hash, then source) and a duplicate_id decision for each other."""
    members = sorted(keys, key=lambda k: (k.text_hash, k.source, k.record_hash, k.serial))
    kept = members[0]
    detail = f"id {doc_id} is also the id of a document from {kept.source}"
    return kept, [(k.serial, Decision(DUPLICATE_ID, detail)) for k in members[1:]]


def best_match(matches: Iterable[tuple[float | None, str]]) -> tuple[float | None, str]:
    """The most similar linked document of a near duplicate, (Jaccard, id); ties to the smallest id."""
    return min(matches, key=lambda match: (-(match[0] or 0.0), match[1]))


def near_detail(match: tuple[float | None, str]) -> str:
    """The detail of a near duplicate from its best match."""
    similarity, other = match
    if similarity is None:
        return f"LSH candidate of {other} (not verified)"
    return f"jaccard {similarity:.3f} with {other}"
