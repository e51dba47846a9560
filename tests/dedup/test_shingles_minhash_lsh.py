"""Shingles, MinHash signatures (equal to datasketch's), band keys, candidate pairs and Jaccard."""

import numpy as np
import pytest
from datasketch import MinHash
from datasketch.hashfunc import sha1_hash64

from fullchain.pipelines.dedup import minhash as minhash_module
from fullchain.pipelines.dedup.config import MinHashConfig, ShingleConfig
from fullchain.pipelines.dedup.jaccard import jaccard
from fullchain.pipelines.dedup.lsh import band_keys, band_partitions, candidate_pairs, equal_hash_runs
from fullchain.pipelines.dedup.minhash import minhash_signatures
from fullchain.pipelines.dedup.shingles import shingle_sets
from fullchain.pipelines.dedup.tokens import tokenize
from fullchain.pipelines.sample_corpus import generate_corpus

MASK = (1 << 64) - 1


def _fmix64(x):
    x ^= x >> 33
    x = (x * 0xFF51AFD7ED558CCD) & MASK
    x ^= x >> 33
    x = (x * 0xC4CEB9FE1A85EC53) & MASK
    return x ^ (x >> 33)


def reference_shingles(text, n):
    """The documented shingle hashes, computed one by one with Python integers."""
    hashes = [sha1_hash64(t.encode("utf-8")) for t in tokenize(text)]
    n = min(n, len(hashes))
    out = set()
    for start in range(len(hashes) - n + 1 if n else 0):
        h = 0
        for token_hash in hashes[start:start + n]:
            h = (h * 0x9E3779B97F4A7C15 + token_hash) & MASK
        out.add(_fmix64(h))
    return out


def string_shingles(text, n):
    tokens = tokenize(text)
    n = min(n, len(tokens))
    return {" ".join(tokens[i:i + n]) for i in range(len(tokens) - n + 1)} if n else set()


@pytest.fixture(scope="module")
def corpus():
    records, truth = generate_corpus(200, seed=5, noise_fraction=0.0)
    return records, truth


def test_shingle_hashes_match_the_reference(corpus):
    records, truth = corpus
    texts = [r["text"] for r in records[:40]] + ["", "!!!", "one two", "a b c d e", "中文字"]
    sets = shingle_sets(texts, ShingleConfig())
    for text, got in zip(texts, sets):
        assert got.dtype == np.uint64 and np.all(got[:-1] < got[1:])  # sorted, distinct
        assert set(got.tolist()) == reference_shingles(text, 5)
    assert len(sets[-5]) == 0 and len(sets[-4]) == 0  # no tokens, no shingles
    assert len(sets[-3]) == 1 and len(sets[-1]) == 1  # shorter than n: one shingle of everything


def test_cjk_text_uses_character_ngrams():
    cfg = ShingleConfig(ngram_size=2, cjk_char_ngram_size=4)
    zh, en = shingle_sets(["我们的国家很美丽", "we love our country very much"], cfg)
    assert len(zh) == 8 - 4 + 1 and len(en) == 6 - 2 + 1


def test_hashed_jaccard_equals_string_jaccard(corpus):
    records, truth = corpus
    texts = {r["id"]: r["text"] for r in records}
    cfg = ShingleConfig()
    for pair in truth.duplicates[:15]:
        a, b = texts[pair.original_id], texts[pair.duplicate_id]
        sa, sb = string_shingles(a, 5), string_shingles(b, 5)
        expected = len(sa & sb) / len(sa | sb)
        ha, hb = shingle_sets([a, b], cfg)
        assert jaccard(ha, hb) == pytest.approx(expected, abs=1e-12) == pytest.approx(pair.jaccard, abs=1e-4)


def test_jaccard_of_small_sets():
    a, b = np.array([1, 2, 3], np.uint64), np.array([2, 3, 4, 5], np.uint64)
    assert jaccard(a, b) == pytest.approx(2 / 5)
    assert jaccard(a, a) == 1.0
    assert jaccard(a, np.array([], np.uint64)) == 0.0 == jaccard(np.array([], np.uint64), np.array([], np.uint64))


