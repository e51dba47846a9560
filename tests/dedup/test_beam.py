"""DeduplicateDocuments and ConnectedComponents on Beam's test pipeline."""

import random

import apache_beam as beam
import pytest
from apache_beam.testing.util import assert_that, equal_to

from fullchain.pipelines.dedup.beam import METRIC_NAMES, DeduplicateDocuments
from fullchain.pipelines.dedup.components_beam import ConnectedComponents
from fullchain.pipelines.dedup.config import DedupConfig
from fullchain.pipelines.dedup.connected_components import union_find_components
from fullchain.pipelines.dedup.exact_hash import exact_hash
from fullchain.pipelines.document import Document

from .graphs import sample_graphs
from .helpers import documents, edit_words, random_text, run_pipeline


def small_corpus():
    """Unique documents, exact copies, a near-duplicate cluster and a far edit; ids chosen so that
    an exact twin is itself a near duplicate of a smaller id."""
    rng = random.Random(1)
    base = [random_text(rng) for _ in range(8)]
    docs = [Document(id=f"u{i}", text=text, source="s.jsonl", meta={"i": i}) for i, text in enumerate(base)]
    docs += [
        Document(id="a2", text=base[0].upper() + "\n\n"),  # exact copy of u0 (case, whitespace) -> a2 survives
        Document(id="z9", text=base[0]),  # exact copy too
        Document(id="b1", text=edit_words(rng, base[1], 2)),  # near u1 (J ~0.94)
        Document(id="b2", text=edit_words(rng, base[1], 4)),  # near u1 (J ~0.87) and b1 (~0.82)
        Document(id="c1", text=edit_words(rng, base[2], 80)),  # far from u2 (J < 0.1): kept
        Document(id="d1", text=edit_words(rng, base[0], 2)),  # near u0's exact group: a2 (smaller id) survives
        Document(id="e1", text=""), Document(id="e2", text=" ... "),  # no tokens: exact copies of each other
    ]
    return docs


def rejected_summary(rejected):
    return rejected | "Summary" >> beam.Map(lambda r: (r.doc.id, r.stage, r.reason, r.duplicate_of))


EXPECTED_KEPT = ["a2", "b1", "c1", "e1"] + [f"u{i}" for i in range(2, 8)]
EXPECTED_REJECTED = [
    ("u0", "dedup", "exact_duplicate", "a2"), ("z9", "dedup", "exact_duplicate", "a2"),
    ("e2", "dedup", "exact_duplicate", "e1"),
    ("d1", "dedup", "near_duplicate", "a2"),
    # u1 > b1 in string order: the cluster {b1, b2, u1} keeps b1
    ("u1", "dedup", "near_duplicate", "b1"), ("b2", "dedup", "near_duplicate", "b1"),
]


def test_exact_and_near_duplicates():
    docs = small_corpus()

    def build(p):
        out = documents(p, docs) | DeduplicateDocuments(DedupConfig())
        assert_that(out.kept | beam.Map(lambda d: d.id), equal_to(EXPECTED_KEPT), label="Kept")
        assert_that(rejected_summary(out.rejected), equal_to(EXPECTED_REJECTED), label="Rejected")
        # kept documents come out unchanged
        assert_that(out.kept | beam.Filter(lambda d: d.id == "u3"), equal_to([docs[3]]), label="Unchanged")
        assert_that(out.rejected | beam.Filter(lambda r: r.doc.id == "b2") | beam.Map(lambda r: r.detail),
                    equal_to(["jaccard 0.873 with u1"]), label="Detail")

    counts = run_pipeline(build)
    assert set(counts) <= set(METRIC_NAMES)
    assert counts["input"] == len(docs) and counts["kept"] == len(EXPECTED_KEPT)
    assert counts["exact_duplicate"] == 3 and counts["near_duplicate"] == 3
    assert counts["documents_without_shingles"] == 1
    # LSH proposes the near pairs (and maybe a few more); verification keeps exactly the near ones
    assert counts["candidate_pairs"] >= counts["verified_pairs"] == 4  # u1-b1, u1-b2, b1-b2, a2-d1
    assert "cc_unconverged_edges" not in counts


