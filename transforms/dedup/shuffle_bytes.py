"""The bytes a step's shuffles carry, estimated from a deterministic sample, for its report.

``ShuffleMeter`` taps the input of each GroupByKey, CoGroupByKey (each tagged
input) and CombinePerKey of a step: 1 in ``RATE`` (64) records, chosen by
their key (a Fibonacci hash of the key's integer, bytes or xxh64 of its
strings: the same records on any runner or worker count), is encoded with
Beam's coder of that PCollection (the coder a GroupByKey encodes the record
with), and the sum is scaled by ``RATE``. The step's report then holds
``shuffle_bytes`` (the estimate, all shuffles together) and
``shuffle_bytes_per_doc`` (divided by the step's input documents, rounded).
A combine is counted at its input, an upper bound of what its partial combine
sends. Beam's framing (window, timestamp, length prefixes: a few bytes per
record) is not counted. Each tap's share is also a Beam counter
``{step}.shuffle_bytes.{label}``.

Why: on Dataflow Shuffle and Flink these bytes are the cost (billed per GB,
or spilled to disk); a local sample run predicts them for the full corpus
(``shuffle_bytes_per_doc`` x documents).

Cost: a tap is one more ParDo, about 0.6 us a record on the local runner; a
shuffle of several records a document (MinHash's band keys, the connected
components' rounds) is measured by the DoFn that makes its records
(``flat_map``, ``Sizer``: a hash a record, about 0.2 us). For minhash_dedup
that is about 6 us a document, some 2% of the step's CPU time.
"""
from __future__ import annotations

from typing import Dict, List, Optional

import apache_beam as beam
import xxhash
from apache_beam.typehints import typehints
from apache_beam.metrics import Metrics

from thresher.transforms.base import METRICS_NAMESPACE

RATE = 64  # 1 record in RATE is measured
SIZES = "shuffle_sizes"  # the output of sampled sizes of a measuring DoFn
SHIFT = 64 - 6  # the top 6 bits of the Fibonacci hash: 0 for 1 key in 64
GOLDEN = 0x9E3779B97F4A7C15
MASK64 = (1 << 64) - 1


def _key_value(key) -> int:
    if isinstance(key, int):
        return key
    if isinstance(key, bytes):
        return int.from_bytes(key[:8], "little")
    if isinstance(key, str):
        return xxhash.xxh64_intdigest(key.encode("utf-8", "surrogatepass"))
    if isinstance(key, tuple):
        value = len(key)
        for part in key:
            value = (value * GOLDEN + _key_value(part)) & MASK64
        return value
    return xxhash.xxh64_intdigest(repr(key).encode("utf-8", "surrogatepass"))


def sampled(key) -> bool:
    """Whether the records of ``key`` are in the 1-in-``RATE`` sample."""
    return ((_key_value(key) * GOLDEN) & MASK64) >> SHIFT == 0


def shuffle_coder(pcoll, keyed: bool = True):
    """The coder a GroupByKey encodes ``pcoll``'s records with: its key-value coder (``keyed`` False:
    the records' own coder, for a global combine's input)."""
    if not keyed:
        return beam.coders.registry.get_coder(pcoll.element_type)
    try:
        hint = typehints.coerce_to_kv_type(pcoll.element_type)
    except ValueError:  # not a key-value type (Any...)
        hint = typehints.KV[typehints.Any, typehints.Any]
    return beam.coders.registry.get_coder(hint)


class Sizer:
    """The encoded size of a sampled record (None for the others), counted in ``{step}.shuffle_bytes.{label}``.

    Called by the DoFn that makes a shuffle's records (``ShuffleMeter.sizer``), it costs a hash per
    record and no extra ParDo, whose per-record cost (about 1 us) would be the meter's largest.
    """

    def __init__(self, coder, counter: str, keyed: bool = True):
        self._coder, self._counter, self._keyed = coder, counter, keyed
        self._encode = self._bytes = None

    def __getstate__(self):
        return self._coder, self._counter, self._keyed

    def __setstate__(self, state):
        self.__init__(*state)

    def __call__(self, record) -> Optional[int]:
        key = record[0] if self._keyed else record
        value = key if type(key) is int else _key_value(key)
        if ((value * GOLDEN) & MASK64) >> SHIFT:
            return None
        if self._encode is None:
            self._encode = self._coder.get_impl().encode
            self._bytes = Metrics.counter(METRICS_NAMESPACE, self._counter)
        size = len(self._encode(record))
        self._bytes.inc(size * RATE)
        return size


