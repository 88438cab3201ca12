"""Distributions of the output documents' annotations, for stats.json and the data card.

One ``CombineFn`` over the output builds, per annotation, either a numeric
histogram or the counts of its values. Bins are fixed in advance so partial
results from any number of workers merge exactly:

* floats within [0, 1] (scores): 20 equal bins;
* integers within [-16, 16] (cluster sizes, counts): one bin per value;
* anything else: logarithmic bins, four per power of two, mirrored for negatives.

Categorical values (strings, booleans) are counted; each accumulator keeps at
most ``MAX_VALUES`` distinct values and adds the rest to ``other``. Where the
bookkeeping annotations of sources (file, offset) would only list files, they
are left out. ``length_chars`` and ``length_tokens`` (the estimate of
``thresher.transforms.text.tokens``) describe the texts themselves.
"""
from __future__ import annotations

import math
from typing import Any, Dict, Tuple

import apache_beam as beam

from thresher.transforms.text.tokens import estimate_tokens

SKIPPED = frozenset({"file", "offset", "drop_step", "drop_reason"})
MAX_VALUES = 1000
TOP_VALUES = 50  # values listed per categorical annotation in stats.json
_LINEAR_BINS = 20
_SMALL_INT = 16
_PER_OCTAVE = 4


def bin_of(value: float, is_int: bool) -> Tuple[float, float]:
    """The fixed (low, high) bin holding ``value``."""
    if is_int and -_SMALL_INT <= value <= _SMALL_INT:
        return (float(value), float(value))
    if not is_int and 0.0 <= value <= 1.0:
        k = min(int(value * _LINEAR_BINS), _LINEAR_BINS - 1)
        return (k / _LINEAR_BINS, (k + 1) / _LINEAR_BINS)
    magnitude = abs(value)
    if magnitude < 1e-300:
        return (0.0, 0.0)
    k = math.floor(math.log2(magnitude) * _PER_OCTAVE)
    lo, hi = 2.0 ** (k / _PER_OCTAVE), 2.0 ** ((k + 1) / _PER_OCTAVE)
    return (lo, hi) if value > 0 else (-hi, -lo)


def _new_numeric():
    return {"kind": "numeric", "count": 0, "sum": 0.0, "min": math.inf, "max": -math.inf, "bins": {}}


def _new_categorical():
    return {"kind": "categorical", "count": 0, "values": {}, "other": 0}


class ProfileAnnotations(beam.CombineFn):
    """Documents -> {annotation: numeric histogram or value counts} (see the module docstring)."""

    def create_accumulator(self) -> Dict[str, Dict[str, Any]]:
        return {"__documents__": {"count": 0}}

    def add_input(self, acc, doc):
        acc["__documents__"]["count"] += 1
        values = {"length_chars": len(doc.text), "length_tokens": estimate_tokens(doc.text)}
        for name, value in doc.annotations.items():
            if name not in SKIPPED and value is not None:
                values[name] = value
        for name, value in values.items():
            _add(acc, name, value)
        return acc

    def merge_accumulators(self, accumulators):
        merged = self.create_accumulator()
        for acc in accumulators:
            merged["__documents__"]["count"] += acc["__documents__"]["count"]
            for name, part in acc.items():
                if name == "__documents__":
                    continue
                into = merged.get(name)
                if into is None:
                    merged[name] = into = _new_numeric() if part["kind"] == "numeric" else _new_categorical()
                if into["kind"] != part["kind"]:  # mixed types: keep the first kind seen
                    continue
                into["count"] += part["count"]
                if part["kind"] == "numeric":
                    into["sum"] += part["sum"]
                    into["min"] = min(into["min"], part["min"])
                    into["max"] = max(into["max"], part["max"])
                    for b, n in part["bins"].items():
                        into["bins"][b] = into["bins"].get(b, 0) + n
                else:
                    into["other"] += part["other"]
                    for v, n in part["values"].items():
                        into["values"][v] = into["values"].get(v, 0) + n
                    _cap(into)
        return merged

    def extract_output(self, acc) -> Dict[str, Dict[str, Any]]:
        total = acc["__documents__"]["count"]
        out = {}
        for name in sorted(acc):
            if name == "__documents__":
                continue
            part = acc[name]
            if part["kind"] == "numeric":
                out[name] = {
                    "kind": "numeric", "count": part["count"], "missing": total - part["count"],
                    "min": part["min"], "max": part["max"], "mean": part["sum"] / part["count"],
                    "bins": [{"lo": lo, "hi": hi, "count": n} for (lo, hi), n in sorted(part["bins"].items())],
                }
            else:
                ranked = sorted(part["values"].items(), key=lambda kv: (-kv[1], kv[0]))
                out[name] = {
                    "kind": "categorical", "count": part["count"], "missing": total - part["count"],
                    "values": dict(ranked[:TOP_VALUES]),
                    "other": part["other"] + sum(n for _, n in ranked[TOP_VALUES:]),
                }
        return out


def _add(acc, name: str, value: Any) -> None:
    numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
    part = acc.get(name)
    if part is None:
        acc[name] = part = _new_numeric() if numeric else _new_categorical()
    if (part["kind"] == "numeric") != numeric:
        return  # an annotation with mixed types: count it under the first kind seen
    part["count"] += 1
    if numeric:
        if isinstance(value, float) and not math.isfinite(value):
            part["count"] -= 1
            return
        part["sum"] += value
        part["min"] = min(part["min"], value)
        part["max"] = max(part["max"], value)
        b = bin_of(value, isinstance(value, int))
        part["bins"][b] = part["bins"].get(b, 0) + 1
    else:
        key = str(value)[:200]
        values = part["values"]
        if key in values:
            values[key] += 1
        elif len(values) < MAX_VALUES:
            values[key] = 1
        else:
            part["other"] += 1


def _cap(part) -> None:
    if len(part["values"]) > MAX_VALUES:
        ranked = sorted(part["values"].items(), key=lambda kv: (-kv[1], kv[0]))
        part["values"] = dict(ranked[:MAX_VALUES])
        part["other"] += sum(n for _, n in ranked[MAX_VALUES:])
