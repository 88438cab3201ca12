"""Ordered output: a global shuffle (deterministic by seed) or a curriculum order, in shards of a target size.

Every document gets a sort key. ``shuffle``: the 64-bit xxh3 hash of (seed,
id), so the order is a pseudo-random permutation that depends only on the seed
and the ids, not on the runner or the number of workers. ``annotation``: the
value of a numeric annotation (ascending, or descending), ties broken by the
same hash; documents without a numeric value come last.

The number of shards is ``ceil(total size / shard_bytes)`` (text plus a fixed
overhead per row, as in ``thresher.transforms.io.sinks``), computed in the pipeline. Shard
*i* holds the *i*-th range of sort keys: for ``shuffle`` equal ranges of the
hash (so shards are equal in expectation), for ``annotation`` ranges cut at
approximate quantiles of the keys (``QUANTILES`` points; beyond that many
shards, shards grow instead of multiplying). Each shard is then grouped on one
worker, sorted, and written to a temporary file renamed to
``part-iiiii-of-NNNNN``: reading the shards in name order reads the corpus in
order. A shard is held in the worker's memory while it is sorted: choose
``shard_size_mb`` with that in mind (a few times the shard's text size).
Empty shards are written too (no gaps in the numbering), and an empty input
still gets one empty shard.
"""
from __future__ import annotations

import bisect
import math
import uuid
from typing import Dict, Optional, Tuple

import apache_beam as beam
import xxhash
from apache_beam.io.filesystems import FileSystems

from thresher.transforms.document import Document
from thresher.transforms.io.sinks import ROW_OVERHEAD, document_writer, make_dir, remove_dir, temp_dir_of

ORDERS = ("shuffle", "annotation")
QUANTILES = 1024


def shuffle_hash(doc_id: str, seed: int) -> int:
    """The document's place in the shuffled order: xxh3-64 of its id with ``seed``."""
    return xxhash.xxh3_64_intdigest(doc_id.encode("utf-8", "surrogatepass"), seed=seed & 0xFFFFFFFFFFFFFFFF)


class _SortKey:
    """Picklable sort-key function: (0, value, hash) for a numeric annotation, (1, 0.0, hash) without one."""

    def __init__(self, order: str, seed: int, order_by: str, descending: bool):
        self.order, self.seed, self.order_by, self.descending = order, seed, order_by, descending

    def __call__(self, doc: Document) -> Tuple:
        h = shuffle_hash(doc.id, self.seed)
        if self.order == "shuffle":
            return (h,)
        value = doc.annotations.get(self.order_by)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
            return (1, 0.0, h)
        return (0, -float(value) if self.descending else float(value), h)


