"""dedup.write_clusters: OUT/clusters/*.parquet holds every near-duplicate cluster, its survivor, its
members and each member's exact shingle Jaccard to the survivor; checked against the duplicates
pipelines/sample_corpus.py planted."""

import glob

import apache_beam as beam
import pyarrow.parquet as pq
from apache_beam.testing.test_pipeline import TestPipeline

from fullchain.pipelines.dedup.beam import DeduplicateDocuments
from fullchain.pipelines.dedup.clusters import cluster_id
from fullchain.pipelines.dedup.config import DedupConfig
from fullchain.pipelines.dedup.jaccard import jaccard
from fullchain.pipelines.dedup.shingles import shingle_sets
from fullchain.pipelines.document import Document
from fullchain.pipelines.sample_corpus import generate_corpus


def test_clusters_name_survivor_members_and_their_jaccard(tmp_path):
    records, truth = generate_corpus(300, seed=3, noise_fraction=0.0, near_dup_fraction=0.3)
    docs = [Document(id=r["id"], text=r["text"]) for r in records]
    cfg = DedupConfig(write_clusters=True)
    rejected = tmp_path / "rejected.txt"
    with TestPipeline() as p:
        out = p | beam.Create(docs) | DeduplicateDocuments(cfg, clusters=str(tmp_path))
        _ = (out.rejected | beam.Map(lambda r: f"{r.doc.id}\t{r.reason}\t{r.duplicate_of}")
             | beam.io.WriteToText(str(rejected), shard_name_template=""))
    paths = glob.glob(str(tmp_path / "clusters" / "*.parquet"))
    rows = [row for path in paths for row in pq.read_table(path).to_pylist()]
    reasons = {}
    for line in rejected.read_text().splitlines():
        doc_id, reason, duplicate_of = line.split("\t")
        reasons[doc_id] = (reason, duplicate_of)
    near = {doc_id: of for doc_id, (reason, of) in reasons.items() if reason == "near_duplicate"}
    # every near duplicate is a member of exactly one cluster, the one of the survivor it names
    assert sorted(m for row in rows for m in row["members"]) == sorted(near)
    texts = {d.id: d.text for d in docs}
    for row in rows:
        assert row["cluster_id"] == cluster_id(row["survivor"]) and row["size"] == len(row["members"]) + 1
        assert row["survivor"] not in reasons and all(near[m] == row["survivor"] for m in row["members"])
        survivor_set = shingle_sets([texts[row["survivor"]]], cfg.shingles)[0]
        for member, j in zip(row["members"], row["jaccard"]):
            assert abs(j - jaccard(survivor_set, shingle_sets([texts[member]], cfg.shingles)[0])) < 1e-6
    # the planted near copies LSH finds almost surely (J >= 0.85: 98.8%) share their original's cluster
    survivor = {m: row["survivor"] for row in rows for m in row["members"]}
    cluster = lambda doc_id: survivor.get(doc_id, doc_id)  # noqa: E731
    planted = [d for d in truth.duplicates if d.kind == "near" and d.jaccard >= 0.85
               and reasons.get(d.original_id, ("",))[0] != "exact_duplicate"]
    assert len(planted) >= 5
    assert all(cluster(d.duplicate_id) == cluster(d.original_id) for d in planted)
    assert any(row["size"] > 2 for row in rows) or len(rows) >= 10