@pytest.mark.parametrize("order", ["reversed", "by_text"])
def test_survivors_do_not_depend_on_input_order(order):
    docs = small_corpus()
    docs = docs[::-1] if order == "reversed" else sorted(docs, key=lambda d: d.text)

    def build(p):
        out = documents(p, docs) | DeduplicateDocuments(DedupConfig())
        assert_that(out.kept | beam.Map(lambda d: d.id), equal_to(EXPECTED_KEPT), label="Kept")
        assert_that(rejected_summary(out.rejected), equal_to(EXPECTED_REJECTED), label="Rejected")

    run_pipeline(build)


@pytest.mark.parametrize("cfg, kept, reasons", [
    (DedupConfig(near=False), 13, {"exact_duplicate": 3}),
    (DedupConfig(exact=False), 11, {"near_duplicate": 5}),  # u0, z9, d1 join a2's cluster; b2, u1 join b1
    (DedupConfig(exact=False, near=False), 16, {}),
    (DedupConfig(verify_jaccard=False), 10, {"exact_duplicate": 3, "near_duplicate": 3}),
])
def test_switching_steps_off(cfg, kept, reasons):
    docs = small_corpus()

    def build(p):
        out = documents(p, docs) | DeduplicateDocuments(cfg)
        assert_that(out.kept | beam.combiners.Count.Globally(), equal_to([kept]), label="Kept")
        assert_that(out.rejected | beam.Map(lambda r: r.reason) | beam.combiners.Count.PerElement(),
                    equal_to(list(reasons.items())), label="Reasons")

    counts = run_pipeline(build)
    assert counts["input"] == len(docs) and counts["kept"] == kept


@pytest.mark.parametrize("rounds", [1, 10])
def test_connected_components_in_beam_equal_the_reference(rounds):
    graphs = sample_graphs(seed=rounds)
    edges = [e for graph in graphs.values() for e in graph]
    expected = [(node, low) for node, low in union_find_components(edges).items() if node != low]

    def build(p):
        labels = p | beam.Create(edges) | ConnectedComponents(max_rounds=rounds)
        assert_that(labels, equal_to(expected))

    counts = run_pipeline(build)
    if rounds == 1:
        assert counts["cc_unconverged_edges"] > 0  # the long paths need the fallback after one round
    else:
        assert "cc_unconverged_edges" not in counts


def test_oversized_buckets_are_linked_as_stars():
    docs = small_corpus()

    def build(p):
        out = documents(p, docs) | DeduplicateDocuments(DedupConfig(max_bucket_pairs=1))
        assert_that(rejected_summary(out.rejected), equal_to(EXPECTED_REJECTED))

    counts = run_pipeline(build)
    assert counts["oversized_buckets"] > 0  # the bucket {b1, b2, u1} proposes b1-b2 and b1-u1 only


def test_second_document_with_the_same_id_is_rejected_not_fatal():
    rng = random.Random(5)
    text = random_text(rng)
    first, second = sorted([Document(id="same", text=text, source="a.jsonl"),
                            Document(id="same", text=random_text(rng), source="b.jsonl")],
                           key=lambda d: (exact_hash(d.text), d.source))
    docs = [first, second,
            Document(id="near", text=edit_words(rng, first.text, 2)),  # near the first "same"; smaller id
            Document(id="solo", text=random_text(rng))]

    def build(p):
        out = documents(p, docs) | DeduplicateDocuments(DedupConfig())
        assert_that(out.rejected | beam.Map(lambda r: (r.doc.id, r.doc.source, r.reason, r.duplicate_of)),
                    equal_to([("same", second.source, "duplicate_id", None),
                              ("same", first.source, "near_duplicate", "near")]), label="Rejected")
        assert_that(out.kept | beam.Map(lambda d: d.id), equal_to(["near", "solo"]), label="Kept")

    counts = run_pipeline(build)
    assert counts["duplicate_id"] == 1 and counts["near_duplicate"] == 1
