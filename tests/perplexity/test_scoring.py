"""The pure core: windows, perplexity, cut points, buckets and verdicts."""

import math

import pytest

from fullchain.pipelines.document import Document
from fullchain.pipelines.length_batching import document_batches
from fullchain.pipelines.perplexity.scoring import (
    absolute_bounds,
    absolute_bucket,
    cut_points,
    lang_thresholds,
    percentile_bounds,
    percentile_bucket,
    perplexity,
    scoring_windows,
    verdict,
    with_score,
)


def test_windows_with_context_token():
    assert scoring_windows([5, 6, 7, 8, 9], 2, 2, context_id=1) == [[1, 5, 6], [1, 7, 8]]
    assert scoring_windows([5, 6, 7], 4, 3, context_id=1) == [[1, 5, 6, 7]]
    assert scoring_windows([5], 4, 1, context_id=1) == [[1, 5]]
    assert scoring_windows([], 4, 1, context_id=1) == []


def test_windows_without_context_token_drop_single_tokens():
    # without a BOS the first token of a window is context only; a 1-token window predicts nothing
    assert scoring_windows([5, 6, 7], 2, 5, context_id=None) == [[5, 6]]
    assert scoring_windows([5], 2, 1, context_id=None) == []


def test_perplexity():
    assert perplexity(0.0, 4) == 1.0
    assert perplexity(4 * math.log(10), 4) == pytest.approx(10.0)
    assert perplexity(0.0, 0) is None
    assert perplexity(1e6, 1) == math.inf


def test_lang_thresholds():
    assert lang_thresholds(["en=800", " zh = 1200.5"]) == {"en": 800.0, "zh": 1200.5}
    for bad in (["en"], ["en=x"], ["en=-1"], ["en=nan"], ["en=1", "en=2"]):
        with pytest.raises(ValueError):
            lang_thresholds(bad)


def test_cut_points_and_buckets():
    quantiles = [float(i) for i in range(101)]  # percentile i is i
    cuts = cut_points(quantiles, 33.0, 66.0)
    assert cuts == (33.0, 66.0)
    assert [percentile_bucket(p, cuts) for p in (1, 33, 33.5, 66, 67)] == ["head", "head", "middle", "middle", "tail"]
    assert absolute_bucket(10.0, None) == "head"
    assert absolute_bucket(10.0, 10.0) == "head" and absolute_bucket(10.1, 10.0) == "tail"


def test_verdict_details():
    assert verdict(12.0, "head", ["head", "middle"], "") is None
    failure = verdict(250.123, "tail", ["head", "middle"], percentile_bounds("tail", (10.0, 200.0), "en"))
    assert failure.reason == "perplexity"
    assert failure.detail == "perplexity 250.12 > middle cut 200.00 for lang 'en' (bucket tail)"
    failure = verdict(900.0, "tail", ("head",), absolute_bounds(800.0, "zh"))
    assert failure.detail == "perplexity 900.00 > max_ppl 800 for lang 'zh' (bucket tail)"


def test_with_score_copies_meta():
    doc = Document(id="a", text="t", meta={"x": 1})
    scored = with_score(doc, 12.3456, "head")
    assert scored.meta == {"x": 1, "ppl": 12.35, "ppl_bucket": "head"} and doc.meta == {"x": 1}
    assert with_score(doc, math.inf, "tail").meta["ppl"] is None


def test_document_batches():
    docs = [Document(id=f"d{i}", text="x" * n) for i, n in enumerate([5, 1, 3, 1, 9])]
    def ids(batches):
        return [[d.id for d in batch] for batch in batches]

    assert ids(document_batches(docs, 2, by_length=True)) == [["d1", "d3"], ["d2", "d0"], ["d4"]]
    assert ids(document_batches(docs, 2, by_length=False)) == [["d0", "d1"], ["d2", "d3"], ["d4"]]
    mixed = [Document(id="e", text="abcdef", lang="en"), Document(id="z", text="河流", lang="zh"),
             Document(id="f", text="abcdefg", lang="en")]
    assert ids(document_batches(mixed, 2, by_length=True)) == [["e", "f"], ["z"]]