class _Sample(beam.DoFn):
    """A sampled record -> its encoded size (nothing for the others)."""

    def __init__(self, sizer: Sizer):
        self._sizer = sizer

    def process(self, record):  # a list or None, not a generator: this runs for every record
        size = self._sizer(record)
        return None if size is None else [size]


class _MeasuredFlatMap(beam.DoFn):
    """``fn``'s records, and the sizes of the sampled ones (``SIZES`` output)."""

    def __init__(self, fn, sizer: Sizer):
        self._fn, self._sizer = fn, sizer

    def process(self, element):
        for record in self._fn(element):
            yield record
            size = self._sizer(record)
            if size is not None:
                yield beam.pvalue.TaggedOutput(SIZES, size)


class ShuffleMeter:
    """Collects the sampled sizes of a step's shuffle inputs; ``report`` turns them into report pairs.

    Call it on a PCollection (or a CoGroupByKey's dict of them) just before the shuffle: it adds a
    branch that measures and returns its argument unchanged. ``keyed`` False: a global combine's
    input (each record is its own sampling key). Where a shuffle carries several records a
    document, measure them where they are made instead: ``flat_map`` (a FlatMap that measures its
    records), or ``sizer`` for a DoFn that yields the sizes on an output given to ``add``.
    """

    def __init__(self, step: str):
        self.step = step
        self._sizes: List[beam.PCollection] = []

    def __call__(self, pcolls, label: str, keyed: bool = True):
        if isinstance(pcolls, dict):
            for tag, pcoll in pcolls.items():
                self(pcoll, f"{label}.{tag}")
            return pcolls
        sizer = Sizer(shuffle_coder(pcolls, keyed), self._counter(label), keyed)
        self.add(pcolls | f"shuffle bytes {label}" >> beam.ParDo(_Sample(sizer)))
        return pcolls

    def sizer(self, label: str, keyed: bool = True) -> Sizer:
        """A ``Sizer`` of records without type hints (Beam's coder of KV[Any, Any], or of Any)."""
        hint = typehints.KV[typehints.Any, typehints.Any] if keyed else typehints.Any
        return Sizer(beam.coders.registry.get_coder(hint), self._counter(label), keyed)

    def add(self, sizes: beam.PCollection) -> None:
        """Sizes a ``Sizer`` returned, yielded by the DoFn that called it."""
        self._sizes.append(sizes)

    def flat_map(self, pcoll, label: str, fn, keyed: bool = True) -> beam.PCollection:
        """``pcoll | label >> beam.FlatMap(fn)``, its records (a shuffle's input, typed as FlatMap would
        type them) measured."""
        hint = beam.FlatMap(fn).infer_output_type(pcoll.element_type)
        sizer = Sizer(beam.coders.registry.get_coder(hint), self._counter(label), keyed)
        out = pcoll | label >> beam.ParDo(_MeasuredFlatMap(fn, sizer)).with_output_types(hint).with_outputs(
            SIZES, main="out")
        self.add(out[SIZES])
        return out["out"]

    def _counter(self, label: str) -> str:
        return f"{self.step}.shuffle_bytes.{label}"

    def report(self, docs) -> beam.PCollection:
        """(``shuffle_bytes``, estimate) and (``shuffle_bytes_per_doc``, estimate / documents of ``docs``)."""
        pipeline = docs.pipeline
        sizes = tuple(self._sizes) or (pipeline | "no shuffle" >> beam.Create([]),)
        total = (sizes | "shuffle bytes all" >> beam.Flatten()
                 | "shuffle bytes sum" >> beam.CombineGlobally(sum)
                 | "shuffle bytes scaled" >> beam.Map(lambda n: n * RATE))
        count = docs | "shuffle bytes documents" >> beam.combiners.Count.Globally()
        return total | "shuffle bytes report" >> beam.FlatMap(_pairs, beam.pvalue.AsSingleton(count))


def _pairs(total: int, documents: int):
    yield "shuffle_bytes", total
    yield "shuffle_bytes_per_doc", round(total / documents) if documents else 0


def per_label(counters: Dict[str, int], step: str) -> Dict[str, int]:
    """The ``{step}.shuffle_bytes.{label}`` counters of a run, by label."""
    prefix = f"{step}.shuffle_bytes."
    return {name[len(prefix):]: value for name, value in counters.items() if name.startswith(prefix)}
