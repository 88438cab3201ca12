"""Packed band records (``minhash/buckets.py``) give exactly the star edges of one group per band key."""
from __future__ import annotations

import random
from collections import defaultdict

import apache_beam as beam
from apache_beam.testing.util import assert_that, equal_to

from tests.conftest import local_pipeline
from thresher.transforms.dedup.minhash import buckets
from thresher.transforms.dedup.minhash.buckets import PackBands, star_edges


def _stars_one_key_at_a_time(records):
    """The edges a GroupByKey on each band key gives: members to the smallest node; reference-only
    buckets (odd nodes) nothing; a repeated member twice."""
    groups = defaultdict(list)
    for key, node in records:
        groups[key].append(node)
    edges = []
    for nodes in groups.values():
        centre = min(nodes)
        if all(n & 1 for n in nodes):
            continue
        edges += [(centre, n) for n in nodes if n != centre]
    return edges


def _records(seed: int = 3, n: int = 5000):
    rng = random.Random(seed)
    keys = [rng.randrange(-2 ** 63, 2 ** 63) for _ in range(n // 3)]  # about 3 members a key
    records = [(rng.choice(keys), rng.randrange(-2 ** 63, 2 ** 63) & ~1) for _ in range(n)]
    records += [(keys[0], 7), (keys[0], 9), (keys[1], 11)]  # reference nodes (odd) in shared buckets
    records += [(k, 13) for k in keys[2:5]] + [(k, 15) for k in keys[2:5]]  # reference-only buckets...
    records += [(keys[5], records[0][1]), (keys[5], records[0][1])]  # ...and a node twice in one
    records += [(2 ** 63 - 1, -2 ** 63), (2 ** 63 - 1, 2 ** 62)]  # the int64 extremes
    return records


def test_packed_blocks_give_the_edges_of_one_group_per_key(monkeypatch):
    records = _records()
    monkeypatch.setattr(buckets, "FLUSH_RECORDS", 700)  # several flushes within a bundle, and finish_bundle
    with local_pipeline() as p:
        edges = (p | beam.Create(records)
                 | beam.ParDo(PackBands())
                 | beam.GroupByKey()
                 | beam.FlatMap(star_edges))
        assert_that(edges, equal_to(_stars_one_key_at_a_time(records)))


def test_a_partition_is_16_bytes_a_record_and_a_lone_record_gives_nothing():
    fn = PackBands()
    fn.start_bundle()
    assert list(fn.process((5, 8))) == []
    (value,) = [w.value for w in fn.finish_bundle()]
    assert value == (buckets.partition(5), (5).to_bytes(8, "little") + (8).to_bytes(8, "little"))
    assert list(star_edges((value[0], [value[1]]))) == []
    assert len(set(buckets.partition(k) for k in range(10000))) == buckets.PARTITIONS
