"""Locality-sensitive hashing: band keys of MinHash signatures and candidate pairs of a bucket.

Two documents are candidates when all rows of at least one band of their signatures are
equal, i.e. when they share a band key. With b bands of r rows, documents at Jaccard s
become candidates with probability 1 - (1 - s^r)^b.
"""

from __future__ import annotations

import numpy as np

from fullchain.pipelines.dedup.config import MinHashConfig
from fullchain.pipelines.dedup.shingles import fmix64

_ROW_MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)
# A key is the band index (2 bytes) then a 64-bit hash of the band's rows, big-endian: bytes
# compare and group the same on every runner, and 10 bytes are a quarter of the raw 8 rows.
_KEY_DTYPE = np.dtype([("band", ">u2"), ("rows_hash", ">u8")])


def band_keys(signatures: np.ndarray, cfg: MinHashConfig) -> list[list[bytes]]:
    """For every signature row, its `num_bands` band keys (10 bytes each, band index first).

    Keys of different bands never collide (the band index is part of the key); equal rows
    in the same band always give the same key.
    """
    n = len(signatures)
    rows = signatures.reshape(n, cfg.num_bands, cfg.rows_per_band).astype(np.uint64)
    combined = rows[:, :, 0].copy()
    for j in range(1, cfg.rows_per_band):
        combined *= _ROW_MULTIPLIER
        combined += rows[:, :, j]
    keys = np.empty((n, cfg.num_bands), dtype=_KEY_DTYPE)
    keys["band"] = np.arange(cfg.num_bands, dtype=np.uint16)
    keys["rows_hash"] = fmix64(combined)
    raw = keys.tobytes()
    size = _KEY_DTYPE.itemsize
    per_doc = size * cfg.num_bands
    return [[raw[start:start + size] for start in range(doc, doc + per_doc, size)]
            for doc in range(0, len(raw), per_doc)]


def candidate_pairs(bucket_ids: list[str], max_bucket_pairs: int) -> list[tuple[str, str]]:
    """The pairs (smaller id, larger id) that one LSH bucket proposes.

    All pairs while there are at most `max_bucket_pairs` of them; beyond that every member
    is paired with the smallest id only. Both link the same members into one component,
    but after Jaccard verification the star can miss a member that is similar to another
    member and not to the smallest one; buckets that big are rare outside templated text.
    """
    ids = sorted(set(bucket_ids))
    if len(ids) * (len(ids) - 1) // 2 <= max_bucket_pairs:
        return [(ids[i], ids[j]) for i in range(len(ids)) for j in range(i + 1, len(ids))]
    return [(ids[0], other) for other in ids[1:]]


def band_partitions(bands: list[bytes], partition_bits: int):
    """Band keys of many documents (each `bands` item: one document's keys, concatenated) grouped
    for the shuffle: yields (band, partition, document indices, their 64-bit band hashes) for every
    band and every partition (the top `partition_bits` bits of the hash) that holds a document.

    Documents that share a band key share its band and partition, so each (band, partition) can be
    searched for equal hashes on its own (`equal_hash_runs`); shipping them as arrays instead of
    one element per key makes the shuffle about a hundred times fewer, smaller elements.
    """
    keys = np.frombuffer(b"".join(bands), dtype=_KEY_DTYPE).reshape(len(bands), -1)
    hashes = keys["rows_hash"].astype(np.uint64)
    partitions = hashes >> np.uint64(64 - partition_bits)
    for band in range(hashes.shape[1]):
        order = np.argsort(partitions[:, band], kind="stable")
        sorted_parts = partitions[order, band]
        starts = np.flatnonzero(np.r_[True, sorted_parts[1:] != sorted_parts[:-1]])
        for start, end in zip(starts, np.r_[starts[1:], len(order)]):
            members = order[start:end]
            yield band, int(sorted_parts[start]), members, hashes[members, band]


def equal_hash_runs(hashes: np.ndarray) -> list[np.ndarray]:
    """The indices of every group of two or more equal values in `hashes` (an LSH bucket each)."""
    order = np.argsort(hashes, kind="stable")
    ordered = hashes[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    ends = np.r_[starts[1:], len(order)]
    return [order[start:end] for start, end in zip(starts, ends) if end - start > 1]
