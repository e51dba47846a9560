"""The near-duplicate clusters of a dedup run as Parquet (OUT/clusters/part-*.parquet), for people to
look at: one row per cluster with its survivor, its members and each member's exact shingle Jaccard
to the survivor (docs/DEDUP.md shows how to read the largest ones).

A member can be in its cluster through another member only (A~B, B~C, A<C), so its Jaccard to the
survivor is computed here for every member, from the shingle sets of the two documents; it can be
under the verification threshold.
"""

from __future__ import annotations

import hashlib

import apache_beam as beam
import pyarrow as pa
from apache_beam.io.filesystems import FileSystems
from apache_beam.pvalue import PCollection

from fullchain.pipelines.dedup.config import DedupConfig
from fullchain.pipelines.dedup.jaccard import jaccard
from fullchain.pipelines.dedup.pair_shingles import PairShingleSets

CLUSTERS_FOLDER = "clusters"
CLUSTER_SCHEMA = pa.schema([
    ("cluster_id", pa.int64()),
    ("survivor", pa.string()),
    ("size", pa.int64()),
    ("members", pa.list_(pa.string())),
    ("jaccard", pa.list_(pa.float64())),
])


def cluster_id(survivor: str) -> int:
    """A cluster's id: a stable 63-bit hash of its survivor's id (the same in every run)."""
    return int.from_bytes(hashlib.blake2b(survivor.encode("utf-8", "surrogatepass"), digest_size=8).digest(),
                          "big") >> 1


def cluster_row(survivor: str, members: list[tuple[str, float]]) -> dict:
    """The Parquet row of one cluster: members (survivor excluded) by id, their Jaccard alongside;
    size counts the survivor too."""
    members = sorted(members)
    return {"cluster_id": cluster_id(survivor), "survivor": survivor, "size": len(members) + 1,
            "members": [m for m, _ in members], "jaccard": [round(j, 6) for _, j in members]}


class ClusterRows(beam.PTransform):
    """(node, survivor node) labels of the near-duplicate components -> OUT/clusters/*.parquet;
    returns the written file names. `records` are the stage's (serial, Document) records, read
    for the shingle sets of cluster members and survivors only."""

    def __init__(self, cfg: DedupConfig, records: PCollection, output: str):
        super().__init__()
        self.cfg = cfg
        self.records = records
        self.output = output

    def expand(self, labels: PCollection) -> PCollection:
        return (
            labels
            | "SurvivorPairs" >> beam.Map(lambda label: (label[1], label[0]))
            | "ShingleSets" >> PairShingleSets(self.cfg, self.records)
            | "JaccardToSurvivor" >> beam.MapTuple(
                lambda pair, sets: (pair[0][0], (pair[1][0], jaccard(*list(sets)))))
            | "GroupBySurvivor" >> beam.GroupByKey()
            | "ClusterRow" >> beam.MapTuple(lambda survivor, members: cluster_row(survivor, list(members)))
            | "WriteClusters" >> beam.io.WriteToParquet(
                FileSystems.join(self.output, CLUSTERS_FOLDER, "part"), CLUSTER_SCHEMA, file_name_suffix=".parquet")
        )
