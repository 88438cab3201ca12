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
"""
from __future__ import annotations

from typing import Dict, List

import apache_beam as beam
import xxhash
from apache_beam.typehints import typehints
from apache_beam.metrics import Metrics

from thresher.transforms.base import METRICS_NAMESPACE

RATE = 64  # 1 record in RATE is measured
_SHIFT = 64 - 6  # the top 6 bits of the Fibonacci hash: 0 for 1 key in 64
_GOLDEN = 0x9E3779B97F4A7C15
_MASK = (1 << 64) - 1


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
            value = (value * _GOLDEN + _key_value(part)) & _MASK
        return value
    return xxhash.xxh64_intdigest(repr(key).encode("utf-8", "surrogatepass"))


def sampled(key) -> bool:
    """Whether the records of ``key`` are in the 1-in-``RATE`` sample."""
    return ((_key_value(key) * _GOLDEN) & _MASK) >> _SHIFT == 0


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


class _Sample(beam.DoFn):
    """A sampled record -> its encoded size (nothing for the others)."""

    def __init__(self, coder, counter: str, keyed: bool):
        self._coder, self._counter, self._keyed = coder, counter, keyed

    def setup(self):
        self._encode = self._coder.get_impl().encode
        self._bytes = Metrics.counter(METRICS_NAMESPACE, self._counter)

    def process(self, record):
        if sampled(record[0] if self._keyed else record):
            size = len(self._encode(record))
            self._bytes.inc(size * RATE)
            yield size


class ShuffleMeter:
    """Collects the sampled sizes of a step's shuffle inputs; ``report`` turns them into report pairs.

    Call it on a PCollection (or a CoGroupByKey's dict of them) just before the shuffle: it adds a
    branch that measures and returns its argument unchanged. ``keyed`` False: a global combine's
    input (each record is its own sampling key).
    """

    def __init__(self, step: str):
        self.step = step
        self._sizes: List[beam.PCollection] = []

    def __call__(self, pcolls, label: str, keyed: bool = True):
        if isinstance(pcolls, dict):
            for tag, pcoll in pcolls.items():
                self(pcoll, f"{label}.{tag}")
            return pcolls
        coder = shuffle_coder(pcolls, keyed)
        self._sizes.append(pcolls | f"shuffle bytes {label}" >> beam.ParDo(
            _Sample(coder, f"{self.step}.shuffle_bytes.{label}", keyed)))
        return pcolls

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
