"""The dedup stage in Beam: `DeduplicateDocuments` over a PCollection of Documents.

Every record gets a serial and, in one pass over the text, its `DocKey` (id, normalised-text
hash, source, LSH band keys: no text). The duplicate search then runs on keys only:

1. Exact duplicates: group keys by text hash; the smallest id survives.
2. Near duplicates: one key per id (a second record with an id is duplicate_id); group ids by
   LSH band key to get candidate pairs; optionally keep only pairs whose exact shingle Jaccard
   reaches the threshold (shingle sets are recomputed from the text of the records in pairs
   only); connected components of the remaining pairs (`ConnectedComponents`); the smallest id
   of each component survives.
3. The decisions, (serial, Decision) for the rejected records only, meet the records once, as a
   side input of the step that splits them into kept and rejected: no shuffle carries text.

When the job reads files itself (stage_job), the records of steps 2 (shingle sets of paired
documents) and 3 come from reading the input files again, with the same serials, instead of
from the first read: the local runner holds in memory every collection that crosses one of its
stage boundaries, and the records would cross two.

Every shuffle is keyed by a text hash, an id, a band key or a graph node, so no worker holds
more than one group; the one exception is the connected-components fallback, which gathers
only the edges the unrolled rounds left unconverged (normally none). Survivors are chosen by
id (ties by content), never by arrival order, so the output is the same on every runner. The
algorithms live in the sibling modules; this module wires them into transforms and counts
(Beam metrics namespace `fullchain.dedup`).
"""

from __future__ import annotations

import dataclasses
import os
import pickle
import random
from typing import Callable, NamedTuple

import apache_beam as beam
import numpy as np
from apache_beam.metrics import Metrics
from apache_beam.pvalue import AsDict, AsList, PCollection, TaggedOutput

from fullchain.pipelines.dedup.clusters import ClusterRows
from fullchain.pipelines.dedup.components_beam import ConnectedComponents
from fullchain.pipelines.dedup.config import METRICS_NAMESPACE, DedupConfig
from fullchain.pipelines.dedup.decisions import (
    DUPLICATE_ID, EXACT_DUPLICATE, NEAR_DUPLICATE, STAGE, Decision, DocKey, best_match, exact_group_decisions,
    near_detail, one_per_id, record_hash,
)
from fullchain.pipelines.dedup.exact_hash import tokens_hash
from fullchain.pipelines.dedup.jaccard import jaccard
from fullchain.pipelines.dedup.lsh import band_keys, band_partitions, candidate_pairs, equal_hash_runs
from fullchain.pipelines.dedup.minhash import minhash_signatures
from fullchain.pipelines.dedup.pair_shingles import PairShingleSets
from fullchain.pipelines.dedup.shingles import token_shingle_sets
from fullchain.pipelines.dedup.tokens import tokenize
from fullchain.pipelines.document import Rejected
from fullchain.pipelines.stage_outputs import StageOutputs

REJECTION_REASONS: tuple[str, ...] = (EXACT_DUPLICATE, NEAR_DUPLICATE, DUPLICATE_ID)
METRIC_NAMES: tuple[str, ...] = (
    "input", "kept", EXACT_DUPLICATE, NEAR_DUPLICATE, DUPLICATE_ID,  # documents
    "documents_without_shingles",  # kept without a near-duplicate check: no word in them
    "candidate_pairs", "verified_pairs",  # distinct LSH pairs; those at or above the Jaccard threshold
    "oversized_buckets",  # LSH buckets linked as a star (more pairs than max_bucket_pairs)
    "cc_unconverged_edges",  # edges left to the one-worker fallback of the connected components
)

_REJECTED = "rejected"
# Keys per batch of the band shuffle, and the hash bits that cut each band into 2**bits partitions:
# 14 x 64 groups, each searched for equal band hashes on one worker.
BAND_BATCH = 4096
PARTITION_BITS = 6


def _counter(name: str):
    return Metrics.counter(METRICS_NAMESPACE, name)


