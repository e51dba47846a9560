"""Dedup quality on a generated corpus with planted duplicates, through the real Beam transform.

A planted near duplicate counts as found when it ends up in the same cluster as its
original (a rejected document's cluster is its duplicate_of, which is always kept).
Targets: recall >= 0.95 for planted pairs with shingle Jaccard >= 0.85; false positives
(a planted pair with Jaccard <= 0.5 in one cluster) <= 1%; unrelated documents never merged.
"""

import json
import os

import apache_beam as beam

from fullchain.pipelines.dedup.beam import DeduplicateDocuments
from fullchain.pipelines.dedup.config import DedupConfig
from fullchain.pipelines.document import Document
from fullchain.pipelines.sample_corpus import generate_corpus, write_jsonl

from .helpers import run_pipeline


def _document(line: str) -> Document:
    record = json.loads(line)
    return Document(id=record.pop("id"), text=record.pop("text"), meta=record)


def test_planted_duplicates_are_found_and_unrelated_documents_kept_apart(tmp_path):
    records, truth = generate_corpus(5000, seed=11, exact_dup_fraction=0.04, near_dup_fraction=0.25,
                                     noise_fraction=0.0, near_jaccard_range=(0.3, 0.99))
    corpus = str(tmp_path / "corpus.jsonl")
    write_jsonl(records, corpus)
    out_prefix = str(tmp_path / "out" / "clusters")

    def build(p):
        # Read from a file: beam.Create would pickle and compress 6 MB into the pipeline graph.
        docs = p | beam.io.ReadFromText(corpus) | beam.Map(_document)
        out = docs | DeduplicateDocuments(DedupConfig())
        kept = out.kept | "KeptRows" >> beam.Map(lambda d: json.dumps([d.id, d.id, "kept"]))
        rejected = out.rejected | "RejectedRows" >> beam.Map(
            lambda r: json.dumps([r.doc.id, r.duplicate_of, r.reason]))
        (kept, rejected) | beam.Flatten() | beam.io.WriteToText(out_prefix)

    counts = run_pipeline(build)
    rows = [json.loads(line) for name in os.listdir(tmp_path / "out") for line in open(tmp_path / "out" / name)]
    cluster = {doc_id: survivor for doc_id, survivor, _ in rows}
    reason = {doc_id: why for doc_id, _, why in rows}
    assert len(cluster) == len(records) == counts["input"]

    near = [d for d in truth.duplicates if d.kind == "near"]
    together = [cluster[d.original_id] == cluster[d.duplicate_id] for d in near]
    high = [t for d, t in zip(near, together) if d.jaccard >= 0.85]
    low = [t for d, t in zip(near, together) if d.jaccard <= 0.5]
    recall, false_positive_rate = sum(high) / len(high), sum(low) / len(low)
    print(f"\nnear pairs: {len(near)}; J>=0.85: {len(high)} recall {recall:.3f}; "
          f"J<=0.5: {len(low)} false positives {false_positive_rate:.3f}; counters {counts}")
    assert len(high) >= 100 and len(low) >= 100
    assert recall >= 0.95
    assert false_positive_rate <= 0.01

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
