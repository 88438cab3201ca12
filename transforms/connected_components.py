"""Distributed connected components: alternating large-star / small-star rounds.

Kiveris, Lattanzi, Mirrokni, Rastogi, Vassilvitskii, "Connected Components in
MapReduce and Beyond" (SoCC 2014). Each round is two keyed shuffles over the
edges; no worker ever holds more than one node's neighbourhood. With node ids
in random order (ours are hashes) the rounds needed grow like log(n): a chain
of 10,000 nodes converges in 7 rounds, 10 rounds are the default.

* large-star at node u, m = min(u and its neighbours): every neighbour v > u is
  linked to m instead of u;
* small-star at node u, m = min(u and its neighbours smaller than u): u and
  those neighbours are linked to m.

Both keep every component connected and never join two components. When a
round changes nothing the graph is a forest of stars rooted at each
component's smallest node. Unrolled as ``max_rounds`` fixed rounds (a Beam graph
cannot loop), the transform reports the number of nodes the last round changed
(``last_round_changes``; 0 means converged and the labels are exact).

Labels: every node that has at least one edge to another node is labelled
``min(node, its neighbours)`` in the final graph. Converged, that is the
smallest node of its component. Not converged, nodes of one component may get
different labels, but a label is always a node of the same component: grouping
by label splits components, never merges them (safe for dedup: more documents
are kept, none is dropped without a duplicate). Self loops are ignored and
duplicate edges count once; a node with no other edge gets no label.
"""
from __future__ import annotations

from typing import Iterable, Tuple

import apache_beam as beam
from apache_beam.metrics import Metrics

from transforms.base import METRICS_NAMESPACE

DEFAULT_MAX_ROUNDS = 10
LABELS = "labels"
LAST_ROUND_CHANGES = "last_round_changes"
_CHANGED = "changed"


def _canonical(edge: Tuple[int, int]) -> Iterable[Tuple[int, int]]:
    u, v = edge
    if u != v:
        yield (u, v) if u > v else (v, u)


def _both_ways(edge: Tuple[int, int]) -> Iterable[Tuple[int, int]]:
    u, v = edge
    yield u, v
    yield v, u


class _LargeStar(beam.DoFn):
    """Links the larger neighbours of u to the smallest node of u's neighbourhood."""

    def __init__(self, counter: str):
        self._counter_name = counter

    def setup(self):
        self._changes = Metrics.counter(METRICS_NAMESPACE, self._counter_name)

    def process(self, element):
        u, neighbours = element
        neighbours = set(neighbours)
        m = min(min(neighbours), u)
        larger = [v for v in neighbours if v > u]
        if m != u and larger:
            self._changes.inc()
            yield beam.pvalue.TaggedOutput(_CHANGED, 1)
        for v in larger:
            yield v, m


class _SmallStar(beam.DoFn):
    """Links u and its smaller neighbours to the smallest of them."""

    def __init__(self, counter: str):
        self._counter_name = counter

    def setup(self):
        self._changes = Metrics.counter(METRICS_NAMESPACE, self._counter_name)

    def process(self, element):
        u, neighbours = element
        smaller = {v for v in neighbours if v < u}
        if not smaller:
            return
        m = min(smaller)
        if len(smaller) > 1:
            self._changes.inc()
            yield beam.pvalue.TaggedOutput(_CHANGED, 1)
        yield u, m
        for v in smaller:
            if v != m:
                yield v, m


class ConnectedComponents(beam.PTransform):
    """Labels each node of an undirected graph of int edges (u, v) with a node of its component.

    max_rounds: large-star + small-star rounds unrolled in the graph (>= 1).
    counter_prefix: prefix of the Beam counters (``{prefix}.last_round_changes``).

    Returns ``{"labels": (node, label), "last_round_changes": one int}``.
    """

    def __init__(self, max_rounds: int = DEFAULT_MAX_ROUNDS, counter_prefix: str = "connected_components"):
        super().__init__()
        if max_rounds < 1:
            raise ValueError("max_rounds must be at least 1")
        self.max_rounds = max_rounds
        self.counter_prefix = counter_prefix

    def expand(self, edges):
        edges = edges | "canonical edges" >> beam.FlatMap(_canonical)
        last = f"{self.counter_prefix}.last_round_changes"
        changed = []
        for r in range(self.max_rounds):
            counter = last if r == self.max_rounds - 1 else f"{self.counter_prefix}.round_changes"
            large = (edges
                     | f"large star {r} both ways" >> beam.FlatMap(_both_ways)
                     | f"large star {r} group" >> beam.GroupByKey()
                     | f"large star {r}" >> beam.ParDo(_LargeStar(counter)).with_outputs(_CHANGED, main="edges"))
            small = (large["edges"]
                     | f"small star {r} both ways" >> beam.FlatMap(_both_ways)
                     | f"small star {r} group" >> beam.GroupByKey()
                     | f"small star {r}" >> beam.ParDo(_SmallStar(counter)).with_outputs(_CHANGED, main="edges"))
            edges = small["edges"]
            changed = [large[_CHANGED], small[_CHANGED]]
        labels = (edges
                  | "label both ways" >> beam.FlatMap(_both_ways)
                  | "smallest neighbour" >> beam.CombinePerKey(min)
                  | "label" >> beam.Map(lambda kv: (kv[0], min(kv)))
                  )
        changes = (tuple(changed)
                   | "last round changes" >> beam.Flatten()
                   | "count last round changes" >> beam.CombineGlobally(sum))
        return {LABELS: labels, LAST_ROUND_CHANGES: changes}
