"""What the MinHash dedup stages send each other through their shuffles, by name.

Each record is a NamedTuple in the code that makes or reads it, and crosses a
shuffle as a plain tuple (``wire``): Beam's default coder writes a tuple of
integers, strings and bytes field by field, but pickles a NamedTuple with its
class's name (about twice the bytes and four times the time). A receiver
rebuilds the record with its ``of``. ``benchmarks/minhash_scale.py`` measures
the step's time and memory.

Shuffle keys (node ids, cluster labels, ``("kept", node)`` / ``("cluster", label)``
groups) stay plain integers and tuples.
"""
from __future__ import annotations

from typing import Any, NamedTuple, Optional, Tuple

NAME = "minhash_dedup"
DUPLICATE = "minhash_duplicate"
REFERENCE_DUPLICATE = "minhash_reference_duplicate"
KEYED = Tuple[Any, Any]  # output type of a DoFn with tagged outputs: Beam infers a union with TaggedOutput otherwise


def wire(record: tuple) -> tuple:
    """``record`` as a plain tuple, the records inside it too: what Beam encodes without pickling."""
    return tuple(wire(v) if isinstance(v, tuple) and hasattr(v, "_fields") else v for v in record)


class Ranked(NamedTuple):
    """A document's place in its cluster's keep order: the smallest is kept."""
    key: tuple  # priority_key (thresher.transforms.dedup.priority)
    doc_id: str

    @classmethod
    def of(cls, t) -> Optional["Ranked"]:
        return None if t is None else cls(*t)


class SentSet(NamedTuple):
    """A shingle set sent to a member of a star: its centre's (``centre``) or its own (``own``)."""
    kind: str
    node: int
    shingles: Optional[bytes]  # None: no set, or several for one node (see candidates._single)

    @classmethod
    def of(cls, t) -> "SentSet":
        return cls(*t)


class Member(NamedTuple):
    """A node of a cluster: its best document, how many documents share the node, whether their ids differ."""
    node: int
    best: Optional[Ranked]  # None for a reference node (no document of this run)
    documents: int
    collided: bool

    @classmethod
    def of(cls, t) -> "Member":
        return cls(t[0], Ranked.of(t[1]), t[2], t[3])


class Check(NamedTuple):
    """A member to be checked against its cluster's kept document (keyed by the kept node)."""
    kept_id: str
    label: int
    member: Member

    @classmethod
    def of(cls, t) -> "Check":
        return cls(t[0], t[1], Member.of(t[2]))


class KeptSet(NamedTuple):
    """The kept document's shingle set, sent to a member checked against it (keyed by the member's node)."""
    kept: int
    kept_id: str
    label: int
    member: Member
    shingles: Optional[bytes]

    @classmethod
    def of(cls, t) -> "KeptSet":
        return cls(t[0], t[1], t[2], Member.of(t[3]), t[4])


class Decision(NamedTuple):
    """A node's fate (keyed by its group): kept (``reason`` None) or removed, and the id kept for it."""
    node: int
    reason: Optional[str]
    kept_id: str
    documents: int

    @classmethod
    def of(cls, t) -> "Decision":
        return cls(*t)


class Outcome(NamedTuple):
    """What a node's documents get (keyed by the node): the reason, their group's size, the kept id."""
    reason: Optional[str]
    cluster_size: int
    kept_id: str

    @classmethod
    def of(cls, t) -> "Outcome":
        return cls(*t)

