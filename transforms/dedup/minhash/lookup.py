"""MinHash dedup, side inputs: the nodes with an edge and the decisions of clustered nodes, as compact
sorted arrays that every worker reads where the documents are (instead of joining documents to them).

* ``NodeSet``: a sorted array of distinct node ids (int64, 8 bytes a node), from any PCollection of
  node ids; ``has(nodes, node)`` is a binary search.
* ``DecisionTable``: per decided node its reason (int8), group size (int64) and the index (int32) of
  its kept id in one UTF-8 blob of the distinct kept ids (int64 offsets): 21 bytes a clustered
  node and about 8 + len(id) per cluster; ``outcome(table, node)`` is a binary search.

Both are combines: the partial combines send their records (ints, or (node, outcome) tuples) to one
merge, which builds the arrays; a worker decodes the array once per bundle (a copy of its bytes).
"""
from __future__ import annotations

from typing import Optional

import apache_beam as beam
import numpy as np

from thresher.transforms.dedup.minhash.records import DUPLICATE, REFERENCE_DUPLICATE, Outcome
from thresher.transforms.dedup.minhash.signatures import sorted_unique

_REASONS = (None, DUPLICATE, REFERENCE_DUPLICATE)
_CODE = {reason: i for i, reason in enumerate(_REASONS)}


class _Gather(beam.CombineFn):
    """The inputs gathered in a list, for ``extract_output`` to build its array from."""

    def create_accumulator(self):
        return []

    def add_input(self, acc, value):
        acc.append(value)
        return acc

    def merge_accumulators(self, accs):
        merged = []
        for acc in accs:
            merged.extend(acc)
        return merged


class NodeSet(_Gather):
    """Node ids -> their sorted distinct int64 array."""

    def compact(self, acc):
        return sorted_unique(np.array(acc, dtype=np.int64)).tolist()

    def extract_output(self, acc):
        return sorted_unique(np.array(acc, dtype=np.int64))


def _position(nodes: np.ndarray, node: int) -> int:
    """The index of ``node`` in the sorted array ``nodes``, or -1."""
    i = int(np.searchsorted(nodes, node))
    return i if i < len(nodes) and int(nodes[i]) == node else -1


def has(nodes: np.ndarray, node: int) -> bool:
    """Whether ``node`` is in the sorted array ``nodes``."""
    return _position(nodes, node) >= 0


class DecisionTable(_Gather):
    """(node, ``Outcome``) -> (nodes, reasons, sizes, kept index, kept ids blob, blob offsets), sorted by node."""

    def extract_output(self, acc):
        acc = sorted(acc, key=lambda d: d[0])
        decided = [Outcome.of(o) for _, o in acc]
        ids: dict = {}
        index = [ids.setdefault(d.kept_id, len(ids)) for d in decided]
        blob = [i.encode("utf-8", "surrogatepass") for i in ids]
        offsets = np.zeros(len(blob) + 1, dtype=np.int64)
        np.cumsum([len(b) for b in blob], out=offsets[1:])
        return (np.array([n for n, _ in acc], dtype=np.int64),
                np.array([_CODE[d.reason] for d in decided], dtype=np.int8),
                np.array([d.cluster_size for d in decided], dtype=np.int64),
                np.array(index, dtype=np.int32), b"".join(blob), offsets)


def outcome(table, node: int) -> Optional[Outcome]:
    """The decision of ``node`` in a ``DecisionTable`` output, or None (a document in no cluster)."""
    nodes, reasons, sizes, index, blob, offsets = table
    i = _position(nodes, node)
    if i < 0:
        return None
    k = int(index[i])
    kept_id = blob[int(offsets[k]):int(offsets[k + 1])].decode("utf-8", "surrogatepass")
    return Outcome(_REASONS[int(reasons[i])], int(sizes[i]), kept_id)


def table_bytes(table) -> int:
    """The bytes of a ``DecisionTable`` output's arrays and blob."""
    return sum(a.nbytes for a in table if isinstance(a, np.ndarray)) + len(table[4])


def nodes_of(pcoll: beam.PCollection, label: str) -> beam.PCollection:
    """The singleton ``NodeSet`` of a PCollection of node ids (an empty array when it is empty)."""
    return pcoll | label >> beam.CombineGlobally(NodeSet())

