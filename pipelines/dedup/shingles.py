"""Documents as sets of shingles (token n-grams), each shingle a 64-bit hash.

Words are n-grams of `ngram_size` tokens; a document whose tokens are mostly
Chinese/Japanese characters uses `cjk_char_ngram_size` instead (its tokens are single
characters, see `tokens`). A document shorter than n tokens has one shingle, all of its
tokens, so short texts still compare; a document without tokens has no shingles.

Each distinct token of a batch is hashed once with datasketch's `sha1_hash64`; n-gram
hashes are then combined from token hashes with numpy (a polynomial over the n token
hashes, finished with the MurmurHash3 64-bit mixer). That is about 4x faster than
SHA-1 over every n-gram string, and order-sensitive like the string would be.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import chain

import numpy as np
from datasketch.hashfunc import sha1_hash64

from fullchain.pipelines.dedup.config import ShingleConfig
from fullchain.pipelines.dedup.tokens import count_cjk_chars, tokenize

# Odd multiplier of the polynomial combining token hashes (the 64-bit golden ratio).
_NGRAM_MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)


def fmix64(values: np.ndarray) -> np.ndarray:
    """MurmurHash3's 64-bit finaliser, a bijection that spreads every input bit over the output."""
    values = values ^ (values >> np.uint64(33))
    values = values * np.uint64(0xFF51AFD7ED558CCD)
    values = values ^ (values >> np.uint64(33))
    values = values * np.uint64(0xC4CEB9FE1A85EC53)
    return values ^ (values >> np.uint64(33))


def ngram_size(text: str, tokens: list[str], cfg: ShingleConfig) -> int:
    """The shingle length of `text` (with its `tokens`): characters when most tokens are CJK characters."""
    return cfg.cjk_char_ngram_size if 2 * count_cjk_chars(text) > len(tokens) else cfg.ngram_size


def ngram_hashes(token_hashes: np.ndarray, n: int) -> np.ndarray:
    """The hash of every run of `n` consecutive token hashes (uint64), in order.

    Fewer than n tokens give one hash over all of them; no tokens give none.
    """
    n = min(n, len(token_hashes))
    if n == 0:
        return np.empty(0, dtype=np.uint64)
    count = len(token_hashes) - n + 1
    combined = token_hashes[:count].copy()
    for k in range(1, n):
        combined *= _NGRAM_MULTIPLIER
        combined += token_hashes[k:k + count]
    return fmix64(combined)


def shingle_sets(texts: Sequence[str], cfg: ShingleConfig) -> list[np.ndarray]:
    """For every text, the sorted distinct 64-bit hashes of its shingles."""
    return token_shingle_sets(texts, [tokenize(text) for text in texts], cfg)


def token_shingle_sets(texts: Sequence[str], token_lists: Sequence[list[str]], cfg: ShingleConfig) -> list[np.ndarray]:
    """`shingle_sets` of texts already tokenized (`tokens.tokenize`), for callers that need the tokens too."""
    hash_of = dict.fromkeys(chain.from_iterable(token_lists))
    for token in hash_of:
        hash_of[token] = sha1_hash64(token.encode("utf-8"))
    sets = []
    for text, tokens in zip(texts, token_lists):
        token_hashes = np.fromiter(map(hash_of.__getitem__, tokens), dtype=np.uint64, count=len(tokens))
        sets.append(np.unique(ngram_hashes(token_hashes, ngram_size(text, tokens, cfg))))
    return sets
