"""Upper bounds of what input files can supply, from their sizes, before a run.

For preflight checks (``mix``) that must refuse an impossible request before
the pipeline starts and never refuse a possible one: every bound here is
certain, many are loose. Per file, by name and, when the name shows no
compression, by its first bytes:

* content bytes: a plain file's size. A compressed file (gzip, zstd, bzip2,
  xz) is decompressed and counted when its source's compressed files total at
  most ``MEASURE_BYTES``; otherwise gzip counts as its size x 1032 (the most
  deflate can expand: 258 bytes from 2 bits) and the others have no bound;
* documents: Parquet's row count (from the footer); otherwise content bytes
  / 7, the shortest JSON line holding a text (``{"":""}``), shorter than any
  WARC record;
* text bytes (UTF-8 bytes of the documents' texts as read): JSON Lines and
  WET: the content bytes (JSON escapes only shorten text); WARC, ARC and
  files of unknown format: content bytes x 1032, as an HTTP body may be
  stored gzip- or deflate-compressed and is inflated when read (the caller
  accounts for legacy charsets, see ``mix``); Parquet: the stored size of its
  string columns when they are PLAIN-encoded (footer), else their measured
  bytes under the same ``MEASURE_BYTES`` rule, else no bound.
"""
from __future__ import annotations

import bz2
import dataclasses
import gzip
import lzma
from typing import Dict, List, Optional

from apache_beam.io.filesystems import FileSystems

from thresher.transforms.io.sources.common import open_raw

DEFLATE_MAX_RATIO = 1032
MIN_DOCUMENT_BYTES = 7  # {"":""}
MEASURE_BYTES = 128 << 20  # compressed bytes per source decompressed to measure
_CHUNK = 1 << 20
_EXTENSIONS = {".gz": "gzip", ".gzip": "gzip", ".zst": "zstd", ".zstd": "zstd", ".bz2": "bzip2", ".xz": "xz",
               ".parquet": "parquet"}
_MAGIC = ((b"\x1f\x8b", "gzip"), (b"\x28\xb5\x2f\xfd", "zstd"), (b"BZh", "bzip2"), (b"\xfd7zXZ\x00", "xz"),
          (b"PAR1", "parquet"))
_PLAIN_ENCODINGS = {"PLAIN", "RLE", "BIT_PACKED", "DELTA_LENGTH_BYTE_ARRAY"}  # byte arrays stored whole
_PLAIN_TEXT_FORMATS = ("jsonl", "wet")  # text as stored; WARC/ARC bodies may be compressed


@dataclasses.dataclass
class Supply:
    """Upper bounds for a set of files; None: no bound known."""

    text_bytes: Optional[int] = 0
    documents: Optional[int] = 0

    def __add__(self, other: "Supply") -> "Supply":
        return Supply(_add(self.text_bytes, other.text_bytes), _add(self.documents, other.documents))


def _add(a: Optional[int], b: Optional[int]) -> Optional[int]:
    return None if a is None or b is None else a + b


def source_supply(patterns: List[str]) -> Supply:
    """Bounds on the text bytes and documents the files matching ``patterns`` can give."""
    sizes: Dict[str, int] = {}
    for result in FileSystems.match(list(patterns)):
        for meta in result.metadata_list:
            sizes[meta.path] = meta.size_in_bytes
    kinds = {path: file_kind(path) for path, size in sizes.items() if size}
    compressed = sum(sizes[path] for path, kind in kinds.items() if kind != "plain")
    measure = compressed <= MEASURE_BYTES
    total = Supply()
    for path in sorted(kinds):
        total = total + file_supply(path, sizes[path], kinds[path], measure)
    return total


def file_kind(path: str) -> str:
    """gzip, zstd, bzip2, xz, parquet or plain: by extension, else by the first bytes."""
    name = path.lower()
    for ext, kind in _EXTENSIONS.items():
        if name.endswith(ext):
            return kind
    with open_raw(path) as f:
        head = f.read(6)
    return next((kind for magic, kind in _MAGIC if head.startswith(magic)), "plain")


def file_supply(path: str, size: int, kind: str, measure: bool) -> Supply:
    if kind == "parquet":
        return _parquet_supply(path, measure)
    if kind == "plain":
        content: Optional[int] = size
    else:
        content = None
        if measure:
            try:
                content = _decompressed_size(path, kind)
            except Exception:  # unreadable: the reader will fail too; keep the blind bound
                content = None
        if content is None and kind == "gzip":
            content = size * DEFLATE_MAX_RATIO
    if content is None:
        return Supply(None, None)
    return Supply(content * _text_factor(path), content // MIN_DOCUMENT_BYTES)


def _text_factor(path: str) -> int:
    """1 for formats whose text is stored as is; the deflate ratio where HTTP bodies may be compressed."""
    from thresher.transforms.io.sources import detect_format
    name = path.lower()
    for candidate in (name, name.rsplit(".", 1)[0]):  # x.jsonl.bz2 is JSON Lines too
        try:
            fmt = detect_format(candidate)
        except ValueError:
            continue
        return 1 if fmt in _PLAIN_TEXT_FORMATS else DEFLATE_MAX_RATIO
    return DEFLATE_MAX_RATIO


def _decompressed_size(path: str, kind: str) -> int:
    with open_raw(path) as raw:
        if kind == "gzip":
            stream = gzip.GzipFile(fileobj=raw, mode="rb")
        elif kind == "bzip2":
            stream = bz2.BZ2File(raw)
        elif kind == "xz":
            stream = lzma.LZMAFile(raw)
        else:
            import zstandard
            stream = zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True)
        total = 0
        for chunk in iter(lambda: stream.read(_CHUNK), b""):
            total += len(chunk)
        return total


def _parquet_supply(path: str, measure: bool) -> Supply:
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    with open_raw(path) as raw:
        parquet = pq.ParquetFile(raw)
        meta = parquet.metadata
        text: Optional[int] = 0
        for g in range(meta.num_row_groups):
            group = meta.row_group(g)
            for c in range(group.num_columns):
                col = group.column(c)
                if col.physical_type != "BYTE_ARRAY":
                    continue
                if col.has_dictionary_page or not set(col.encodings) <= _PLAIN_ENCODINGS:
                    text = None
                    break
                text += col.total_uncompressed_size
            if text is None:
                break
        if text is None and measure:
            schema = parquet.schema_arrow
            columns = [f.name for f in schema if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)
                       or pa.types.is_binary(f.type) or pa.types.is_large_binary(f.type)]
            text = 0
            if columns:
                for batch in parquet.iter_batches(columns=columns):
                    for column in batch.columns:
                        text += pc.sum(pc.binary_length(column)).as_py() or 0
        return Supply(text, meta.num_rows)