class NearDuplicateOutputs(NamedTuple):
    """The outputs of `RemoveNearDuplicates`."""

    rejected: PCollection  # PCollection[(serial, Decision)]: duplicate_id and near_duplicate
    survivor_of: PCollection  # PCollection[(id, kept id)] for every near-duplicate id
    labels: PCollection  # PCollection[(node, its component's smallest node)] for the same documents


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

    `clusters` (a stage output folder): also write the near-duplicate clusters to its clusters/
    as Parquet (dedup/clusters.py); needs `near`.

    `reread` (label -> a new read of the stage's input, numbered: beam_io.ReadDocuments(numbered=
    True)): the input is then that read's (serial, Document) records, and every later pass over
    the texts reads the files again under a label of its own, so no record is held between steps.
    Without it the input is Documents, given serials here, and later passes reuse them.
    """

    # stage_job reads this stage's input numbered and hands it `reread`
    READS_INPUT_AGAIN = True

    def __init__(self, cfg: DedupConfig, clusters: str = "", reread: Callable[[str], PCollection] | None = None):
        super().__init__()
        self.cfg = cfg
        self.clusters = clusters
        self.reread = reread

    def expand(self, docs: PCollection) -> StageOutputs:
        cfg = self.cfg
        if self.reread is None:
            records = docs | "Serial" >> beam.ParDo(_Serial())
            records_again = lambda _label: records  # noqa: E731
        else:
            records = docs | "CountInput" >> beam.ParDo(_Count("input"))
            records_again = self.reread
        keys = (
            records
            | "Batch" >> beam.BatchElements(min_batch_size=cfg.minhash.batch_size,
                                            max_batch_size=cfg.minhash.batch_size, record_metrics=False)
            | "DocKeys" >> beam.ParDo(_DocKeys(cfg))
        )
        decisions = []
        survivors = keys
        cluster_files = None
        if cfg.exact:
            exact = (
                keys
                | "KeyByTextHash" >> beam.Map(lambda key: (key.text_hash, key))
                | "GroupByTextHash" >> beam.GroupByKey()
                | "KeepSmallestId" >> beam.ParDo(_KeepSmallestId()).with_outputs(_REJECTED, main="kept")
            )
            survivors, exact_rejected = exact.kept, exact[_REJECTED]
        if cfg.near:
            shingle_records = records_again("ReadForPairShingles") if cfg.verify_jaccard else None
            near = survivors | "NearDuplicates" >> RemoveNearDuplicates(cfg, shingle_records)
            decisions.append(near.rejected)
            if cfg.exact:
                exact_rejected = (
                    {"rejected": exact_rejected, "survivor": near.survivor_of}
                    | "JoinTwinSurvivors" >> beam.CoGroupByKey()
                    | "PointToKept" >> beam.FlatMap(_point_to_kept)
                )
            if self.clusters:
                cluster_files = near.labels | "Clusters" >> ClusterRows(cfg, records_again("ReadForClusters"),
                                                                        self.clusters)
        if cfg.exact:
            decisions.append(exact_rejected | "DropTwin" >> beam.Values())
        all_decisions = tuple(decisions) | "AllDecisions" >> beam.Flatten(pipeline=docs.pipeline)
        if cluster_files is None:
            cluster_files = docs.pipeline | "NoClusters" >> beam.Create([])
        # waiting on the cluster files keeps the ledger, written after the kept parts, the last file
        split = records_again("ReadForDecisions") | "ApplyDecisions" >> beam.ParDo(
            _ApplyDecisions(), AsDict(all_decisions), AsList(cluster_files)).with_outputs(_REJECTED, main="kept")
        return StageOutputs(split.kept, split[_REJECTED])


def _point_to_kept(element):
    twin, joined = element
    survivor = next(iter(joined["survivor"]), None)
    for serial, decision in joined["rejected"]:
        yield twin, (serial, decision if survivor is None else dataclasses.replace(decision, duplicate_of=survivor))


class _Serial(beam.DoFn):
    """Document -> (serial, Document). A serial is a random 64-bit prefix drawn once per DoFn
    instance followed by that instance's count of records: unique unless two instances draw the
    same prefix. Serials differ between runs; nothing that is written depends on them."""

    def setup(self):
        self.next_serial = random.Random(os.urandom(16)).getrandbits(64) << 40
        self.input = _counter("input")

    def process(self, doc):
        self.input.inc()
        self.next_serial += 1
        yield self.next_serial, doc


class _DocKeys(beam.DoFn):
    """A batch of (serial, Document) -> the DocKey of each, with its band keys when near is on."""

    def __init__(self, cfg: DedupConfig):
        self.cfg = cfg

    def process(self, batch):
        texts = [doc.text for _, doc in batch]
        token_lists = [tokenize(text) for text in texts]  # once, for both the exact hash and the shingles
        bands: list[bytes] = [b""] * len(texts)
        if self.cfg.near:
            sets = token_shingle_sets(texts, token_lists, self.cfg.shingles)
            keys = band_keys(minhash_signatures(sets, self.cfg.minhash), self.cfg.minhash)
            # an empty signature would share every band with every other empty document
            bands = [b"".join(doc_keys) if len(shingles) else b"" for shingles, doc_keys in zip(sets, keys)]
        for (serial, doc), tokens, doc_bands in zip(batch, token_lists, bands):
            yield DocKey(serial=serial, id=doc.id, text_hash=tokens_hash(tokens), source=doc.source,
                         record_hash=record_hash(doc), bands=doc_bands)


class _KeepSmallestId(beam.DoFn):
    """(text hash, keys) -> the survivor's key; (twin id, (serial, Decision)) tagged for the others."""

    def setup(self):
        self.rejected = _counter(EXACT_DUPLICATE)

    def process(self, element):
        text_hash, keys = element
        survivor, rejected = exact_group_decisions(text_hash, keys)
        yield survivor
        for serial, decision in rejected:
            self.rejected.inc()
            yield TaggedOutput(_REJECTED, (survivor.id, (serial, decision)))