@pytest.mark.parametrize("step", [64, 1 << 14])
def test_signatures_equal_datasketch(step, monkeypatch):
    monkeypatch.setattr(minhash_module, "_SHINGLES_PER_STEP", step)  # documents split across numpy steps too
    rng = np.random.default_rng(0)
    sizes = (0, 1, 5, 63, 64, 65, 300, 1000, 0, 2)
    docs = [rng.integers(0, 2**64 - 1, size=size, dtype=np.uint64) for size in sizes]
    for cfg in (MinHashConfig(), MinHashConfig(num_bands=4, rows_per_band=3, seed=42)):
        signatures = minhash_signatures(docs, cfg)
        assert signatures.shape == (len(docs), cfg.num_perm) and signatures.dtype == np.uint32
        for hashes, row in zip(docs, signatures):
            # datasketch hashes each input with `hashfunc`: here the top half of the shingle hash
            reference = MinHash(num_perm=cfg.num_perm, seed=cfg.seed, hashfunc=lambda h: h >> 32)
            for shingle_hash in hashes.tolist():
                reference.update(shingle_hash)
            np.testing.assert_array_equal(row, reference.hashvalues)


def test_signatures_estimate_jaccard(corpus):
    records, truth = corpus
    texts = {r["id"]: r["text"] for r in records}
    cfg = MinHashConfig()
    for pair in [d for d in truth.duplicates if d.kind == "near"][:10]:
        sets = shingle_sets([texts[pair.original_id], texts[pair.duplicate_id]], ShingleConfig())
        a, b = minhash_signatures(sets, cfg)
        assert abs(np.mean(a == b) - pair.jaccard) < 0.15  # 112 permutations: std ~0.05


def test_band_keys():
    cfg = MinHashConfig(num_bands=3, rows_per_band=2)
    signatures = np.array([[1, 2, 3, 4, 5, 6],
                           [1, 2, 9, 4, 5, 6],   # band 1 differs from row 0
                           [5, 6, 1, 2, 3, 4]],  # same rows as row 0, other bands
                          dtype=np.uint32)
    keys = band_keys(signatures, cfg)
    assert [len(k) for k in keys] == [3, 3, 3] and all(len(key) == 10 for k in keys for key in k)
    assert keys[0][0] == keys[1][0] and keys[0][2] == keys[1][2] and keys[0][1] != keys[1][1]
    assert not set(keys[0]) & set(keys[2])  # the band index is part of the key
    assert [key[:2] for key in keys[0]] == [b"\x00\x00", b"\x00\x01", b"\x00\x02"]
    assert band_keys(signatures, cfg) == keys  # deterministic


def test_candidate_pairs_all_pairs_or_star():
    assert candidate_pairs(["c", "a", "b"], max_bucket_pairs=3) == [("a", "b"), ("a", "c"), ("b", "c")]
    assert candidate_pairs(["c", "a", "b"], max_bucket_pairs=2) == [("a", "b"), ("a", "c")]
    assert candidate_pairs(["x"], max_bucket_pairs=1) == []
    assert candidate_pairs(["b", "a", "b"], max_bucket_pairs=10) == [("a", "b")]


def test_band_partitions_find_exactly_the_documents_that_share_a_band_key():
    rng = np.random.default_rng(7)
    cfg = MinHashConfig()
    signatures = rng.integers(0, 2**32, size=(300, cfg.num_perm), dtype=np.uint64).astype(np.uint32)
    signatures[10] = signatures[3]  # shares every band with document 3
    signatures[20, :cfg.rows_per_band] = signatures[5, :cfg.rows_per_band]  # shares band 0 with document 5
    keys = band_keys(signatures, cfg)
    expected = {}
    for doc, doc_keys in enumerate(keys):
        for key in doc_keys:
            expected.setdefault(key, []).append(doc)
    expected = sorted(sorted(docs) for docs in expected.values() if len(docs) > 1)
    found, partitions = [], set()
    for band, partition, members, hashes in band_partitions([b"".join(k) for k in keys], partition_bits=3):
        partitions.add((band, partition))
        found += [sorted(int(members[i]) for i in run) for run in equal_hash_runs(hashes)]
    assert sorted(found) == expected == sorted([[3, 10]] * cfg.num_bands + [[5, 20]])
    assert len(partitions) == cfg.num_bands * 8
