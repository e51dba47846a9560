"""The record every data stage passes around, and the record of a rejection.

Both are plain dataclasses so the stage cores can be tested without Beam. Their
Parquet form is the data contract in docs/CONTRACTS.md.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class Document:
    """One document: stable id, text, detected language, source path and free-form metadata."""

    id: str
    text: str
    source: str = ""
    lang: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    def to_row(self) -> dict[str, Any]:
        """The Parquet row of a kept document (`meta` serialised as a JSON string)."""
        return {
            "id": self.id,
            "text": self.text,
            "lang": self.lang,
            "source": self.source,
            "meta": json.dumps(self.meta, ensure_ascii=False, sort_keys=True),
        }

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> "Document":
        """Inverse of `to_row`; accepts `meta` as a JSON string, a dict or missing.

        Raises ValueError when `meta` is not a JSON object (json.JSONDecodeError is one)."""
        meta = row.get("meta") or {}
        if isinstance(meta, str):
            meta = json.loads(meta) if meta else {}
        if not isinstance(meta, dict):
            raise ValueError(f"meta is a JSON {type(meta).__name__}, not an object")
        return cls(
            id=row["id"],
            text=row["text"],
            source=row.get("source") or "",
            lang=row.get("lang") or "",
            meta=meta,
        )


@dataclass(slots=True)
class Rejected:
    """A document a stage did not keep, with the stage, a machine-readable reason and a human detail.

    `duplicate_of` is the id of the surviving document for duplicates, else None.
    """

    doc: Document
    stage: str
    reason: str
    detail: str = ""
    duplicate_of: str | None = None

    def to_row(self) -> dict[str, Any]:
        """The Parquet row of a rejected document: the kept columns plus stage, reason, detail, duplicate_of."""
        row = self.doc.to_row()
        row.update(stage=self.stage, reason=self.reason, detail=self.detail, duplicate_of=self.duplicate_of)
        return row


def stable_id(source_key: str, position: int) -> str:
    """Id of a document that came without one: a hash of its source path (relative to the
    input root, so moving the corpus keeps ids) and its position in that file."""
    # surrogateescape: a file name that is not UTF-8 hashes its original bytes instead of failing.
    digest = hashlib.blake2b(f"{source_key}\x00{position}".encode("utf-8", "surrogateescape"), digest_size=10)
    return digest.hexdigest()
