"""Distributed connected components: alternating large-star / small-star rounds.

Kiveris, Lattanzi, Mirrokni, Rastogi, Vassilvitskii, "Connected Components in
MapReduce and Beyond" (SoCC 2014). Each round is two keyed shuffles over the
edges; no worker holds more than one node's neighbourhood at a time. Rounds
needed grow like log(n) with node ids in random order (ours are hashes).

* large-star at node u, m = min(u and its neighbours): every neighbour v > u is
  linked to m instead of u;
* small-star at node u, m = min(u and its neighbours smaller than u): u and
  those neighbours are linked to m.

Both keep every component connected and never join two components; repeated,
they end in a forest of stars, each rooted at its component's smallest node.
A Beam graph cannot loop, so ``max_rounds`` rounds are unrolled. The rounds
until the graph is a star forest (random node ids, as ours are hashes) grow
like log(n) on a chain and are 1-2 on a star or many small components:
``simulate`` in ``tests/test_connected_components.py`` counts them.

After the last round every node that has an edge to another node is labelled
``min(node, its neighbours)``, and the transform counts the nodes that are not
yet in a star (``unconverged_nodes``: more than one smaller neighbour, or a
smaller and a larger one). 0 means converged: every label is the smallest node
of its component. Otherwise nodes of one component may get different labels,
but a label is always a node of the same component: grouping by label splits
components, never merges them (safe for dedup: more documents are kept, none
is dropped without a duplicate). Self loops are ignored, duplicate edges count
once, and a node with no other edge gets no label.
"""
from __future__ import annotations

from typing import Iterable, List, Tuple

import apache_beam as beam
from apache_beam.metrics import Metrics

from thresher.transforms.base import METRICS_NAMESPACE, ParamError

DEFAULT_MAX_ROUNDS = 10
LABELS = "labels"
UNCONVERGED = "unconverged_nodes"
_CHANGED = "changed"


def _canonical(edge: Tuple[int, int]) -> Iterable[Tuple[int, int]]:
    u, v = edge
    if u != v:
        yield (u, v) if u > v else (v, u)


def _both_ways(edge: Tuple[int, int]) -> Iterable[Tuple[int, int]]:
    u, v = edge
    yield u, v
    yield v, u


def large_star(u: int, neighbours: Iterable[int]) -> Tuple[List[Tuple[int, int]], bool]:
    """(edges, changed): u's larger neighbours linked to the smallest node of u's neighbourhood."""
    neighbours = set(neighbours)
    m = min(min(neighbours), u)
    larger = [v for v in neighbours if v > u]
    return [(v, m) for v in larger], bool(m != u and larger)


def small_star(u: int, neighbours: Iterable[int]) -> Tuple[List[Tuple[int, int]], bool]:
    """(edges, changed): u and its smaller neighbours linked to the smallest of them."""
    smaller = {v for v in neighbours if v < u}
    if not smaller:
        return [], False
    m = min(smaller)
    return [(u, m)] + [(v, m) for v in smaller if v != m], len(smaller) > 1


class _Star(beam.DoFn):
    """Applies ``large_star`` or ``small_star`` to one node's grouped neighbours."""

    def __init__(self, large: bool, counter: str):
        self._large = large
        self._counter_name = counter

    def setup(self):
        self._changes = Metrics.counter(METRICS_NAMESPACE, self._counter_name)

    def process(self, element):
        u, neighbours = element
        edges, changed = (large_star if self._large else small_star)(u, neighbours)
        if changed:
            self._changes.inc()
        return edges


class _Neighbourhood(beam.CombineFn):
    """(smallest neighbour, smaller neighbours capped at 2, has a larger neighbour) of a node."""

    def create_accumulator(self):
        return None, 0, False

    def add_input(self, acc, value):
        v, smaller = value
        low, n_smaller, larger = acc
        return (v if low is None or v < low else low,
                min(2, n_smaller + 1) if smaller else n_smaller,
                larger or not smaller)

    def merge_accumulators(self, accs):
        low, n_smaller, larger = None, 0, False
        for a_low, a_n, a_larger in accs:
            if a_low is not None and (low is None or a_low < low):
                low = a_low
            n_smaller = min(2, n_smaller + a_n)
            larger = larger or a_larger
        return low, n_smaller, larger

    def extract_output(self, acc):
        return acc


class _Label(beam.DoFn):
    """Label = min(node, neighbours); counts nodes that are not yet in a star."""

    def __init__(self, counter: str):
        self._counter_name = counter

    def setup(self):
        self._unconverged = Metrics.counter(METRICS_NAMESPACE, self._counter_name)

    def process(self, element):
        u, (low, n_smaller, larger) = element
        # converged graph = stars: a leaf has one smaller neighbour (its root) and no larger one
        if n_smaller > 1 or (n_smaller and larger):
            self._unconverged.inc()
            yield beam.pvalue.TaggedOutput(_CHANGED, 1)
        yield u, min(u, low)


def _with_side(edge: Tuple[int, int]) -> Iterable[Tuple[int, Tuple[int, bool]]]:
    u, v = edge
    yield u, (v, v < u)
    yield v, (u, u < v)


class ConnectedComponents(beam.PTransform):
    """Labels each node of an undirected graph of int edges (u, v) with a node of its component.

    max_rounds: large-star + small-star rounds unrolled in the graph (>= 1).
    counter_prefix: prefix of the Beam counters (``{prefix}.unconverged_nodes``).
    meter: a ``dedup.shuffle_bytes.ShuffleMeter`` that measures each shuffle's input, or None.

    Returns ``{"labels": (node, label), "unconverged_nodes": one int}``; 0
    unconverged nodes means the final graph is a forest of stars and every label
    is the smallest node of its component.
    """

    def __init__(self, max_rounds: int = DEFAULT_MAX_ROUNDS, counter_prefix: str = "connected_components",
                 meter=None):
        super().__init__()
        self.meter = meter
        if max_rounds < 1:
            raise ParamError("max_rounds", "max_rounds must be at least 1")
        self.max_rounds = max_rounds
        self.counter_prefix = counter_prefix

    def expand(self, edges):
        edges = edges | "canonical edges" >> beam.FlatMap(_canonical)
        rounds = f"{self.counter_prefix}.round_changes"
        for r in range(self.max_rounds):
            for large, star in ((True, "large"), (False, "small")):
                edges = (self._flat_map(edges, f"{star} star {r} both ways", _both_ways)
                         | f"{star} star {r} group" >> beam.GroupByKey()
                         | f"{star} star {r}" >> beam.ParDo(_Star(large, rounds)))
        labelled = (self._flat_map(edges, "neighbourhoods", _with_side)
                    | "summarise neighbourhoods" >> beam.CombinePerKey(_Neighbourhood())
                    | "label" >> beam.ParDo(_Label(f"{self.counter_prefix}.unconverged_nodes")).with_outputs(
                        _CHANGED, main=LABELS))
        unconverged = labelled[_CHANGED] | "count unconverged nodes" >> beam.CombineGlobally(sum)
        return {LABELS: labelled[LABELS], UNCONVERGED: unconverged}

    def _flat_map(self, pcoll, label: str, fn):
        if self.meter is None:
            return pcoll | label >> beam.FlatMap(fn)
        return self.meter.flat_map(pcoll, label, fn)
