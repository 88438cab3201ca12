"""The keys of the run's counts: what the builder counts (``pipelines/run/builder.py``) and
``stats.build_stats`` reads back, one typed key shared by both.

A key is ``CountKey(kind, owner, what, detail)``: ``kind`` is ``"read"`` (owner: the input's
name) or ``"step"`` (owner: the step's index); ``what`` is ``docs``, ``errors`` or ``skipped``
for a read and ``out``, ``dropped``, ``errors`` or ``report`` for a step; ``detail`` is the
record type passed over, the drop reason, the report's fact, ``"tokens"`` for the tokens of
``docs``/``out``, or None. A plain tuple of three or four items reads as the same key (``of``).
"""
from __future__ import annotations

from typing import Any, Dict, NamedTuple, Optional, Tuple

TOKENS = "tokens"


class CountKey(NamedTuple):
    kind: str
    owner: Any
    what: str
    detail: Optional[str] = None

    @classmethod
    def of(cls, key: Tuple) -> "CountKey":
        """A key as the builder emits it or as a plain ``(kind, owner, what[, detail])`` tuple."""
        return key if isinstance(key, cls) else cls(*key)

    def tokens(self) -> "CountKey":
        """The key of the (estimated) tokens of the documents this key counts."""
        return self._replace(detail=TOKENS)


def read_docs(source: str) -> CountKey:
    return CountKey("read", source, "docs")


def read_errors(source: str) -> CountKey:
    return CountKey("read", source, "errors")


def read_skipped(source: str, record_type: str) -> CountKey:
    """Records of ``record_type`` the reader of ``source`` passed over (not documents)."""
    return CountKey("read", source, "skipped", record_type)


def step_out(index: int) -> CountKey:
    return CountKey("step", index, "out")


def dropped(index: int, reason: str) -> CountKey:
    return CountKey("step", index, "dropped", reason)


def step_errors(index: int) -> CountKey:
    return CountKey("step", index, "errors")


def step_report(index: int, fact: str) -> CountKey:
    """A step's own count (``REPORT``): whether clustering converged, copies a mix added..."""
    return CountKey("step", index, "report", fact)


def typed(counts: Dict[Tuple, int]) -> Dict[CountKey, int]:
    """``counts`` keyed by ``CountKey`` (plain tuples read as keys)."""
    return {CountKey.of(key): n for key, n in counts.items()}


def details(counts: Dict[CountKey, int], kind: str, owner: Any, what: str) -> Dict[str, int]:
    """``detail -> count`` of every key ``(kind, owner, what, detail)``: drop reasons, report facts..."""
    return {key.detail: n for key, n in counts.items() if key[:3] == (kind, owner, what)}

