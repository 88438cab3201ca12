"""Sinks: documents to Parquet or JSONL.gz shards, error records to JSONL.gz.

Documents are written where they are, with no shuffle: each bundle streams
its records into temporary files under ``<parent>/_temporary/<name>/``,
rolling to a new file when ``shard_bytes`` of uncompressed text have been
written. Only the files that committed bundles report are kept: a final step
renames them to ``part-00000-of-0000N.<ext>`` (ordered by their smallest
record id) and deletes what failed attempts left. (Shuffling every document
to size the shards exactly cost more than the whole read:
``benchmarks/io_bench.py``.) An empty input still gets one empty shard, so
readers find the schema.

Parquet files have an explicit Arrow schema (base fields, one typed column per
declared annotation, the rest as a JSON ``metadata`` column unless the caller
knows nothing can land there: ``metadata=False``), zstd
compression and row groups of ``row_group_rows`` rows; they load with
``pyarrow.dataset`` and Hugging Face ``datasets.load_dataset("parquet")``.

The columns (``url`` and ``date`` null when unknown, the date typed, ``date_raw``) and
their JSON form: ``thresher.transforms.io.schema``.
"""
from __future__ import annotations

import gzip
import uuid
from typing import Any, Callable, Dict, List, Optional

import apache_beam as beam
import orjson
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.transforms.window import GlobalWindow
from apache_beam.utils.timestamp import MIN_TIMESTAMP
from apache_beam.utils.windowed_value import WindowedValue

from thresher.transforms.document import Document
from thresher.transforms.io.schema import DATE_RAW, clean, coerce, document_json, document_schema, parse_date

ROW_OVERHEAD = 256  # bytes counted per document besides its text when sizing shards


class _ParquetShardWriter:
    def __init__(self, path: str, annotations: Dict[str, str], row_group_rows: int, metadata: bool = True):
        self.annotations, self.metadata = annotations, metadata
        self.schema = document_schema(annotations, metadata)
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
        columns = {name: [clean(getattr(d, name)) for d in docs] for name in ("id", "text", "source")}
        columns["url"] = [clean(d.url) if d.url else None for d in docs]
        columns["date"] = dates = [parse_date(d.date) for d in docs]
        for name, type_name in self.annotations.items():
            columns[name] = [coerce(d.annotations.get(name), type_name) for d in docs]
        if self.metadata:
            extra = []
            for d, date in zip(docs, dates):
                rest = {k: v for k, v in d.annotations.items() if k not in self.annotations}
                if date is None and d.date:
                    rest[DATE_RAW] = clean(d.date)
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


class _WriteFilesFn(beam.DoFn):
    """Streams each bundle's records into rolling temporary files; yields one info dict per file."""

    def __init__(self, temp_dir: str, open_writer, record_id, record_size, shard_bytes: int):
        self._temp_dir, self._open_writer = temp_dir, open_writer
        self._record_id, self._record_size, self._shard_bytes = record_id, record_size, shard_bytes

    def start_bundle(self):
        self._writer = None

    def _close(self):
        writer, self._writer = self._writer, None
        writer.close()
        return self._info

    def process(self, record):
        record_id = self._record_id(record)
        if self._writer is None:
            path = FileSystems.join(self._temp_dir, f"{uuid.uuid4().hex}.tmp")
            self._writer = self._open_writer(path)
            self._info = {"temp": path, "rows": 0, "bytes": 0, "first": record_id}
        self._writer.write(record)
        info = self._info
        info["rows"] += 1
        info["bytes"] += self._record_size(record)
        if record_id < info["first"]:
            info["first"] = record_id
        if info["bytes"] >= self._shard_bytes:
            yield self._close()

    def finish_bundle(self):
        if self._writer is not None:
            yield WindowedValue(self._close(), MIN_TIMESTAMP, [GlobalWindow()])


class _FinalizeFiles(beam.DoFn):
    """Renames the committed temporary files to their final names; removes the rest."""

    def __init__(self, directory: str, temp_dir: str, prefix: str, extension: str, open_writer):
        self._directory, self._temp_dir = directory, temp_dir
        self._prefix, self._ext, self._open_writer = prefix, extension, open_writer

    def process(self, _, infos):
        infos = sorted(infos, key=lambda i: (i["first"], i["temp"]))
        total = max(1, len(infos))
        names = [FileSystems.join(self._directory, f"{self._prefix}-{i:05d}-of-{total:05d}.{self._ext}")
                 for i in range(total)]
        make_dir(self._directory)
        if infos:
            FileSystems.rename([i["temp"] for i in infos], names)
        else:  # nothing came in: one empty shard, so readers see the schema
            self._open_writer(names[0]).close()
        remove_dir(self._temp_dir)  # what failed attempts left
        for name, info in zip(names, infos or [{"rows": 0}]):
            yield {"path": name, "rows": info["rows"]}


