"""Sinks: documents to Parquet or JSONL.gz shards, error records to JSONL.gz.

Shards have a target size of uncompressed text (``shard_bytes``): the sink
counts the text in the same pipeline, takes ``ceil(total / shard_bytes)``
shards, assigns each document to a shard by a hash of its id and writes a
shard per key, rows sorted by id. The files are therefore the same for the
same documents whatever the runner, the worker count or the bundle sizes.
An empty input still writes one empty shard, so readers find a schema.

Parquet files have an explicit Arrow schema (base fields, one typed column per
declared annotation, the rest as a JSON ``metadata`` column), zstd
compression and row groups of ``row_group_rows`` rows; they load with
``pyarrow.dataset`` and Hugging Face ``datasets.load_dataset("parquet")``.
"""
from __future__ import annotations

import gzip
import math
from typing import Any, Callable, Dict, Iterable, List, Optional

import apache_beam as beam
import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import xxhash
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from transforms.document import Document

BASE_FIELDS = ("id", "text", "url", "source", "date")
ARROW_TYPES = {"string": pa.string(), "float64": pa.float64(), "int64": pa.int64(), "bool": pa.bool_()}
_COERCE = {"string": str, "float64": float, "int64": int, "bool": bool}
ROW_OVERHEAD = 256  # bytes counted per document besides its text when sizing shards


def document_schema(annotations: Dict[str, str]) -> pa.Schema:
    """Arrow schema: base fields, declared annotations (sorted), then ``metadata`` (JSON)."""
    fields = [pa.field(name, pa.string(), nullable=(name != "id")) for name in BASE_FIELDS]
    for name in sorted(annotations):
        if name in BASE_FIELDS or name == "metadata":
            raise ValueError(f"annotation {name!r} clashes with a base column")
        fields.append(pa.field(name, ARROW_TYPES[annotations[name]]))
    fields.append(pa.field("metadata", pa.string()))
    return pa.schema(fields)


def _coerce(value: Any, type_name: str) -> Any:
    try:
        return None if value is None else _COERCE[type_name](value)
    except (TypeError, ValueError):
        return None


def _shard_of(doc_id: str, num_shards: int) -> int:
    return xxhash.xxh64_intdigest(doc_id.encode("utf-8", "surrogatepass")) % num_shards