def shard_count(total_bytes: int, shard_bytes: int) -> int:
    return max(1, -(-total_bytes // shard_bytes))


def shard_of(key: Tuple, shards: int, cuts) -> int:
    """Which shard a sort key falls in: equal hash ranges (shuffle) or quantile cuts."""
    if len(key) == 1:
        return (key[0] * shards) >> 64
    return bisect.bisect_right(cuts, key)


def quantile_cuts(quantiles, shards: int):
    """``shards - 1`` cut points taken from the approximate quantiles (min, ..., max)."""
    if not quantiles or shards <= 1:
        return []
    last = len(quantiles) - 1
    return [tuple(quantiles[round(i * last / shards)]) for i in range(1, shards)]


class _WriteShard(beam.DoFn):
    """Sorts one shard's documents and writes them to ``part-iiiii-of-NNNNN``."""

    def __init__(self, directory: str, extension: str, open_writer, sort_key: _SortKey):
        self._directory, self._ext, self._open_writer, self._sort_key = directory, extension, open_writer, sort_key

    def process(self, shard_docs, shards: int):
        shard, docs = shard_docs
        docs = sorted((d for d in docs if d is not None), key=self._sort_key)
        temp = FileSystems.join(temp_dir_of(self._directory), f"{shard:05d}-{uuid.uuid4().hex}.tmp")
        writer = self._open_writer(temp)
        for doc in docs:
            writer.write(doc)
        writer.close()
        final = FileSystems.join(self._directory, f"part-{shard:05d}-of-{shards:05d}.{self._ext}")
        make_dir(self._directory)
        if FileSystems.exists(final):  # a retried bundle: replace what the failed attempt renamed
            FileSystems.delete([final])
        FileSystems.rename([temp], [final])
        yield {"path": final, "rows": len(docs)}


class _CleanUp(beam.DoFn):
    def __init__(self, directory: str):
        self._directory = directory

    def process(self, _, infos):
        remove_dir(temp_dir_of(self._directory))  # what failed attempts left
        yield from sorted(infos, key=lambda i: i["path"])


class WriteOrderedDocuments(beam.PTransform):
    """Write documents in a global order (``shuffle`` or by an ``annotation``) as shards of about ``shard_bytes``.

    order: shuffle (by hash of seed and id) or annotation (by ``order_by``; ``descending`` reverses it).
    metadata: also the JSON ``metadata`` column (``thresher.transforms.io.schema``).
    Returns a PCollection of ``{"path", "rows"}``, one per file written.
    """

    def __init__(self, directory: str, format: str = "parquet", annotations: Optional[Dict[str, str]] = None,
                 shard_bytes: int = 256 << 20, row_group_rows: int = 10_000, order: str = "shuffle",
                 seed: int = 0, order_by: str = "", descending: bool = False, metadata: bool = True):
        super().__init__()
        if order not in ORDERS:
            raise ValueError(f"order must be one of {', '.join(ORDERS)}, got {order!r}")
        if order == "annotation" and not order_by:
            raise ValueError("order: annotation needs order_by (the annotation to sort by)")
        if shard_bytes <= 0:
            raise ValueError("shard_bytes must be > 0")
        self._directory, self._shard_bytes = directory, shard_bytes
        self._ext, self._open_writer = document_writer(format, annotations, row_group_rows, metadata)
        self._sort_key = _SortKey(order, seed, order_by, descending)

    def expand(self, docs):
        sort_key, shard_bytes = self._sort_key, self._shard_bytes
        shards = beam.pvalue.AsSingleton(
            docs
            | "Size" >> beam.Map(lambda d: len(d.text) + ROW_OVERHEAD)
            | "Total" >> beam.CombineGlobally(sum)
            | "Shards" >> beam.Map(shard_count, shard_bytes))
        if sort_key.order == "annotation":
            quantiles = (docs
                         | "Keys" >> beam.Map(sort_key)
                         | "Quantiles" >> beam.ApproximateQuantiles.Globally(QUANTILES + 1))
            cuts = beam.pvalue.AsSingleton(
                quantiles | "Cuts" >> beam.Map(quantile_cuts, shards))
        else:
            cuts = beam.pvalue.AsSingleton(docs.pipeline | "No cuts" >> beam.Create([[]]))
        keyed = docs | "Assign shard" >> beam.Map(
            lambda d, n, c: (shard_of(sort_key(d), n, c), d), shards, cuts
        ).with_output_types(Tuple[int, Document])
        every_shard = (docs.pipeline
                       | "Once" >> beam.Create([None])
                       | "Every shard" >> beam.FlatMap(lambda _, n: [(i, None) for i in range(n)], shards)
                       .with_output_types(Tuple[int, Optional[Document]]))
        written = ((keyed, every_shard)
                   | "Merge" >> beam.Flatten().with_output_types(Tuple[int, Optional[Document]])
                   | "Group shard" >> beam.GroupByKey()
                   | "Write shard" >> beam.ParDo(_WriteShard(self._directory, self._ext, self._open_writer,
                                                             sort_key), shards))
        return (docs.pipeline
                | "Finish" >> beam.Create([None])
                | "Clean up" >> beam.ParDo(_CleanUp(self._directory), beam.pvalue.AsList(written)))
