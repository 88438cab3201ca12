"""Connected components: large-star / small-star against a union-find on adversarial graphs."""
from __future__ import annotations

import collections
import random
from typing import Dict, Iterable, List, Tuple

import apache_beam as beam
import pytest
from apache_beam.testing.util import assert_that, equal_to

from tests.conftest import local_pipeline
from thresher.transforms.dedup.minhash.components import ConnectedComponents, large_star, small_star

Edge = Tuple[int, int]


def union_find_labels(edges: Iterable[Edge]) -> Dict[int, int]:
    """node -> smallest node of its component, for nodes with an edge to another node."""
    parent: Dict[int, int] = {}

    def find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for u, v in edges:
        if u == v:
            continue
        parent.setdefault(u, u)
        parent.setdefault(v, v)
        a, b = find(u), find(v)
        if a != b:
            parent[max(a, b)] = min(a, b)
    return {x: find(x) for x in parent}


def simulate(edges: Iterable[Edge], rounds: int) -> Tuple[Dict[int, int], int]:
    """The transform's rounds in memory, with the same star functions: (labels, unconverged nodes)."""
    edges = [(u, v) for u, v in edges if u != v]

    def group(es):
        adj = collections.defaultdict(list)
        for u, v in es:
            adj[u].append(v)
            adj[v].append(u)
        return adj

    for _ in range(rounds):
        edges = [e for u, n in group(edges).items() for e in large_star(u, n)[0]]
        edges = [e for u, n in group(edges).items() for e in small_star(u, n)[0]]
    labels, unconverged = {}, 0
    for u, n in group(edges).items():
        n = set(n)
        smaller = sum(1 for v in n if v < u)
        unconverged += smaller > 1 or (smaller and any(v > u for v in n))
        labels[u] = min(n | {u})
    return labels, unconverged


def random_ids(n: int, seed: int) -> List[int]:
    rnd = random.Random(seed)
    return [rnd.getrandbits(64) - 2**63 for _ in range(n)]


def chain(n=1000, seed=1):
    ids = random_ids(n, seed)
    return list(zip(ids, ids[1:]))


def star(leaves=500, seed=2):
    ids = sorted(random_ids(leaves + 1, seed))
    centre = ids[-1]  # the largest node as centre: every leaf must move
    return [(centre, leaf) for leaf in ids[:-1]]


def small_components(seed=3):
    ids = random_ids(600, seed)
    pairs = [(ids[i], ids[i + 1]) for i in range(0, 300, 2)]
    triangles = [e for i in range(300, 600, 3)
                 for e in ((ids[i], ids[i + 1]), (ids[i + 1], ids[i + 2]), (ids[i + 2], ids[i]))]
    return pairs + triangles


def giant(seed=4):
    ids = random_ids(400, seed)
    rnd = random.Random(seed)
    edges = list(zip(ids, ids[1:]))  # connected backbone
    edges += [(rnd.choice(ids), rnd.choice(ids)) for _ in range(800)]
    rnd.shuffle(edges)
    return edges


def loops_and_duplicates(seed=5):
    a, b, c, d = random_ids(4, seed)
    return [(a, a), (a, b), (b, a), (a, b), (b, c), (c, c), (d, d)]  # d only loops: no label


GRAPHS = {"chain": chain, "star": star, "small_components": small_components, "giant": giant,
          "loops_and_duplicates": loops_and_duplicates}


@pytest.mark.parametrize("name", sorted(GRAPHS))
def test_star_rounds_match_union_find(name):
    edges = GRAPHS[name]()
    labels, unconverged = simulate(edges, 12)
    assert unconverged == 0
    assert labels == union_find_labels(edges)


def test_rounds_needed_for_a_long_chain():
    edges = chain(1000)
    needed = next(r for r in range(1, 30) if simulate(edges, r)[1] == 0)
    assert 5 <= needed <= 10  # log-like in the chain length: within the default rounds


def test_beam_all_graphs_at_once_match_union_find():
    edges = [e for make in GRAPHS.values() for e in make()]
    expected = union_find_labels(edges)
    with local_pipeline() as p:
        out = p | beam.Create(edges) | ConnectedComponents(max_rounds=12)
        assert_that(out["labels"], equal_to(sorted(expected.items())))
        assert_that(out["unconverged_nodes"], equal_to([0]), label="converged")


def test_beam_not_converged_splits_components_never_merges():
    # two long chains after one round: labels must stay inside each chain
    first, second = chain(1000, seed=7), chain(1000, seed=8)
    truth = union_find_labels(first + second)
    expected, unconverged = simulate(first + second, 1)
    assert unconverged > 0
    assert len(set(expected.values())) > 2  # split, not merged
    assert all(truth[label] == truth[node] for node, label in expected.items())

    with local_pipeline() as p:
        out = p | beam.Create(first + second) | ConnectedComponents(max_rounds=1)
        assert_that(out["labels"], equal_to(sorted(expected.items())))
        assert_that(out["unconverged_nodes"], equal_to([unconverged]), label="unconverged")


def test_empty_graph_and_bad_rounds():
    with local_pipeline() as p:
        out = p | beam.Create([(1, 1)]) | ConnectedComponents(max_rounds=2)
        assert_that(out["labels"], equal_to([]))
        assert_that(out["unconverged_nodes"], equal_to([0]), label="converged")
    with pytest.raises(ValueError, match="at least 1"):
        ConnectedComponents(max_rounds=0)