def _clean(text: str) -> str:
    """Text safe for Arrow/JSON: lone surrogates replaced."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


class _ParquetShardWriter:
    def __init__(self, path: str, annotations: Dict[str, str], row_group_rows: int):
        self.annotations = annotations
        self.schema = document_schema(annotations)
        self.row_group_rows = row_group_rows
        self._file = FileSystems.create(path)
        self._writer = pq.ParquetWriter(self._file, self.schema, compression="zstd")
        self._rows: List[Document] = []

    def write(self, doc: Document):
        self._rows.append(doc)
        if len(self._rows) >= self.row_group_rows:
            self._flush()

    def _flush(self):
        docs, self._rows = self._rows, []
        columns = {name: [_clean(getattr(d, name)) for d in docs] for name in BASE_FIELDS}
        for name, type_name in self.annotations.items():
            columns[name] = [_coerce(d.annotations.get(name), type_name) for d in docs]
        extra = []
        for d in docs:
            rest = {k: v for k, v in d.annotations.items() if k not in self.annotations}
            extra.append(orjson.dumps(rest, option=orjson.OPT_SORT_KEYS).decode() if rest else None)
        columns["metadata"] = extra
        self._writer.write_table(pa.table(columns, schema=self.schema), row_group_size=len(docs))

    def close(self):
        if self._rows:
            self._flush()
        self._writer.close()
        self._file.close()


class _JsonlShardWriter:
    """Gzip JSON lines; mtime=0 so equal content gives equal bytes."""

    def __init__(self, path: str, to_json: Callable[[Any], Dict[str, Any]]):
        self._file = FileSystems.create(path, compression_type=CompressionTypes.UNCOMPRESSED)
        self._gz = gzip.GzipFile(fileobj=self._file, mode="wb", mtime=0)
        self._to_json = to_json

    def write(self, record):
        self._gz.write(orjson.dumps(self._to_json(record), default=str) + b"\n")

    def close(self):
        self._gz.close()
        self._file.close()


def document_json(doc: Document) -> Dict[str, Any]:
    """A document as one flat JSON object: base fields, then its annotations."""
    record = {name: _clean(getattr(doc, name)) for name in BASE_FIELDS}
    for key, value in doc.annotations.items():
        record.setdefault(key, value)
    return record


class _WriteShardFn(beam.DoFn):
    def __init__(self, directory, prefix, extension, open_writer, sort_key):
        self._directory, self._prefix, self._ext = directory, prefix, extension
        self._open_writer, self._sort_key = open_writer, sort_key

    def process(self, element, num_shards):
        shard, records = element
        path = FileSystems.join(self._directory, f"{self._prefix}-{shard:05d}-of-{num_shards:05d}.{self._ext}")
        writer = self._open_writer(path)
        rows = 0
        for record in sorted(records, key=self._sort_key):
            writer.write(record)
            rows += 1
        writer.close()
        yield {"path": path, "rows": rows}


class _ShardedWrite(beam.PTransform):
    """Size-targeted, hash-sharded, deterministic write of any records."""

    def __init__(self, directory: str, extension: str, open_writer: Callable[[str], Any],
                 record_id: Callable[[Any], str], record_size: Callable[[Any], int],
                 shard_bytes: int, prefix: str = "part"):
        super().__init__()
        if shard_bytes <= 0:
            raise ValueError("shard_bytes must be > 0")
        self._directory, self._ext, self._open_writer = directory, extension, open_writer
        self._record_id, self._record_size = record_id, record_size
        self._shard_bytes, self._prefix = shard_bytes, prefix

    def expand(self, records):
        record_id, record_size, shard_bytes = self._record_id, self._record_size, self._shard_bytes
        totals = (records
                  | "Size" >> beam.Map(lambda r: (1, record_size(r)))
                  | "Total" >> beam.CombineGlobally(_SumPairs()))
        num_shards = totals | "Shards" >> beam.Map(lambda t: max(1, math.ceil(t[1] / shard_bytes)))
        shards = beam.pvalue.AsSingleton(num_shards)
        write = _WriteShardFn(self._directory, self._prefix, self._ext, self._open_writer, record_id)
        written = (records
                   | "Key" >> beam.Map(lambda r, n: (_shard_of(record_id(r), n), r), shards)
                   | "Group" >> beam.GroupByKey()
                   | "Write" >> beam.ParDo(write, shards))
        empty = (records.pipeline
                 | "Once" >> beam.Create([0])
                 | "EmptyShard" >> beam.FlatMap(_empty_shard, beam.pvalue.AsSingleton(totals), write))
        return (written, empty) | "Files" >> beam.Flatten()


def _empty_shard(_, totals, write: _WriteShardFn):
    """Writes shard 0 of 1 with no rows when nothing came in, so readers see the schema."""
    if totals[0] == 0:
        yield from write.process((0, []), 1)


class _SumPairs(beam.CombineFn):
    def create_accumulator(self):
        return (0, 0)

    def add_input(self, acc, pair):
        return acc[0] + pair[0], acc[1] + pair[1]

    def merge_accumulators(self, accs):
        return tuple(map(sum, zip(*accs))) if accs else (0, 0)

    def extract_output(self, acc):
        return acc


class WriteDocuments(beam.PTransform):
    """Write documents as Parquet (default) or JSONL.gz shards in ``directory``.

    annotations: declared annotation name -> Arrow type name, one column each.
    shard_bytes: target uncompressed text per shard.
    row_group_rows: rows per Parquet row group.
    Returns a PCollection of ``{"path", "rows"}``, one per file written.
    """

    def __init__(self, directory: str, format: str = "parquet", annotations: Optional[Dict[str, str]] = None,
                 shard_bytes: int = 256 << 20, row_group_rows: int = 10_000, prefix: str = "part"):
        super().__init__()
        if format not in ("parquet", "jsonl"):
            raise ValueError(f"unknown output format {format!r}")
        annotations = dict(annotations or {})
        document_schema(annotations)  # fail early on a bad declaration
        if format == "parquet":
            extension = "parquet"
            open_writer = _ParquetOpener(annotations, row_group_rows)
        else:
            extension = "jsonl.gz"
            open_writer = _JsonlOpener(document_json)
        self._write = _ShardedWrite(directory, extension, open_writer, _doc_id,
                                    _doc_size, shard_bytes, prefix)

    def expand(self, docs):
        return docs | self._write


class WriteJsonRecords(beam.PTransform):
    """Write dict records (errors, reports) as JSONL.gz shards, sorted by ``key``."""

    def __init__(self, directory: str, key: Callable[[Dict[str, Any]], str] = None,
                 shard_bytes: int = 64 << 20, prefix: str = "part"):
        super().__init__()
        self._write = _ShardedWrite(directory, "jsonl.gz", _JsonlOpener(_identity),
                                    key or _json_key, _json_size, shard_bytes, prefix)

    def expand(self, records):
        return records | self._write


# Module-level callables: picklable by reference, cheap to ship to workers.

def _doc_id(doc: Document) -> str:
    return doc.id


def _doc_size(doc: Document) -> int:
    return len(doc.text) + ROW_OVERHEAD


def _identity(x):
    return x


def _json_key(record: Dict[str, Any]) -> str:
    return orjson.dumps(record, option=orjson.OPT_SORT_KEYS, default=str).decode()


def _json_size(record: Dict[str, Any]) -> int:
    return len(_json_key(record))


class _ParquetOpener:
    def __init__(self, annotations, row_group_rows):
        self.annotations, self.row_group_rows = annotations, row_group_rows

    def __call__(self, path):
        return _ParquetShardWriter(path, self.annotations, self.row_group_rows)


class _JsonlOpener:
    def __init__(self, to_json):
        self.to_json = to_json

    def __call__(self, path):
        return _JsonlShardWriter(path, self.to_json)
