"""Hashed n-gram features: stable across processes, unit length, n-gram orders separated."""

import subprocess
import sys

import numpy as np
import pytest

from fullchain.pipelines.classify.features import FeatureSpec, featurize, ngram_hashes, row_dots, stack

TEXT = "The river that runs through the old market town. 这条穿过老城的河流"


def test_features_are_unit_length_sorted_and_the_same_in_another_process():
    spec = FeatureSpec(hash_bits=16)
    vector = featurize(TEXT, spec)
    assert np.all(np.diff(vector.indices) > 0) and vector.indices.max() < spec.dim
    assert np.dot(vector.values, vector.values) == pytest.approx(1.0, abs=1e-6)
    # Python's own str hash is salted per process; these hashes must not be
    code = ("from fullchain.pipelines.classify.features import FeatureSpec, featurize;"
            f"print(featurize({TEXT!r}, FeatureSpec(hash_bits=16)).indices.tolist())")
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={"PYTHONHASHSEED": "123"})
    assert other.stdout.strip() == str(vector.indices.tolist())


def test_counts_per_order_and_normalisation():
    spec = FeatureSpec(word_ngrams=(1, 2), char_ngrams=(3,), hash_bits=20)
    # "a  b\tc" normalises to "a b c": 3 words, 2 word bigrams, 3 character trigrams
    assert len(ngram_hashes("A  b\tC", spec)) == 3 + 2 + 3
    assert np.array_equal(ngram_hashes("A  b\tC", spec), ngram_hashes("a b c", spec))
    # the word "abc" and the character trigram "abc" are different features
    words_only = ngram_hashes("abc", FeatureSpec(word_ngrams=(1,), char_ngrams=()))
    chars_only = ngram_hashes("abc", FeatureSpec(word_ngrams=(), char_ngrams=(3,)))
    assert words_only[0] != chars_only[0]
    assert len(featurize("", spec).indices) == 0


def test_max_chars_reads_only_the_start():
    spec = FeatureSpec(max_chars=10)
    assert np.array_equal(featurize("0123456789" + "x" * 500, spec).indices, featurize("0123456789", spec).indices)


def test_row_dots_match_dense_products():
    spec = FeatureSpec(hash_bits=10)
    texts = ["alpha beta", "", "gamma delta epsilon"]
    matrix = stack([featurize(t, spec) for t in texts])
    weights = np.random.default_rng(0).normal(size=spec.dim).astype(np.float32)
    dense = np.zeros((3, spec.dim))
    for i, t in enumerate(texts):
        v = featurize(t, spec)
        dense[i, v.indices] = v.values
    assert np.allclose(row_dots(matrix, weights), dense @ weights, atol=1e-5)


@pytest.mark.parametrize("kwargs", [{"hash_bits": 4}, {"word_ngrams": (), "char_ngrams": ()}, {"char_ngrams": (9,)}])
def test_bad_specs_are_refused(kwargs):
    with pytest.raises(ValueError):
        FeatureSpec(**kwargs)
