"""Where a document goes: its split, its sample key and its shard, each a pure function of its id.

Every choice hashes the id with blake2b (seeded), so it is the same on every runner and every
run, and does not depend on the order documents arrive in.
"""

from __future__ import annotations

import hashlib
import math
import re

from fullchain.pipelines.document import Document

TRAIN = "train"
VAL = "val"
SPLITS = (TRAIN, VAL)
_KEY_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
_KEY_PREFIX_CHARS = 80


def id_hash(doc_id: str, seed: int, purpose: str) -> int:
    """A 64-bit hash of `doc_id`; `purpose` keeps the split, shard and sample hashes independent."""
    digest = hashlib.blake2b(doc_id.encode("utf-8"), digest_size=8, key=f"{purpose}:{seed}".encode("utf-8"))
    return int.from_bytes(digest.digest(), "big")


def split_of(doc: Document, val_fraction: float, seed: int) -> str:
    """`val` for about `val_fraction` of documents, else `train`. An augmented document hashes the id
    it was made from (meta `augmented_from`), so it never lands in the other split than its source."""
    origin = str(doc.meta.get("augmented_from") or doc.id)
    return VAL if id_hash(origin, seed, "split") / 2**64 < val_fraction else TRAIN


def shard_count(split_bytes: int, target_bytes: int) -> int:
    """Shards of a split holding `split_bytes`: enough that the average shard is at most the target."""
    return max(1, math.ceil(split_bytes / target_bytes))


def shard_of(doc_id: str, n_shards: int, seed: int) -> int:
    """The shard index of a document: hash of its id mod the split's shard count."""
    return id_hash(doc_id, seed, "shard") % n_shards


def sample_key(doc_id: str) -> str:
    """The WebDataset key of a document: the id with everything but [A-Za-z0-9_-] replaced by `_`
    (WebDataset cuts keys at the first dot), cut to 80 characters, plus a hash of the full id so
    that ids differing only in replaced or cut characters stay distinct."""
    readable = _KEY_UNSAFE.sub("_", doc_id)[:_KEY_PREFIX_CHARS]
    return f"{readable}_{hashlib.blake2b(doc_id.encode('utf-8'), digest_size=5).hexdigest()}"


def shard_name(index: int) -> str:
    """File name of shard `index`."""
    return f"shard-{index:06d}.tar"