def dir_exists(path: str) -> bool:
    """Whether a directory exists; on an object store (gs://, no real directories),
    whether any object lies under the prefix ``path/``."""
    if FileSystems.get_filesystem(path).has_dirs():
        return FileSystems.exists(path)
    return bool(FileSystems.match([path.rstrip("/") + "/**"], limits=[1])[0].metadata_list)


def make_dir(directory: str) -> None:
    """Create a local directory unless it exists (another writer may make it at the same time);
    nothing to do on an object store."""
    if FileSystems.get_filesystem(directory).has_dirs() and not FileSystems.exists(directory):
        try:
            FileSystems.mkdirs(directory)
        except OSError:  # made by another writer in the meantime
            pass


def remove_dir(path: str) -> None:
    """Delete a directory and everything in it; on gs://, every object under ``path/``.
    (Beam's GCS ``delete`` is recursive only for a path ending in ``/``; a local one must not.)"""
    if not dir_exists(path):
        return
    if FileSystems.get_filesystem(path).has_dirs():
        FileSystems.delete([path])
    else:
        FileSystems.delete([path.rstrip("/") + "/"])


def temp_dir_of(directory: str) -> str:
    """``a/b/data`` -> ``a/b/_temporary/data`` (local or gs://)."""
    trimmed = directory.rstrip("/")
    parent, _, name = trimmed.rpartition("/")
    return FileSystems.join(parent or ".", "_temporary", name)


class _ShardedWrite(beam.PTransform):
    """Bundle-local rolling writes, then a rename of the committed files."""

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
        temp_dir = temp_dir_of(self._directory)
        written = records | "Write" >> beam.ParDo(_WriteFilesFn(
            temp_dir, self._open_writer, self._record_id, self._record_size, self._shard_bytes))
        return (records.pipeline
                | "Once" >> beam.Create([None])
                | "Finalize" >> beam.ParDo(
                    _FinalizeFiles(self._directory, temp_dir, self._prefix, self._ext, self._open_writer),
                    beam.pvalue.AsList(written)))


class WriteDocuments(beam.PTransform):
    """Write documents as Parquet (default) or JSONL.gz shards in ``directory``.

    annotations: declared annotation name -> Arrow type name, one column each.
    metadata: also a JSON ``metadata`` column for the other annotations and ``date_raw`` (Parquet).
    shard_bytes: uncompressed text per file before rolling to the next one.
    row_group_rows: rows per Parquet row group.
    Returns a PCollection of ``{"path", "rows"}``, one per file written.
    """

    def __init__(self, directory: str, format: str = "parquet", annotations: Optional[Dict[str, str]] = None,
                 shard_bytes: int = 256 << 20, row_group_rows: int = 10_000, prefix: str = "part",
                 metadata: bool = True):
        super().__init__()
        if format not in ("parquet", "jsonl"):
            raise ValueError(f"unknown output format {format!r}")
        extension, open_writer = document_writer(format, annotations, row_group_rows, metadata)
        self._write = _ShardedWrite(directory, extension, open_writer, _doc_id,
                                    _doc_size, shard_bytes, prefix)

    def expand(self, docs):
        return docs | self._write


def document_writer(format: str, annotations: Optional[Dict[str, str]], row_group_rows: int,
                    metadata: bool = True):
    """(file extension, ``open_writer(path)``) for documents in ``format`` (parquet or jsonl)."""
    annotations = dict(annotations or {})
    document_schema(annotations)  # fail early on a bad declaration
    if format == "parquet":
        return "parquet", _ParquetOpener(annotations, row_group_rows, metadata)
    return "jsonl.gz", _JsonlOpener(document_json)


class WriteJsonRecords(beam.PTransform):
    """Write dict records (errors, reports) as JSONL.gz shards."""

    def __init__(self, directory: str, shard_bytes: int = 64 << 20, prefix: str = "part"):
        super().__init__()
        self._write = _ShardedWrite(directory, "jsonl.gz", _JsonlOpener(_identity),
                                    _json_key, _json_size, shard_bytes, prefix)

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
    def __init__(self, annotations, row_group_rows, metadata=True):
        self.annotations, self.row_group_rows, self.metadata = annotations, row_group_rows, metadata

    def __call__(self, path):
        return _ParquetShardWriter(path, self.annotations, self.row_group_rows, self.metadata)


class _JsonlOpener:
    def __init__(self, to_json):
        self.to_json = to_json

    def __call__(self, path):
        return _JsonlShardWriter(path, self.to_json)
