"""Test graphs for connected components: (name, edges) with string node ids."""

import random


def _named(prefix, edges):
    return [(f"{prefix}{a:05d}", f"{prefix}{b:05d}") for a, b in edges]


def sample_graphs(seed=0):
    """Long paths (sorted and shuffled ids), stars, cliques, trees, sparse random graphs, loops, repeats."""
    rng = random.Random(seed)
    shuffled = list(range(160))
    rng.shuffle(shuffled)
    graphs = {
        "sorted_path": [(i, i + 1) for i in range(120)],
        "reversed_path": [(i + 1, i) for i in range(110)],
        "shuffled_path": [(shuffled[i], shuffled[i + 1]) for i in range(159)],
        "star_centre_small": [(0, i) for i in range(1, 60)],
        "star_centre_large": [(99, i) for i in range(0, 99)],
        "clique": [(a, b) for a in range(8) for b in range(8) if a != b],
        "tree": [(i, rng.randrange(i)) for i in range(1, 150)],
        "random": [(rng.randrange(300), rng.randrange(300)) for _ in range(220)],
        "with_self_loops_and_repeats": [(1, 1), (1, 2), (2, 1), (1, 2), (3, 3), (2, 4)],
        "two_paths_joined_late": [(i, i + 1) for i in range(40)] + [(100 + i, 101 + i) for i in range(40)]
                                 + [(40, 140)],
    }
    return {name: _named(f"{name}-", edges) for name, edges in graphs.items()}


def bfs_components(edges):
    """A plain reference independent of the code under test: node -> smallest node of its component."""
    neighbours = {}
    for a, b in edges:
        neighbours.setdefault(a, set()).add(b)
        neighbours.setdefault(b, set()).add(a)
    smallest = {}
    for start in neighbours:
        if start in smallest:
            continue
        seen, frontier = {start}, [start]
        while frontier:
            frontier = [m for n in frontier for m in neighbours[n] if m not in seen]
            seen.update(frontier)
        low = min(seen)
        smallest.update(dict.fromkeys(seen, low))
    return smallest
