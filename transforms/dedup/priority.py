"""Which document of a duplicate group is kept: a deterministic priority, never arrival order.

``priority_key(doc, rule, annotation)`` returns a sort key; the smallest key
wins. Rules:

* ``newest``: the newest crawl date (ISO 8601 strings compare as dates);
  documents without a date lose to dated ones;
* ``annotation``: the highest value of the named annotation (e.g. a quality
  score); documents without it lose;
* ``id_hash``: the smallest 64-bit xxhash of the id (no source or domain is
  favoured).

Every rule breaks ties by the id hash, then the id itself, so the winner is
the same on any runner, worker count or input order.
"""
from __future__ import annotations

from typing import Optional, Tuple

import xxhash

from thresher.transforms.base import ParamError
from thresher.transforms.document import Document

RULES = ("newest", "annotation", "id_hash")


def check_rule(rule: str, annotation: Optional[str]) -> None:
    """Raise ParamError for an unknown rule or an ``annotation`` rule without a name."""
    if rule not in RULES:
        raise ParamError("priority", f"unknown priority {rule!r}; valid: {', '.join(RULES)}")
    if rule == "annotation" and not annotation:
        raise ParamError("priority_annotation", "priority 'annotation' needs the annotation's name (priority_annotation)")


def id_hash(doc_id: str) -> int:
    """64-bit hash of an id, shifted into the signed range so Beam encodes it as an int, not a pickle."""
    return xxhash.xxh64_intdigest(doc_id.encode("utf-8", "surrogatepass")) - 2**63


def _descending(text: str) -> Tuple[int, ...]:
    """A key that sorts strings in reverse order."""
    return tuple(-ord(c) for c in text) + (1,)


def priority_key(doc: Document, rule: str, annotation: Optional[str] = None) -> tuple:
    """Sort key of ``doc`` under ``rule``: the smallest key is kept."""
    tie = (id_hash(doc.id), doc.id)
    if rule == "newest":
        return (0, _descending(doc.date)) + tie if doc.date else (1, ()) + tie
    if rule == "annotation":
        value = doc.annotations.get(annotation)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value == value:
            return (0, -float(value)) + tie
        return (1, 0.0) + tie
    return tie
