"""Connected components of an edge PCollection in Beam (the near-duplicate clusters of dedup):
alternating large-star/small-star rounds (Kiveris et al. 2014), then an exact one-worker
union-find of whatever did not converge. The per-node steps are pure functions in
connected_components.py."""

from __future__ import annotations

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.pvalue import PCollection, TaggedOutput

from fullchain.pipelines.dedup.config import METRICS_NAMESPACE
from fullchain.pipelines.dedup.connected_components import (
    large_star,
    provisional_label,
    small_star,
    star_messages,
    union_find_components,
)

_RESIDUAL = "residual"


def _count_unconverged(edge):
    # normally no edge gets here, so a counter looked up per element costs nothing
    Metrics.counter(METRICS_NAMESPACE, "cc_unconverged_edges").inc()
    return edge


class ConnectedComponents(beam.PTransform):
    """Undirected edges (a, b) -> (node, smallest node of its component) for every other node.

    `max_rounds` alternating large-star/small-star rounds (each two shuffles of the edges)
    are unrolled; whatever has not become a star by then is resolved exactly from the
    residual edges on one worker (metric cc_unconverged_edges), so the result is exact.
    """

    def __init__(self, max_rounds: int):
        super().__init__()
        self.max_rounds = max_rounds

    def expand(self, edges: PCollection) -> PCollection:
        edges = edges | "DropSelfLoops" >> beam.Filter(lambda edge: edge[0] != edge[1])
        for r in range(1, self.max_rounds + 1):
            edges = edges | f"Round{r}" >> _StarRound()
        return edges | "ResolveUnconverged" >> _ResolveStars()


class _StarRound(beam.PTransform):
    """One large-star step, then one small-star step; edges out are (child, parent), parent < child."""

    def expand(self, edges: PCollection) -> PCollection:
        return (
            edges
            | "BothDirections" >> beam.FlatMap(lambda e: [(e[0], e[1]), (e[1], e[0])])
            | "GroupForLargeStar" >> beam.GroupByKey()
            | "LargeStar" >> beam.FlatMapTuple(large_star)
            | "ToLargerEnd" >> beam.Map(lambda e: (max(e), min(e)))
            | "GroupForSmallStar" >> beam.GroupByKey()
            | "SmallStar" >> beam.FlatMapTuple(small_star)
        )


class _ResolveStars(beam.PTransform):
    """(child, parent) edges after the rounds -> (node, component's smallest node), exact."""

    def expand(self, edges: PCollection) -> PCollection:
        checked = (
            {"parent": edges, "child": edges | "Reverse" >> beam.Map(lambda e: (e[1], e[0]))}
            | "JoinEdgesAtNode" >> beam.CoGroupByKey()
            | "StarCheck" >> beam.ParDo(_StarCheck()).with_outputs(_RESIDUAL, "label", main="messages")
        )
        labelled = (
            checked.messages
            | "GroupByChild" >> beam.GroupByKey()
            | "ProvisionalLabel" >> beam.ParDo(_ProvisionalLabel()).with_outputs(_RESIDUAL, main="label")
        )
        resolved = (
            (checked[_RESIDUAL], labelled[_RESIDUAL])
            | "Residual" >> beam.Flatten()
            | "CountResidual" >> beam.Map(_count_unconverged)
            | "GatherResidual" >> beam.combiners.ToList()
            | "UnionFind" >> beam.FlatMap(lambda residual: union_find_components(residual).items())
        )
        provisional = (checked.label, labelled.label) | "Labels" >> beam.Flatten()
        return (
            {"node": provisional | "KeyByLabel" >> beam.Map(lambda nl: (nl[1], nl[0])), "resolved": resolved}
            | "JoinResolved" >> beam.CoGroupByKey()
            | "FinalLabel" >> beam.FlatMap(_final_labels)
        )


class _StarCheck(beam.DoFn):
    def process(self, element):
        node, joined = element
        check = star_messages(node, joined["parent"], joined["child"])
        yield from check.messages
        for edge in check.residual:
            yield TaggedOutput(_RESIDUAL, edge)
        if check.label is not None:
            yield TaggedOutput("label", (node, check.label))


class _ProvisionalLabel(beam.DoFn):
    def process(self, element):
        node, statuses = element
        label, residual = provisional_label(node, statuses)
        yield node, label
        for edge in residual:
            yield TaggedOutput(_RESIDUAL, edge)


def _final_labels(element):
    label, joined = element
    resolved = list(joined["resolved"])
    smallest = resolved[0] if resolved else label
    for node in joined["node"]:
        if node != smallest:
            yield node, smallest
