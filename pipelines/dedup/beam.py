"""The dedup stage in Beam: `DeduplicateDocuments` over a PCollection of Documents.

1. Exact duplicates: group by the normalised-text hash; the smallest id survives.
2. Near duplicates: MinHash signatures in numpy batches; group by LSH band key to get
   candidate pairs; optionally keep only pairs whose exact shingle Jaccard reaches the
   threshold; connected components of the remaining pairs (`ConnectedComponents`); the
   smallest id of each component survives.

Every step is a shuffle keyed by a text hash, a band key, a document id or a graph node,
so no worker holds more than one group; the one exception is the connected-components
fallback, which gathers only the edges the unrolled rounds left unconverged (normally
none). Survivors are chosen by id, not by arrival order, so the output is the same on
every runner. The algorithms live in the sibling modules; this module wires them into
transforms and counts (Beam metrics namespace `fullchain.dedup`).
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.pvalue import PCollection, TaggedOutput

from fullchain.pipelines.dedup.components_beam import ConnectedComponents
from fullchain.pipelines.dedup.config import METRICS_NAMESPACE, DedupConfig
from fullchain.pipelines.dedup.exact_hash import exact_hash
from fullchain.pipelines.dedup.jaccard import jaccard
from fullchain.pipelines.dedup.lsh import band_keys, candidate_pairs
from fullchain.pipelines.dedup.minhash import minhash_signatures
from fullchain.pipelines.dedup.shingles import shingle_sets
from fullchain.pipelines.document import Document, Rejected
from fullchain.pipelines.stage_outputs import StageOutputs

STAGE = "dedup"
EXACT_DUPLICATE = "exact_duplicate"
NEAR_DUPLICATE = "near_duplicate"
DUPLICATE_ID = "duplicate_id"
REJECTION_REASONS: tuple[str, ...] = (EXACT_DUPLICATE, NEAR_DUPLICATE, DUPLICATE_ID)
METRIC_NAMES: tuple[str, ...] = (
    "input", "kept", EXACT_DUPLICATE, NEAR_DUPLICATE, DUPLICATE_ID,  # documents
    "documents_without_shingles",  # kept without a near-duplicate check: no word in them
    "candidate_pairs", "verified_pairs",  # distinct LSH pairs; those at or above the Jaccard threshold
    "oversized_buckets",  # LSH buckets linked as a star (more pairs than max_bucket_pairs)
    "cc_unconverged_edges",  # edges left to the one-worker fallback of the connected components
)

_REJECTED = "rejected"
_SHINGLE_SETS = "shingle_sets"
_UNPAIRED = "unpaired"


def _counter(name: str):
    return Metrics.counter(METRICS_NAMESPACE, name)


class NearDuplicateOutputs(NamedTuple):
    """The outputs of `RemoveNearDuplicates`."""

    kept: PCollection  # PCollection[Document]
    rejected: PCollection  # PCollection[Rejected], reason near_duplicate
    survivor_of: PCollection  # PCollection[(id, kept id)] for every rejected id


class DeduplicateDocuments(beam.PTransform):
    """Removes exact, then near duplicates from a PCollection[Document]; returns `StageOutputs`:
    kept, one document per duplicate cluster and all unique ones; rejected, stage "dedup" with
    reason exact_duplicate, near_duplicate or duplicate_id.

    Survivors are chosen by id and near duplicates are joined by id, so ids must be unique: with
    near-duplicate removal on, a document whose id another document (of different text) already
    has is rejected as duplicate_id; the one kept is chosen by text hash, then source.

    A rejected document's `duplicate_of` is always a kept document: the smallest id of its
    near-duplicate cluster, or, for an exact duplicate, the document its exact twin (the
    smallest id with the same normalised text) was kept as, which is that twin unless the
    twin is a near duplicate itself.
    """

    def __init__(self, cfg: DedupConfig):
        super().__init__()
        self.cfg = cfg

    def expand(self, docs: PCollection) -> StageOutputs:
        kept = docs | "CountInput" >> beam.ParDo(_Count("input"))
        rejected = []
        if self.cfg.exact:
            exact = kept | "ExactDuplicates" >> RemoveExactDuplicates()
            kept, exact_rejected = exact.kept, exact.rejected
        if self.cfg.near:
            kept, near_rejected, survivor_of = kept | "NearDuplicates" >> RemoveNearDuplicates(self.cfg)
            rejected.append(near_rejected)
            if self.cfg.exact:
                exact_rejected = (
                    {"rejected": exact_rejected | "KeyByTwin" >> beam.Map(lambda r: (r.duplicate_of, r)),
                     "survivor": survivor_of}
                    | "JoinTwinSurvivors" >> beam.CoGroupByKey()
                    | "PointToKept" >> beam.FlatMap(_point_to_kept)
                )
        if self.cfg.exact:
            rejected.append(exact_rejected)
        kept = kept | "CountKept" >> beam.ParDo(_Count("kept"))
        all_rejected = tuple(rejected) | "AllRejected" >> beam.Flatten(pipeline=docs.pipeline)
        return StageOutputs(kept, all_rejected)


def _point_to_kept(element):
    _, joined = element
    survivor = next(iter(joined["survivor"]), None)
    for rejected in joined["rejected"]:
        yield rejected if survivor is None else dataclasses.replace(rejected, duplicate_of=survivor)


class _Count(beam.DoFn):
    """Passes elements through, counting them in the stage's metrics namespace."""

    def __init__(self, name: str):
        self.name = name

    def setup(self):
        self.counter = _counter(self.name)

    def process(self, element):
        self.counter.inc()
        yield element


