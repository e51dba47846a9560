"""Hashed word and character n-gram features of a text, fastText style, computed with numpy.

A text becomes a sparse vector over `2 ** hash_bits` buckets: every word n-gram and character
n-gram is hashed to a bucket, counts are damped (log1p) and the vector is scaled to unit length,
so a long document and a short one score on the same scale. Hashes are fixed functions of the
text (polynomial hashes of code points, then splitmix64's finaliser), never Python's salted
`hash`, so a model trained in one process scores the same in every other.

Character n-grams are taken over the whole lower-cased text with runs of whitespace collapsed to
one space, so they cross word boundaries and work for scripts without spaces (Chinese) as well.
Hashing spans of one prefix sum keeps the cost per document a dozen numpy calls (about 0.2 ms of
CPU for 2 KB of text), not a Python loop over n-grams.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

# odd multipliers (any fixed odd 64-bit values): the polynomial base and the finaliser's (splitmix64's)
_BASE = 0x100000001B3
_BASE_INVERSE = pow(_BASE, -1, 1 << 64)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
# the n-gram kind and order salt the hash, so the word bigram "a b" and the character trigram "a b"
# land in unrelated buckets
_WORD_SALT = 0x9E3779B97F4A7C15
_CHAR_SALT = 0xC2B2AE3D27D4EB4F
_SPACE = 32
@dataclass(frozen=True)
class FeatureSpec:
    """Which n-grams a classifier hashes, and into how many buckets (`2 ** hash_bits`)."""

    word_ngrams: tuple[int, ...] = (1, 2)
    char_ngrams: tuple[int, ...] = (3, 4, 5)
    hash_bits: int = 20
    max_chars: int = 0

    def __post_init__(self) -> None:
        if not 8 <= self.hash_bits <= 26:
            raise ValueError(f"hash_bits must be within [8, 26], got {self.hash_bits}")
        orders = (*self.word_ngrams, *self.char_ngrams)
        if not orders or any(n < 1 or n > 8 for n in orders):
            raise ValueError(f"n-gram orders must be within [1, 8] and at least one given, got "
                             f"word_ngrams {list(self.word_ngrams)}, char_ngrams {list(self.char_ngrams)}")
        if self.max_chars < 0:
            raise ValueError(f"max_chars must be 0 (the whole text) or positive, got {self.max_chars}")

    @property
    def dim(self) -> int:
        """The number of hash buckets."""
        return 1 << self.hash_bits

    def to_json(self) -> dict:
        """The spec as config.json stores it."""
        return {"word_ngrams": list(self.word_ngrams), "char_ngrams": list(self.char_ngrams),
                "hash_bits": self.hash_bits, "max_chars": self.max_chars}

    @classmethod
    def from_json(cls, value: dict) -> "FeatureSpec":
        """Inverse of `to_json`; ValueError (or KeyError/TypeError) for a malformed entry."""
        return cls(word_ngrams=tuple(int(n) for n in value["word_ngrams"]),
                   char_ngrams=tuple(int(n) for n in value["char_ngrams"]),
                   hash_bits=int(value["hash_bits"]), max_chars=int(value.get("max_chars", 0)))


class SparseVector(NamedTuple):
    """The features of one text: sorted bucket indices and their weights (unit L2 norm; empty for a
    text without any n-gram)."""

    indices: np.ndarray  # int64
    values: np.ndarray  # float32


def _powers(base: int, n: int) -> np.ndarray:
    """base ** 0 .. base ** (n - 1) modulo 2 ** 64 (numpy's uint64 products wrap)."""
    powers = np.full(n, np.uint64(base), dtype=np.uint64)
    powers[0] = 1
    return np.cumprod(powers, dtype=np.uint64)


def _finalise(h: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: every output bit depends on every input bit, so the top bits can be
    the bucket."""
    h = (h ^ (h >> np.uint64(30))) * _MIX1
    h = (h ^ (h >> np.uint64(27))) * _MIX2
    return h ^ (h >> np.uint64(31))


def _salted(order: int, salt: int) -> np.uint64:
    return np.uint64((order * salt) & 0xFFFFFFFFFFFFFFFF)


def normalised_text(text: str, spec: FeatureSpec) -> str:
    """What the n-grams are taken from: the first max_chars characters, lower-cased, runs of
    whitespace as one space."""
    if spec.max_chars:
        text = text[:spec.max_chars]
    return " ".join(text.lower().split())


def ngram_hashes(text: str, spec: FeatureSpec) -> np.ndarray:
    """The 64-bit hashes (uint64) of every configured word and character n-gram of `text`.

    Words are the text's whitespace-separated tokens (as fastText splits). Every hash comes from
    one prefix sum of the code points: the polynomial hash of any span is
    (P[end] - P[start]) * base ** -start modulo 2 ** 64, so no n-gram is built as a string.
    """
    normal = normalised_text(text, spec)
    if not normal:
        return np.empty(0, dtype=np.uint64)
    codes = np.frombuffer(normal.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    length = len(codes)
    powers = _powers(_BASE, length + 1)
    inverse = _powers(_BASE_INVERSE, length + 1)
    prefix = np.zeros(length + 1, dtype=np.uint64)
    np.cumsum(codes * powers[:length], dtype=np.uint64, out=prefix[1:])
    parts = []
    for n in spec.char_ngrams:
        if length >= n:
            starts = np.arange(length - n + 1)
            parts.append((prefix[starts + n] - prefix[starts]) * inverse[starts] + _salted(n, _CHAR_SALT))
    if spec.word_ngrams:
        spaces = np.flatnonzero(codes == _SPACE)
        starts = np.concatenate([[0], spaces + 1])
        ends = np.concatenate([spaces, [length]])
        words = (prefix[ends] - prefix[starts]) * inverse[starts]
        for n in spec.word_ngrams:
            count = len(words) - n + 1
            if count <= 0:
                continue
            h = words[:count].copy()
            for k in range(1, n):
                h = h * np.uint64(_BASE) + words[k:k + count]
            parts.append(h + _salted(n, _WORD_SALT))
    return _finalise(np.concatenate(parts)) if parts else np.empty(0, dtype=np.uint64)


def featurize(text: str, spec: FeatureSpec) -> SparseVector:
    """The sparse feature vector of `text`: log1p counts per bucket, scaled to unit L2 norm."""
    hashes = ngram_hashes(text, spec)
    if not len(hashes):
        return SparseVector(np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32))
    buckets = hashes >> np.uint64(64 - spec.hash_bits)
    indices, counts = np.unique(buckets.astype(np.int64), return_counts=True)
    values = np.log1p(counts.astype(np.float32))
    values /= np.sqrt(np.dot(values, values))
    return SparseVector(indices, values)


class SparseMatrix(NamedTuple):
    """Rows of SparseVectors in CSR form: row i is indices/values[indptr[i]:indptr[i + 1]]."""

    indptr: np.ndarray
    indices: np.ndarray
    values: np.ndarray

    @property
    def rows(self) -> int:
        """The number of rows."""
        return len(self.indptr) - 1


def stack(vectors: list[SparseVector]) -> SparseMatrix:
    """The CSR matrix of `vectors`, one row each."""
    lengths = np.fromiter((len(v.indices) for v in vectors), dtype=np.int64, count=len(vectors))
    indptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    if not vectors:
        return SparseMatrix(indptr, np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32))
    return SparseMatrix(indptr, np.concatenate([v.indices for v in vectors]),
                        np.concatenate([v.values for v in vectors]))


def row_dots(matrix: SparseMatrix, weights: np.ndarray) -> np.ndarray:
    """`matrix @ weights` (float64), one dot product per row; 0 for an empty row."""
    products = weights[matrix.indices].astype(np.float64) * matrix.values
    sums = np.concatenate([[0.0], np.cumsum(products)])
    return sums[matrix.indptr[1:]] - sums[matrix.indptr[:-1]]
