"""Mix's arithmetic, apart from the pipeline: how many copies a document gets, its weight, each
source's rate from the budget, and the summary table.

The rules are ``thresher.transforms.select.mix``'s (its module docstring); this module holds
the functions the step's DoFns and ``Map``s call, none of which touches Beam but ``SumTuples``.
"""
from __future__ import annotations

import bisect
import math
from fractions import Fraction
from typing import Dict, List, Optional

import apache_beam as beam
import xxhash

from thresher.transforms.document import Document

COPY_ID = "{id}#{copy}"  # id of copy >= 1 of a document
_HASH_SPAN = float(1 << 64)


def copies(expected: float, doc_id: str, seed: int) -> int:
    """floor(expected), plus one when the id's seeded hash fraction is below the fractional part."""
    whole = math.floor(expected)
    fraction = xxhash.xxh64_intdigest(doc_id.encode("utf-8", "surrogatepass"), seed) / _HASH_SPAN
    return whole + (fraction < expected - whole)


def copy_id(doc_id: str, copy: int) -> str:
    return doc_id if copy == 0 else COPY_ID.format(id=doc_id, copy=copy)


class DocWeight:
    """A document's weight from an annotation and a table of lower bounds, as an integer
    over ``denominator`` (exact sums in any order)."""

    def __init__(self, annotation: Optional[str], table: Dict[int, float]):
        self.annotation = annotation
        fractions = {bound: Fraction(value) for bound, value in table.items()}
        self.denominator = math.lcm(1, *(f.denominator for f in fractions.values()))
        self.bounds = sorted(fractions)
        self.scaled = [int(fractions[b] * self.denominator) for b in self.bounds]

    def of(self, doc: Document) -> int:
        if self.annotation is None:
            return self.denominator
        value = doc.annotations.get(self.annotation)
        if value is None:
            return self.denominator
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
            raise TypeError(f"annotation {self.annotation!r} is {value!r}, not a number")
        i = bisect.bisect_right(self.bounds, value) - 1
        return self.denominator if i < 0 else self.scaled[i]

    def value(self, doc: Document) -> float:
        return self.of(doc) / self.denominator


class SumTuples(beam.CombineFn):
    """Element-wise sums of equal-length integer tuples."""

    def create_accumulator(self):
        return None

    def add_input(self, acc, values):
        return tuple(values) if acc is None else tuple(a + v for a, v in zip(acc, values))

    def merge_accumulators(self, accs):
        total = None
        for acc in accs:
            if acc is not None:
                total = self.add_input(total, acc)
        return total

    def extract_output(self, acc):
        return acc


def source_rates(available: Dict[str, tuple], denominator: int, shares: Dict[str, float], budget: float,
                 unit: str, max_epochs: Optional[float]) -> Dict[str, dict]:
    """Per source: available amounts, target and rate (capped by max_epochs). ``available`` maps a
    source to (tokens, documents, weighted tokens, weighted documents), weights over ``denominator``."""
    plan = {}
    for source in set(available) | set(shares):
        tokens, documents, weighted_tokens, weighted_documents = available.get(source, (0, 0, 0, 0))
        raw, weighted = (tokens, weighted_tokens) if unit == "tokens" else (documents, weighted_documents)
        weighted = weighted / denominator
        share = shares.get(source, 0.0)
        target = budget * share
        rate = target / weighted if weighted > 0 else 0.0
        capped = False
        if max_epochs is not None and weighted > 0 and rate > max_epochs * raw / weighted:
            rate, capped = max_epochs * raw / weighted, True
        plan[source] = {
            "unweighted": source not in shares, "weight": share, "available_tokens": tokens,
            "available_documents": documents, "weighted_tokens": weighted_tokens / denominator,
            "weighted_documents": weighted_documents / denominator, "target": target, "rate": rate,
            "capped": capped}
    return plan


def source_rows(plan: Dict[str, dict], achieved: Dict[str, tuple], unit: str, weighted: bool) -> List[dict]:
    """The summary's per-source rows (sorted by source): the plan and what was achieved
    (``achieved`` maps a source to (tokens, documents) of the emitted copies)."""
    sources = []
    for source in sorted(plan):
        p = plan[source]
        tokens, documents = achieved.get(source, (0, 0))
        got, available = (tokens, p["available_tokens"]) if unit == "tokens" else (
            documents, p["available_documents"])
        row = {"source": source, "weight": p["weight"], "available_tokens": p["available_tokens"],
               "available_documents": p["available_documents"], "target": round(p["target"]),
               "rate": p["rate"], "achieved_tokens": tokens, "achieved_documents": documents,
               "epochs": got / available if available else 0.0,
               "shortfall": round(max(0.0, p["target"] - got)), "capped": p["capped"]}
        if weighted:
            row.update(weighted_tokens=p["weighted_tokens"], weighted_documents=p["weighted_documents"])
        sources.append(row)
    return sources
