"""Dedup quality on a generated corpus with planted duplicates, through the real Beam transform.

The near duplicates are made by every kind of edit the generator knows (word substitutions,
sentence deletions and insertions, truncation, containment, shared boilerplate: NEAR_EDITS), with
the shingle Jaccard of each pair measured. A planted pair counts as found when both end up in one
cluster (a rejected document's cluster is its duplicate_of, which is always kept). The corpus is
deduplicated twice, with and without the exact Jaccard check of the LSH candidates, so the false
positives LSH makes are seen and seen to go.

Targets: recall >= 0.95 for pairs with Jaccard >= 0.85; with verification no pair below the
threshold merged and at most 1% of pairs with Jaccard <= 0.5; without it, detection per Jaccard
bin follows the LSH curve 1 - (1 - s^r)^b; unrelated documents never merged.
"""

import json
import math
import os

import apache_beam as beam
import pytest

from fullchain.pipelines.dedup.beam import DeduplicateDocuments
from fullchain.pipelines.dedup.config import DedupConfig
from fullchain.pipelines.document import Document
from fullchain.pipelines.sample_corpus import NEAR_EDITS, generate_corpus, write_jsonl

from .helpers import run_pipeline


def _document(line: str) -> Document:
    record = json.loads(line)
    return Document(id=record.pop("id"), text=record.pop("text"), meta=record)


def lsh_probability(similarity: float, cfg: DedupConfig) -> float:
    """The chance that MinHash LSH with cfg's bands x rows makes two documents of this Jaccard a candidate pair."""
    rows, bands = cfg.minhash.rows_per_band, cfg.minhash.num_bands
    return 1 - (1 - similarity ** rows) ** bands


def deduplicate(corpus: str, out: str, cfg: DedupConfig):
    """Each document's cluster (survivor id) and reason, and the stage counters."""

    def build(p):
        # Read from a file: beam.Create would pickle and compress 6 MB into the pipeline graph.
        docs = p | beam.io.ReadFromText(corpus) | beam.Map(_document)
        result = docs | DeduplicateDocuments(cfg)
        kept = result.kept | "KeptRows" >> beam.Map(lambda d: json.dumps([d.id, d.id, "kept"]))
        rejected = result.rejected | "RejectedRows" >> beam.Map(
            lambda r: json.dumps([r.doc.id, r.duplicate_of, r.reason]))
        (kept, rejected) | beam.Flatten() | beam.io.WriteToText(os.path.join(out, "clusters"))

    counts = run_pipeline(build)
    rows = [json.loads(line) for name in os.listdir(out) for line in open(os.path.join(out, name))]
    return {i: s for i, s, _ in rows}, {i: why for i, _, why in rows}, counts


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    root = tmp_path_factory.mktemp("quality")
    records, truth = generate_corpus(5000, seed=11, exact_dup_fraction=0.04, near_dup_fraction=0.25,
                                     noise_fraction=0.0, near_jaccard_range=(0.3, 0.99), near_edits=NEAR_EDITS)
    corpus = str(root / "corpus.jsonl")
    write_jsonl(records, corpus)
    verified = deduplicate(corpus, str(root / "verified"), DedupConfig())
    unverified = deduplicate(corpus, str(root / "unverified"), DedupConfig(verify_jaccard=False))
    return records, truth, verified, unverified


def near_pairs(truth, cluster):
    """(Jaccard, edit, found together) of every planted near pair."""
    return [(d.jaccard, d.edit, cluster[d.original_id] == cluster[d.duplicate_id])
            for d in truth.duplicates if d.kind == "near"]


