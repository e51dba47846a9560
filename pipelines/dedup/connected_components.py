"""Connected components of the near-duplicate graph, as per-node steps a pipeline can run.

The pipeline alternates large-star and small-star rounds (Kiveris et al., "Connected
Components in Map Reduce and Beyond", SoCC 2014). Each step sees one node and its
neighbours only, so no worker ever holds more than one neighbourhood. The rounds
preserve connectivity and converge to one star per component whose centre is the
component's smallest node; edges are (child, parent) with parent < child.

A fixed number of rounds is unrolled in the pipeline graph. Afterwards `star_messages`
and `provisional_label` find where the edges are not yet such stars; only the edges
there (the residual) are joined on one worker by `union_find_components`, so the result
is exact for any graph and that worker's load shrinks as rounds are added.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from typing import Any, NamedTuple, TypeVar

Node = TypeVar("Node", bound=Hashable)


def large_star(node: Node, neighbours: Iterable[Node]) -> list[tuple[Node, Node]]:
    """Link every neighbour larger than `node` to the smallest of `node` and its neighbours."""
    neighbours = set(neighbours)
    smallest = min(neighbours | {node})
    return [(other, smallest) for other in neighbours if other > node]


def small_star(node: Node, smaller_neighbours: Iterable[Node]) -> list[tuple[Node, Node]]:
    """Link `node` and its smaller neighbours to the smallest of them."""
    members = set(smaller_neighbours) | {node}
    smallest = min(members)
    return [(member, smallest) for member in members if member != smallest]


class StarCheck(NamedTuple):
    """What the first convergence check of one node finds."""

    messages: list[tuple[Any, tuple[Any, bool]]]  # (child, (this node, this node is a root)) per child
    residual: list[tuple[Any, Any]]  # edges that are not part of a finished star
    label: Any  # the node itself if it is a root (its provisional label), else None


def star_messages(node: Node, parents: Iterable[Node], children: Iterable[Node]) -> StarCheck:
    """First convergence check of a node after the rounds, given the edges (child, parent) at it.

    Tells each child whether this node is a root (has no parent). A node with both parents
    and children sits inside a chain, not a star, so its edges to its parents are residual.
    A root is its own provisional label; other nodes get theirs from `provisional_label`.
    """
    parents, children = set(parents), set(children)
    messages = [(child, (node, not parents)) for child in children]
    residual = [(node, parent) for parent in parents] if children else []
    return StarCheck(messages, residual, None if parents else node)


def provisional_label(node: Node,
                      parent_statuses: Iterable[tuple[Node, bool]]) -> tuple[Node, list[tuple[Node, Node]]]:
    """Second check: a node whose only parent is a root is a finished star leaf, labelled with that root.

    Any other node is labelled with itself and its edges to its parents are residual. The
    final label of every node is the residual's resolution of its provisional label (the
    smallest node of its residual component), or the provisional label where the residual
    does not have it.
    """
    statuses = dict(parent_statuses)
    if len(statuses) == 1:
        (parent, parent_is_root), = statuses.items()
        if parent_is_root:
            return parent, []
    return node, [(node, parent) for parent in statuses]


def union_find_components(edges: Iterable[tuple[Node, Node]]) -> dict[Node, Node]:
    """For every node of an in-memory edge list, the smallest node of its connected component."""
    parent: dict[Node, Node] = {}

    def root(node: Node) -> Node:
        parent.setdefault(node, node)
        while parent[node] != node:
            parent[node] = parent[parent[node]]  # path halving keeps trees shallow
            node = parent[node]
        return node

    for a, b in edges:
        ra, rb = root(a), root(b)
        if ra != rb:
            # The smaller root wins, so every root is its component's smallest node.
            parent[max(ra, rb)] = min(ra, rb)
    return {node: root(node) for node in parent}