class _ApplyDecisions(beam.DoFn):
    """(serial, Document) -> the Document if no decision rejects it, else its Rejected (tagged)."""

    def setup(self):
        self.kept = _counter("kept")

    def process(self, record, decisions, _cluster_files):
        serial, doc = record
        decision = decisions.get(serial)
        if decision is None:
            self.kept.inc()
            yield doc
            return
        yield TaggedOutput(_REJECTED, Rejected(doc, STAGE, decision.reason, decision.detail, decision.duplicate_of))


class RemoveNearDuplicates(beam.PTransform):
    """DocKeys (one per distinct text) -> the decisions of the near-duplicate search: duplicate_id
    for a second key with an id, near_duplicate for every cluster member but the smallest id.

    `records` ((serial, Document)) are read again, as a side-input filter, only for the shingle
    sets of the documents in candidate pairs (None when verify_jaccard is off).
    """

    def __init__(self, cfg: DedupConfig, records: PCollection | None):
        super().__init__()
        self.cfg = cfg
        self.records = records

    def expand(self, keys: PCollection) -> NearDuplicateOutputs:
        cfg = self.cfg
        by_id = (
            keys
            | "KeyById" >> beam.Map(lambda key: (key.id, key))
            | "GroupById" >> beam.GroupByKey()
            | "OnePerId" >> beam.ParDo(_OnePerId()).with_outputs(_REJECTED, main="unique")
        )
        pairs = (
            by_id.unique
            | "BatchKeys" >> beam.BatchElements(min_batch_size=BAND_BATCH, max_batch_size=BAND_BATCH,
                                                record_metrics=False)
            | "BandPartitions" >> beam.FlatMap(_band_partitions)
            | "GroupByBandPartition" >> beam.GroupByKey()
            | "BucketPairs" >> beam.FlatMap(_bucket_pairs, cfg.max_bucket_pairs)
            | "DistinctPairs" >> beam.Distinct()
            | "CountCandidates" >> beam.ParDo(_Count("candidate_pairs"))
        )
        if cfg.verify_jaccard:
            edges = (
                pairs
                | "ShingleSetsOfPairs" >> PairShingleSets(cfg, self.records)
                | "VerifyJaccard" >> beam.FlatMap(_verified_edge, cfg.jaccard_threshold)
            )
        else:
            edges = pairs | "Unverified" >> beam.Map(lambda pair: (pair[0], pair[1], None))
        survivors = (
            edges
            | "EdgeEnds" >> beam.Map(lambda edge: (edge[0], edge[1]))
            | "Components" >> ConnectedComponents(cfg.cc_max_rounds)
        )
        best_matches = (
            edges
            | "MatchesOfEachEnd" >> beam.FlatMap(
                lambda edge: [(edge[0], (edge[2], edge[1][0])), (edge[1], (edge[2], edge[0][0]))])
            | "BestMatch" >> beam.CombinePerKey(best_match)
        )
        near_rejected = (
            {"survivor": survivors, "match": best_matches}
            | "JoinMatchesToLabels" >> beam.CoGroupByKey()
            | "NearDecisions" >> beam.ParDo(_NearDecisions())
        )
        rejected = (by_id[_REJECTED], near_rejected) | "NearRejected" >> beam.Flatten()
        survivor_of = survivors | "SurvivorIds" >> beam.Map(lambda nl: (nl[0][0], nl[1][0]))
        return NearDuplicateOutputs(rejected, survivor_of, survivors)