def test_planted_duplicates_of_every_kind_are_found_and_unrelated_documents_kept_apart(planted):
    records, truth, (cluster, reason, counts), _ = planted
    assert len(cluster) == len(records) == counts["input"]
    pairs = near_pairs(truth, cluster)
    assert {edit for _, edit, _ in pairs} == set(NEAR_EDITS)
    high = [found for j, _, found in pairs if j >= 0.85]
    low = [found for j, _, found in pairs if j <= 0.5]
    recall, false_positive_rate = sum(high) / len(high), sum(low) / len(low)
    print(f"\nnear pairs: {len(pairs)}; J>=0.85: {len(high)} recall {recall:.3f}; "
          f"J<=0.5: {len(low)} false positives {false_positive_rate:.3f}; counters {counts}")
    assert len(high) >= 100 and len(low) >= 100
    assert recall >= 0.95
    assert false_positive_rate <= 0.01
    for edit in NEAR_EDITS:  # every kind is found where it is similar enough, not only substitutions
        found = [f for j, e, f in pairs if e == edit and j >= 0.85]
        assert len(found) >= 10 and sum(found) / len(found) >= 0.9, (edit, len(found), sum(found))

    exact = [d for d in truth.duplicates if d.kind == "exact"]
    assert all(cluster[d.original_id] == cluster[d.duplicate_id] for d in exact)
    assert all("exact_duplicate" in (reason[d.original_id], reason[d.duplicate_id]) for d in exact)

    # No cluster mixes documents of different planted groups (an original and its copies).
    group = {r["id"]: r["id"] for r in records}
    group.update({d.duplicate_id: d.original_id for d in truth.duplicates})
    groups_of_cluster = {}
    for doc_id, survivor in cluster.items():
        groups_of_cluster.setdefault(survivor, set()).add(group[doc_id])
    assert all(len(groups) == 1 for groups in groups_of_cluster.values())


def test_lsh_false_positives_appear_without_verification_and_vanish_with_it(planted):
    _, truth, (verified, _, verified_counts), (unverified, _, unverified_counts) = planted
    threshold = DedupConfig().jaccard_threshold
    below = lambda cluster: [j for j, _, found in near_pairs(truth, cluster) if found and j < threshold - 0.01]  # noqa: E731
    # LSH alone merges pairs under the threshold (at J = 0.6 about one pair in five)...
    assert len(below(unverified)) >= 20, len(below(unverified))
    assert unverified_counts["candidate_pairs"] > verified_counts["verified_pairs"]
    # ...and the exact Jaccard check of each candidate removes every one of them
    assert below(verified) == []


def test_detection_per_jaccard_bin_follows_the_lsh_curve(planted):
    _, truth, (verified, _, _), (unverified, _, _) = planted
    cfg = DedupConfig()
    pairs_unverified = near_pairs(truth, unverified)
    pairs_verified = near_pairs(truth, verified)
    checked = 0
    for low in [0.3 + 0.05 * k for k in range(13)]:
        in_bin = [(j, found) for j, _, found in pairs_unverified if low <= j < low + 0.05]
        if len(in_bin) < 30:
            continue
        expected = sum(lsh_probability(j, cfg) for j, _ in in_bin) / len(in_bin)
        measured = sum(found for _, found in in_bin) / len(in_bin)
        # four binomial standard deviations, and 0.03 for MinHash's hash functions not being random permutations
        tolerance = 4 * math.sqrt(max(expected * (1 - expected), 0.01) / len(in_bin)) + 0.03
        assert abs(measured - expected) <= tolerance, (low, len(in_bin), measured, expected)
        checked += 1
    assert checked >= 8
    # the band around the threshold, 0.75-0.85: verification keeps what LSH found there (all are above
    # the 0.75 threshold), so the verified run follows the curve too
    band = [(j, found) for j, _, found in pairs_verified if 0.75 <= j < 0.85]
    expected = sum(lsh_probability(j, cfg) for j, _ in band) / len(band)
    measured = sum(found for _, found in band) / len(band)
    assert len(band) >= 50 and 0.75 < expected < 0.99
    assert abs(measured - expected) <= 4 * math.sqrt(expected * (1 - expected) / len(band)) + 0.03, (measured, expected)
