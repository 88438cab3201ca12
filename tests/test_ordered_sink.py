"""Ordered output: global shuffle by seed, curriculum by annotation, shard sizes and names."""
from __future__ import annotations

import pathlib

import apache_beam as beam
import pyarrow.parquet as pq
import pytest

from tests.conftest import local_pipeline
from thresher.transforms.document import Document
from thresher.transforms.io.ordered_sink import WriteOrderedDocuments, quantile_cuts, shard_count, shard_of, shuffle_hash
from thresher.transforms.io.sinks import ROW_OVERHEAD

ANNOTATIONS = {"score": "float64"}


def _docs(n: int):
    docs = []
    for i in range(n):
        notes = {} if i % 10 == 0 else {"score": (i * 37 % 101) / 100.0}
        docs.append(Document(id=f"doc-{i:04d}", text="x" * (100 + i % 50), annotations=notes))
    return docs


def _write(tmp_path: pathlib.Path, docs, **kwargs):
    out = tmp_path / "data"
    with local_pipeline() as p:
        _ = p | beam.Create(docs) | WriteOrderedDocuments(str(out), "parquet", ANNOTATIONS, **kwargs)
    files = sorted(out.iterdir())
    tables = [pq.read_table(f) for f in files]
    return [f.name for f in files], [t.column("id").to_pylist() for t in tables], tables


def test_shuffle_is_a_global_order_by_seeded_hash_in_equal_shards(tmp_path):
    docs = _docs(400)
    size = sum(len(d.text) + ROW_OVERHEAD for d in docs)
    names, ids, _ = _write(tmp_path, docs, shard_bytes=size // 4 + 1, order="shuffle", seed=7)
    assert names == [f"part-{i:05d}-of-00004.parquet" for i in range(4)]
    flat = [i for part in ids for i in part]
    assert flat == sorted((d.id for d in docs), key=lambda x: shuffle_hash(x, 7))
    assert all(60 <= len(part) <= 140 for part in ids), [len(p) for p in ids]  # equal in expectation
    # another seed, another order; the same seed and shuffled input order, the same files
    names2, ids2, _ = _write(tmp_path / "b", list(reversed(docs)), shard_bytes=size // 4 + 1,
                             order="shuffle", seed=7)
    assert ids2 == ids
    _, ids3, _ = _write(tmp_path / "c", docs, shard_bytes=size // 4 + 1, order="shuffle", seed=8)
    assert [i for part in ids3 for i in part] != flat


def test_annotation_order_ascending_and_descending_with_missing_last(tmp_path):
    docs = _docs(300)
    size = sum(len(d.text) + ROW_OVERHEAD for d in docs)
    for descending in (False, True):
        _, ids, tables = _write(tmp_path / str(descending), docs, shard_bytes=size // 3 + 1,
                                order="annotation", order_by="score", descending=descending)
        assert len(tables) == 3
        scores = [s for t in tables for s in t.column("score").to_pylist()]
        present = [s for s in scores if s is not None]
        assert present == sorted(present, reverse=descending)
        assert scores[len(present):] == [None] * 30  # 30 documents have no score: last
        assert all(len(part) > 50 for part in ids), [len(p) for p in ids]


def test_empty_input_writes_one_empty_shard(tmp_path):
    names, ids, _ = _write(tmp_path, [], order="shuffle")
    assert names == ["part-00000-of-00001.parquet"] and ids == [[]]
    assert not (tmp_path / "_temporary" / "data").exists()


def test_shard_arithmetic():
    assert shard_count(0, 100) == 1 and shard_count(100, 100) == 1 and shard_count(101, 100) == 2
    assert shard_of((0,), 4, []) == 0 and shard_of((2**64 - 1,), 4, []) == 3 and shard_of((2**63,), 4, []) == 2
    cuts = quantile_cuts([(0, float(i), 0) for i in range(11)], 2)
    assert cuts == [(0, 5.0, 0)]
    assert shard_of((0, 4.9, 9), 2, cuts) == 0 and shard_of((0, 5.0, 0), 2, cuts) == 1
    assert quantile_cuts([], 3) == [] and quantile_cuts([(0, 1.0, 0)], 1) == []


def test_bad_parameters():
    with pytest.raises(ValueError):
        WriteOrderedDocuments("x", order="random")
    with pytest.raises(ValueError):
        WriteOrderedDocuments("x", order="annotation")


def test_every_shard_has_one_schema_typed_date_and_no_metadata_when_not_asked(tmp_path):
    import pyarrow as pa

    from thresher.transforms.io.schema import document_schema
    docs = [Document(id=f"d{i}", text="x" * 200, date="2024-05-01T00:00:00Z" if i % 2 else "",
                     annotations={"score": i / 40}) for i in range(40)]
    size = sum(len(d.text) + ROW_OVERHEAD for d in docs)
    names, _, tables = _write(tmp_path, docs, shard_bytes=size // 3 + 1, order="annotation", order_by="score",
                              metadata=False)
    assert len(names) == 3
    assert all(t.schema == document_schema(ANNOTATIONS, metadata=False) for t in tables)
    dates = [d for t in tables for d in t.column("date").to_pylist()]
    assert tables[0].schema.field("date").type == pa.timestamp("us", tz="UTC")
    assert sum(d is None for d in dates) == 20 and all(d is None or d.year == 2024 for d in dates)