class _Count(beam.DoFn):
    """Passes elements through, counting them in the stage's metrics namespace."""

    def __init__(self, name: str):
        self.name = name

    def setup(self):
        self.counter = _counter(self.name)

    def process(self, element):
        self.counter.inc()
        yield element


class _OnePerId(beam.DoFn):
    """(id, keys) -> the key kept for the near-duplicate search; (serial, duplicate_id Decision) tagged."""

    def setup(self):
        self.duplicate_ids = _counter(DUPLICATE_ID)
        self.no_shingles = _counter("documents_without_shingles")

    def process(self, element):
        doc_id, keys = element
        kept, rejected = one_per_id(doc_id, keys)
        for decision in rejected:
            self.duplicate_ids.inc()
            yield TaggedOutput(_REJECTED, decision)
        if not kept.bands:
            self.no_shingles.inc()
        yield kept


def _band_partitions(keys: list[DocKey]):
    """A batch of keys -> ((band, partition), (their band hashes, their nodes pickled)) per band and
    partition: a few hundred keys per element, and compact bytes in the shuffle, instead of one
    element per document and band."""
    keys = [key for key in keys if key.bands]
    if not keys:
        return
    for band, partition, members, hashes in band_partitions([key.bands for key in keys], PARTITION_BITS):
        yield (band, partition), (hashes.tobytes(), pickle.dumps([keys[i].node for i in members]))


def _bucket_pairs(element, max_bucket_pairs: int):
    _, parts = element
    parts = list(parts)
    hashes = np.concatenate([np.frombuffer(h, dtype=np.uint64) for h, _ in parts])
    nodes = [node for _, packed in parts for node in pickle.loads(packed)]
    for run in equal_hash_runs(hashes):
        if len(run) * (len(run) - 1) // 2 > max_bucket_pairs:
            _counter("oversized_buckets").inc()
        yield from candidate_pairs([nodes[i] for i in run], max_bucket_pairs)


def _verified_edge(element, threshold: float):
    (a, b), sets = element
    sets = list(sets)
    if len(sets) != 2:
        # every end of a pair is a record of this job: the runner lost records on the way
        raise RuntimeError(f"dedup: {len(sets)} shingle sets reached the pair {a[0]} / {b[0]}, expected 2")
    similarity = jaccard(*sets)
    if similarity >= threshold:
        _counter("verified_pairs").inc()
        yield a, b, similarity


class _NearDecisions(beam.DoFn):
    """(node, its component's smallest node and its best match) -> (serial, near_duplicate Decision)."""

    def setup(self):
        self.rejected = _counter(NEAR_DUPLICATE)

    def process(self, element):
        node, joined = element
        survivors = list(joined["survivor"])
        if not survivors:
            return
        self.rejected.inc()
        yield node[1], Decision(NEAR_DUPLICATE, near_detail(next(iter(joined["match"]))), survivors[0][0])