class RemoveExactDuplicates(beam.PTransform):
    """Keeps the smallest id of every group of documents with the same normalised text; the others
    are rejected as exact_duplicate, with `duplicate_of` their kept twin."""

    def expand(self, docs: PCollection) -> StageOutputs:
        split = (
            docs
            | "KeyByTextHash" >> beam.Map(lambda doc: (exact_hash(doc.text), doc))
            | "GroupByTextHash" >> beam.GroupByKey()
            | "KeepSmallestId" >> beam.ParDo(_KeepSmallestId()).with_outputs(_REJECTED, main="kept")
        )
        return StageOutputs(split.kept, split[_REJECTED])


class _KeepSmallestId(beam.DoFn):
    def setup(self):
        self.rejected = _counter(EXACT_DUPLICATE)

    def process(self, element):
        text_hash, docs = element
        # Two passes over the grouped iterable instead of a sorted copy: a group of a
        # million copies of one boilerplate text then needs no memory.
        survivor = min(doc.id for doc in docs)
        survivor_seen = False
        for doc in docs:
            if doc.id == survivor and not survivor_seen:
                survivor_seen = True
                yield doc
            else:
                self.rejected.inc()
                detail = f"same normalised text as {survivor} (hash {text_hash[:8].hex()})"
                yield TaggedOutput(_REJECTED, Rejected(doc, STAGE, EXACT_DUPLICATE, detail, survivor))


class RemoveNearDuplicates(beam.PTransform):
    """Keeps the smallest id of every cluster of near duplicates (MinHash LSH, verified, components).

    Documents in no candidate pair (most of them) leave at the first join by id; only the
    others travel on to the join with the cluster labels.
    """

    def __init__(self, cfg: DedupConfig):
        super().__init__()
        self.cfg = cfg

    def expand(self, docs: PCollection) -> NearDuplicateOutputs:
        cfg = self.cfg
        pairs = (
            docs
            | "Batch" >> beam.BatchElements(min_batch_size=cfg.minhash.batch_size,
                                            max_batch_size=cfg.minhash.batch_size, record_metrics=False)
            | "BandKeys" >> beam.ParDo(_BandKeys(cfg))
            | "GroupByBandKey" >> beam.GroupByKey()
            | "BucketPairs" >> beam.FlatMap(_bucket_pairs, cfg.max_bucket_pairs)
            | "DistinctPairs" >> beam.Distinct()
            | "CountCandidates" >> beam.ParDo(_Count("candidate_pairs"))
        )
        split = (
            {"doc": docs | "KeyById" >> beam.Map(lambda doc: (doc.id, doc)),
             "pair": pairs | "PairOfEachEnd" >> beam.FlatMap(lambda pair: [(pair[0], pair), (pair[1], pair)])}
            | "JoinPairsToDocs" >> beam.CoGroupByKey()
            | "SplitOffUnpaired" >> beam.ParDo(_SplitOffUnpaired(cfg)).with_outputs(
                _UNPAIRED, _SHINGLE_SETS, _REJECTED, main="involved")
        )
        if cfg.verify_jaccard:
            edges = (
                split[_SHINGLE_SETS]
                | "GroupByPair" >> beam.GroupByKey()
                | "VerifyJaccard" >> beam.FlatMap(_verified_edge, cfg.jaccard_threshold)
            )
        else:
            edges = pairs | "Unverified" >> beam.Map(lambda pair: (pair[0], pair[1], None))
        survivors = (
            edges
            | "EdgeEnds" >> beam.Map(lambda edge: (edge[0], edge[1]))
            | "Components" >> ConnectedComponents(cfg.cc_max_rounds)
        )
        best_matches = edges | "MatchesOfEachEnd" >> beam.FlatMap(
            lambda edge: [(edge[0], (edge[2], edge[1])), (edge[1], (edge[2], edge[0]))])
        labelled = (
            {"doc": split.involved, "survivor": survivors, "match": best_matches}
            | "JoinLabelsToDocs" >> beam.CoGroupByKey()
            | "KeepSurvivors" >> beam.ParDo(_KeepSurvivors()).with_outputs(_REJECTED, main="kept")
        )
        kept = (split[_UNPAIRED], labelled.kept) | "Kept" >> beam.Flatten()
        rejected = (labelled[_REJECTED], split[_REJECTED]) | "NearRejected" >> beam.Flatten()
        return NearDuplicateOutputs(kept, rejected, survivors)


