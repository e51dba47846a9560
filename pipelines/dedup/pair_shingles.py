"""Shingle sets of the documents in candidate pairs, next to their pairs, for the exact Jaccard
check of dedup (and the Jaccard of cluster members to their survivor).

The pairs of each record reach it as a side input (a dict by serial, read once per worker), so
the records are filtered where they are and only shingle sets of paired documents (usually a small
share) travel on, instead of every document's text going through a join.
"""

from __future__ import annotations

import apache_beam as beam
from apache_beam.pvalue import AsDict, PCollection

from fullchain.pipelines.dedup.config import DedupConfig
from fullchain.pipelines.dedup.shingles import shingle_sets


class PairShingleSets(beam.PTransform):
    """Pairs of graph nodes (id, serial) -> (pair, [shingle set, shingle set]), the sets computed
    from `records` ((serial, Document)) for the documents in pairs only."""

    def __init__(self, cfg: DedupConfig, records: PCollection):
        super().__init__()
        self.cfg = cfg
        self.records = records

    def expand(self, pairs: PCollection) -> PCollection:
        pairs_of = (
            pairs
            | "PairOfEachEnd" >> beam.FlatMap(lambda pair: [(pair[0][1], pair), (pair[1][1], pair)])
            | "GroupBySerial" >> beam.GroupByKey()
            | "AsLists" >> beam.MapTuple(lambda serial, its_pairs: (serial, list(its_pairs)))
        )
        return (
            self.records
            | "ShinglesOfPaired" >> beam.ParDo(_ShinglesOfPaired(self.cfg), AsDict(pairs_of))
            | "GroupByPair" >> beam.GroupByKey()
        )


class _ShinglesOfPaired(beam.DoFn):
    def __init__(self, cfg: DedupConfig):
        self.cfg = cfg

    def process(self, record, pairs_of):
        serial, doc = record
        its_pairs = pairs_of.get(serial)
        if not its_pairs:
            return
        shingles = shingle_sets([doc.text], self.cfg.shingles)[0]
        for pair in its_pairs:
            yield pair, shingles
