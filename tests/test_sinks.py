"""Sinks: explicit schema, row groups, size-targeted deterministic shards, empty input."""
from __future__ import annotations

import gzip
import json
import pathlib

import apache_beam as beam
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from apache_beam.testing.util import assert_that, equal_to

from tests.conftest import local_pipeline
from thresher.transforms.document import Document
from thresher.transforms.io.schema import document_schema
from thresher.transforms.io.sinks import WriteDocuments, WriteJsonRecords

ANNOTATIONS = {"language": "string", "language_score": "float64", "offset": "int64"}


def docs(n: int, text_len: int = 100):
    return [Document(id=f"doc-{i:05d}", text=("word " * (text_len // 5))[:text_len], url=f"https://x.test/{i}",
                     source="web", date="2024-01-01",
                     annotations={"language": "en", "language_score": i / n, "offset": i, "undeclared": [i]})
            for i in range(n)]


def write(tmp_path, records, **kwargs):
    out = str(tmp_path / "data")
    with local_pipeline() as p:
        files = p | beam.Create(records) | WriteDocuments(out, **kwargs)
        assert_that(files | beam.Map(lambda f: f["rows"]) | beam.CombineGlobally(sum), equal_to([len(records)]))
    return sorted(pathlib.Path(out).iterdir())


def test_parquet_schema_row_groups_and_content(tmp_path):
    files = write(tmp_path, docs(2500), annotations=ANNOTATIONS, row_group_rows=1000)
    assert [f.name for f in files] == ["part-00000-of-00001.parquet"]
    meta = pq.ParquetFile(files[0]).metadata
    assert [meta.row_group(i).num_rows for i in range(meta.num_row_groups)] == [1000, 1000, 500]
    assert meta.row_group(0).column(0).compression == "ZSTD"
    table = ds.dataset(str(tmp_path / "data"), format="parquet").to_table()
    assert table.schema == document_schema(ANNOTATIONS)
    assert table.schema.field("language_score").type == pa.float64()
    assert table.schema.field("offset").type == pa.int64()
    rows = sorted(table.to_pylist(), key=lambda r: r["id"])
    first = rows[0]
    assert first["language"] == "en" and first["offset"] == 0
    assert json.loads(first["metadata"]) == {"undeclared": [0]}


def test_files_roll_at_the_target_size_and_temporaries_are_gone(tmp_path):
    records = docs(400, text_len=1000)  # (1000 + 256) bytes counted per document
    files = write(tmp_path, records, shard_bytes=100_000)
    rows = [pq.ParquetFile(f).metadata.num_rows for f in files]
    assert sum(rows) == 400
    assert all(r <= 80 for r in rows)  # 80 documents reach 100,480 bytes: the file rolls
    assert files[0].name == f"part-00000-of-{len(files):05d}.parquet"
    assert not (tmp_path / "_temporary" / "data").exists()
    table = ds.dataset(str(tmp_path / "data"), format="parquet").to_table()
    assert sorted(table.column("id").to_pylist()) == [d.id for d in records]


def test_empty_input_writes_one_empty_shard_with_schema(tmp_path):
    files = write(tmp_path, [], annotations=ANNOTATIONS)
    assert [f.name for f in files] == ["part-00000-of-00001.parquet"]
    table = pq.read_table(files[0])
    assert table.num_rows == 0 and table.schema == document_schema(ANNOTATIONS)


def test_wrong_annotation_type_becomes_null_not_a_crash(tmp_path):
    bad = Document(id="a", text="t", annotations={"language_score": "high", "offset": "12"})
    files = write(tmp_path, [bad], annotations=ANNOTATIONS)
    row = pq.read_table(files[0]).to_pylist()[0]
    assert row["language_score"] is None and row["offset"] == 12


def test_lone_surrogates_are_written(tmp_path):
    files = write(tmp_path, [Document(id="s", text="bad \ud800 text")], format="jsonl")
    line = json.loads(gzip.decompress(files[0].read_bytes()))
    assert line["text"] == "bad \ufffd text"


def test_jsonl_output_is_flat(tmp_path):
    files = write(tmp_path, docs(3), format="jsonl")
    assert files[0].name.endswith(".jsonl.gz")
    lines = [json.loads(x) for x in gzip.decompress(files[0].read_bytes()).splitlines()]
    assert lines[1]["id"] == "doc-00001" and lines[1]["language_score"] == pytest.approx(1 / 3)


def test_error_records(tmp_path):
    out = str(tmp_path / "errors")
    with local_pipeline() as p:
        _ = p | beam.Create([{"step": "read", "error": "x"}, {"step": "extract", "error": "y"}]) | WriteJsonRecords(out)
    (f,) = pathlib.Path(out).iterdir()
    assert sorted(json.loads(x)["step"] for x in gzip.decompress(f.read_bytes()).splitlines()) == ["extract", "read"]


def test_huggingface_datasets_loads_output(tmp_path):
    datasets = pytest.importorskip("datasets")
    write(tmp_path, docs(50), annotations=ANNOTATIONS)
    loaded = datasets.load_dataset("parquet", data_files=str(tmp_path / "data" / "*.parquet"),
                                   split="train", cache_dir=str(tmp_path / "hf"))
    assert loaded.num_rows == 50 and loaded.features["language_score"].dtype == "float64"


# ---------------------------------------------------------------- url and date

def test_parse_date_iso_forms_and_boundaries():
    from thresher.transforms.io.schema import iso_utc, parse_date
    utc = {  # value -> ISO 8601 UTC, or None for null
        "2024-05-01": "2024-05-01T00:00:00Z",
        "2024-05-01T12:30:00Z": "2024-05-01T12:30:00Z",
        "2024-05-01T12:30:00+02:00": "2024-05-01T10:30:00Z",
        "2024-05-01T12:30:00-0530": "2024-05-01T18:00:00Z",
        "2024-05-01 12:30": "2024-05-01T12:30:00Z",  # no zone: read as UTC
        "20240501T123000Z": "2024-05-01T12:30:00Z",  # basic format
        "2024-05-01T12:30:00.1234567Z": "2024-05-01T12:30:00.123456Z",  # beyond microseconds: cut
        "2024-05-01T00:00:00+23:59": "2024-04-30T00:01:00Z",  # largest offset
        "2024-05-01T00:00:00+24:00": None, "2024-05-01T00:00:00+01:60": None,
        "\u0662\u0660\u0662\u0664-05-01": None,  # Arabic-Indic digits are not ISO 8601
        "2024-12-31T23:59:59Z": "2024-12-31T23:59:59Z",
        "2024-13-01": None, "2024-02-30": None, "2024-05-01T24:00:00Z": None,
        "1714566600": None, "May 1, 2024": None, "": None,
    }
    assert {v: (iso_utc(d) if (d := parse_date(v)) else None) for v in utc} == utc


def test_parquet_url_and_date_null_when_unknown_date_typed(tmp_path):
    records = [Document(id="a", text="t", url="https://x.test/a", date="2024-05-01T12:00:00+02:00"),
               Document(id="b", text="t", url="", date=""),
               Document(id="c", text="t", date="last tuesday", annotations={"language": "en"})]
    files = write(tmp_path, records, annotations={"language": "string"})
    table = pq.read_table(files[0])
    assert table.schema.field("date").type == pa.timestamp("us", tz="UTC")
    rows = {r["id"]: r for r in table.to_pylist()}
    assert rows["a"]["date"].isoformat() == "2024-05-01T10:00:00+00:00" and rows["a"]["url"] == "https://x.test/a"
    assert rows["b"]["url"] is None and rows["b"]["date"] is None and rows["b"]["metadata"] is None
    assert rows["c"]["date"] is None and json.loads(rows["c"]["metadata"]) == {"date_raw": "last tuesday"}


def test_jsonl_nulls_iso_date_and_date_raw(tmp_path):
    records = [Document(id="a", text="t", url="https://x.test/a", date="2024-05-01"),
               Document(id="b", text="t"),
               Document(id="c", text="t", date="20240501T1200-0100")]
    files = write(tmp_path, records + [Document(id="d", text="t", date="soon")], format="jsonl")
    lines = {r["id"]: r for r in map(json.loads, gzip.decompress(files[0].read_bytes()).splitlines())}
    assert lines["a"]["date"] == "2024-05-01T00:00:00Z" and "date_raw" not in lines["a"]
    assert lines["b"]["url"] is None and lines["b"]["date"] is None
    assert lines["c"]["date"] == "2024-05-01T13:00:00Z"
    assert lines["d"]["date"] is None and lines["d"]["date_raw"] == "soon"


def test_metadata_column_only_when_asked(tmp_path):
    files = write(tmp_path, docs(3), annotations={"language": "string"}, metadata=False)
    table = pq.read_table(files[0])
    assert table.schema == document_schema({"language": "string"}, metadata=False)
    assert table.column_names == ["id", "text", "url", "source", "date", "language"]