class _BandKeys(beam.DoFn):
    """A batch of documents -> (band key, id) for every band of every document with shingles."""

    def __init__(self, cfg: DedupConfig):
        self.cfg = cfg

    def setup(self):
        self.no_shingles = _counter("documents_without_shingles")

    def process(self, batch: list[Document]):
        sets = shingle_sets([doc.text for doc in batch], self.cfg.shingles)
        keys = band_keys(minhash_signatures(sets, self.cfg.minhash), self.cfg.minhash)
        for doc, shingles, doc_keys in zip(batch, sets, keys):
            if len(shingles) == 0:
                # Its empty signature would share every band with every other empty document.
                self.no_shingles.inc()
                continue
            for key in doc_keys:
                yield key, doc.id


def _bucket_pairs(element, max_bucket_pairs: int):
    _, ids = element
    ids = list(ids)
    if len(ids) * (len(ids) - 1) // 2 > max_bucket_pairs:
        _counter("oversized_buckets").inc()
    return candidate_pairs(ids, max_bucket_pairs)


class _SplitOffUnpaired(beam.DoFn):
    """(id, doc and its pairs) -> the doc as kept if it has no pair, else (id, doc) to be labelled,
    and with verification (pair, shingle set) for each of its pairs. Every document passes this
    join by id, so it is where a second document with the same id is caught (duplicate_id).

    Shingle sets are recomputed here for the few documents in pairs rather than carried
    from the signature step for all of them: a shuffle of every set costs more.
    """

    def __init__(self, cfg: DedupConfig):
        self.cfg = cfg

    def setup(self):
        self.duplicate_ids = _counter(DUPLICATE_ID)

    def process(self, element):
        doc_id, joined = element
        pairs = list(joined["pair"])
        docs = list(joined["doc"])
        if not docs:
            return
        if len(docs) > 1:
            docs.sort(key=lambda d: (exact_hash(d.text), d.source))
        doc = docs[0]
        for other in docs[1:]:
            self.duplicate_ids.inc()
            detail = f"id {doc_id} is also the id of a document from {doc.source}"
            yield TaggedOutput(_REJECTED, Rejected(other, STAGE, DUPLICATE_ID, detail))
        if not pairs:
            yield TaggedOutput(_UNPAIRED, doc)
            return
        yield doc_id, doc
        if self.cfg.verify_jaccard:
            shingles = shingle_sets([doc.text], self.cfg.shingles)[0]
            for pair in pairs:
                yield TaggedOutput(_SHINGLE_SETS, (pair, shingles))


def _verified_edge(element, threshold: float):
    (a, b), sets = element
    first, second = list(sets)
    similarity = jaccard(first, second)
    if similarity >= threshold:
        _counter("verified_pairs").inc()
        yield a, b, similarity


class _KeepSurvivors(beam.DoFn):
    def setup(self):
        self.rejected = _counter(NEAR_DUPLICATE)

    def process(self, element):
        _, joined = element
        survivors = list(joined["survivor"])
        for doc in joined["doc"]:
            if not survivors:
                yield doc
                continue
            self.rejected.inc()
            yield TaggedOutput(_REJECTED, Rejected(doc, STAGE, NEAR_DUPLICATE, _match_detail(joined["match"]),
                                                   survivors[0]))


def _match_detail(matches) -> str:
    """The most similar linked document, ties to the smallest id, as a human-readable detail."""
    similarity, other = min(matches, key=lambda match: (-(match[0] or 0.0), match[1]))
    if similarity is None:
        return f"LSH candidate of {other} (not verified)"
    return f"jaccard {similarity:.3f} with {other}"
