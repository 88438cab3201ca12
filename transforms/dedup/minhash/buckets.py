"""MinHash buckets from packed blocks of band records (stage 2 of ``step.py``'s data flow).

Every document has ``bands`` band keys (14 for FineWeb): sent one record each, they are most of a
run's shuffled records, and on the local runner each costs far more than its 16 bytes (the
runner's grouping buffer holds every record as Python objects: about 250 bytes, and CPU in the
runner process per record). ``PackBands`` therefore packs the (band key, node) records of a bundle
per partition of the keys (``PARTITIONS``, by a Fibonacci hash of the key) into one block of int64
pairs: what crosses the shuffle is a few blocks per bundle and partition, 16 bytes a record. After
the GroupByKey on the partition, ``star_edges`` sorts a partition's records by (key, node) and
links the members of each bucket (a key with two or more records) to its smallest node, as a
GroupByKey on each key would give them: a star costs n - 1 edges, buckets of reference nodes only
give nothing, a node that appears twice in a bucket gives its edge twice (``Distinct`` follows).
A partition holds about records / ``PARTITIONS`` records (14M records at 1M documents: 0.9 MB).
"""
from __future__ import annotations

from array import array

import apache_beam as beam
import numpy as np
from apache_beam.transforms.window import GlobalWindow
from apache_beam.utils.timestamp import MIN_TIMESTAMP
from apache_beam.utils.windowed_value import WindowedValue

from thresher.transforms.dedup.shuffle_bytes import GOLDEN, MASK64, sampled

PARTITIONS_BITS = 8
PARTITIONS = 1 << PARTITIONS_BITS
FLUSH_RECORDS = 1 << 22  # a bundle's blocks are sent when they hold this many records (64 MiB)


def partition(key: int) -> int:
    return ((key * GOLDEN) & MASK64) >> (64 - PARTITIONS_BITS)


class PackBands(beam.DoFn):
    """(band key, node) records -> (partition, block): a block is the records of one partition of a
    bundle as native int64 pairs."""

    def start_bundle(self):
        self._blocks, self._records = {}, 0

    def process(self, record):
        key, node = record
        part = partition(key)
        block = self._blocks.get(part)
        if block is None:
            block = self._blocks[part] = array("q")
        block.append(key)
        block.append(node)
        self._records += 1
        if self._records >= FLUSH_RECORDS:
            yield from self._flush()

    def finish_bundle(self):
        for element in self._flush():
            yield WindowedValue(element, MIN_TIMESTAMP, [GlobalWindow()])

    def _flush(self):
        blocks, self._blocks, self._records = self._blocks, {}, 0
        for part, block in sorted(blocks.items()):
            yield part, block.tobytes()


def block_bytes(element):
    """The bytes of a block of a sampled partition (``shuffle_bytes.sampled``: 1 in 64), for the step's
    ``shuffle_bytes``: 16 a record, however the records were cut into blocks (bundles, workers)."""
    part, block = element
    if sampled(part):
        yield len(block)


def star_edges(element):
    """(partition, blocks) -> the star edges (centre, member) of its buckets."""
    _, blocks = element
    pairs = np.frombuffer(b"".join(blocks), dtype=np.int64).reshape(-1, 2)
    if len(pairs) < 2:
        return
    order = np.lexsort((pairs[:, 1], pairs[:, 0]))  # by key, then node
    keys, nodes = pairs[order, 0], pairs[order, 1]
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    ends = np.r_[starts[1:], len(keys)]
    shared = ends - starts >= 2
    for start, end in zip(starts[shared].tolist(), ends[shared].tolist()):
        members = nodes[start:end]
        if not (members & 1 == 0).any():  # reference documents only
            continue
        centre = int(members[0])
        for member in members[1:].tolist():
            if member != centre:
                yield centre, member


class Buckets(beam.PTransform):
    """PCollections of (band key, node) records -> the star edges of their buckets; ``meter`` (a
    ``shuffle_bytes.ShuffleMeter``) gets the bytes of the blocks and of the edges."""

    def __init__(self, meter):
        super().__init__()
        self.meter = meter

    def expand(self, bands):
        blocks = [b | f"pack {i}" >> beam.ParDo(PackBands()) for i, b in enumerate(bands)]
        blocks = tuple(blocks) | "all blocks" >> beam.Flatten()
        self.meter.add(blocks | "block bytes" >> beam.FlatMap(block_bytes))
        return self.meter.flat_map(blocks | "group" >> beam.GroupByKey(), "star edges", star_edges)
