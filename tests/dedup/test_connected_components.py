"""The per-node steps of the connected-components rounds, and the union-find reference."""

from collections import defaultdict

import pytest

from fullchain.pipelines.dedup.connected_components import (
    large_star,
    provisional_label,
    small_star,
    star_messages,
    union_find_components,
)

from .graphs import bfs_components, sample_graphs


def test_large_star_links_larger_neighbours_to_the_smallest():
    assert sorted(large_star(5, [2, 7, 9])) == [(7, 2), (9, 2)]
    assert sorted(large_star(1, [4, 3])) == [(3, 1), (4, 1)]
    assert large_star(9, [2, 7]) == []  # no larger neighbour


def test_small_star_links_node_and_smaller_neighbours_to_the_smallest():
    assert sorted(small_star(9, [4, 2, 7])) == [(4, 2), (7, 2), (9, 2)]
    assert small_star(3, [1]) == [(3, 1)]


def test_star_messages():
    # a root with two children: tells them it is a root, labels itself, nothing residual
    check = star_messages(1, [], [5, 7])
    assert sorted(check.messages) == [(5, (1, True)), (7, (1, True))] and check.residual == [] and check.label == 1
    # a node inside a chain: not a root, its parent edges are residual, no label here
    check = star_messages(5, [1], [7])
    assert check.messages == [(7, (5, False))] and check.residual == [(5, 1)] and check.label is None
    # a leaf: no messages, no residual
    assert star_messages(7, [1], []) == ([], [], None)


def test_provisional_label():
    assert provisional_label(7, [(1, True)]) == (1, [])  # finished star leaf
    assert provisional_label(7, [(5, False)]) == (7, [(7, 5)])  # parent is not a root
    label, residual = provisional_label(7, [(1, True), (3, True)])  # two parents
    assert label == 7 and sorted(residual) == [(7, 1), (7, 3)]


def test_union_find_equals_bfs():
    for name, edges in sample_graphs().items():
        assert union_find_components(edges) == bfs_components(edges), name


def simulate(edges, rounds):
    """The Beam rounds and the convergence check, run in memory with the same step functions."""
    edges = {(a, b) for a, b in edges if a != b}
    for _ in range(rounds):
        neighbours = defaultdict(set)
        for a, b in edges:
            neighbours[a].add(b)
            neighbours[b].add(a)
        edges = {e for node, ns in neighbours.items() for e in large_star(node, ns)}
        smaller = defaultdict(set)
        for a, b in edges:
            smaller[max(a, b)].add(min(a, b))
        edges = {e for node, ns in smaller.items() for e in small_star(node, ns)}
    parents, children = defaultdict(set), defaultdict(set)
    for child, parent in edges:
        parents[child].add(parent)
        children[parent].add(child)
    statuses, residual, provisional = defaultdict(list), [], {}
    for node in set(parents) | set(children):
        check = star_messages(node, parents[node], children[node])
        residual += check.residual
        if check.label is not None:
            provisional[node] = check.label
        for child, status in check.messages:
            statuses[child].append(status)
    for node, node_statuses in statuses.items():
        provisional[node], more = provisional_label(node, node_statuses)
        residual += more
    resolved = union_find_components(residual)
    labels = {node: resolved.get(label, label) for node, label in provisional.items()}
    return {node: label for node, label in labels.items() if node != label}, len(residual)


@pytest.mark.parametrize("rounds", [1, 2, 3, 5, 8, 12])
def test_rounds_and_fallback_equal_the_reference_at_any_round_count(rounds):
    for name, edges in sample_graphs().items():
        expected = {node: low for node, low in bfs_components(edges).items() if node != low}
        got, _ = simulate(edges, rounds)
        assert got == expected, (name, rounds)


def test_rounds_converge_so_the_residual_vanishes():
    edges = [e for graph in sample_graphs().values() for e in graph]
    residuals = [simulate(edges, rounds)[1] for rounds in (1, 3, 10)]
    assert residuals[0] > residuals[1] > 0 == residuals[2]
