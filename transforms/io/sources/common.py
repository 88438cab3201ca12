"""Shared pieces of the per-file readers: the error marker, field mapping, opening."""
from __future__ import annotations

import dataclasses
import posixpath
from typing import Any, BinaryIO, Optional

import xxhash
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems


#: a WARC/WET/ARC record larger than this (its declared length) is not read: one error at its offset,
#: and reading goes on. A page that large is never extracted (``extract`` caps HTML at 5 MB), and
#: decoding it would cost about ten times its size in a worker's memory.
MAX_RECORD_BYTES = 64 << 20


class RecordTooLarge(ValueError):
    """A record over ``MAX_RECORD_BYTES``."""


def check_record_size(length: int) -> None:
    if length > MAX_RECORD_BYTES:
        raise RecordTooLarge(f"record of {length:,} bytes is over the {MAX_RECORD_BYTES:,}-byte read limit")


@dataclasses.dataclass
class ReadError:
    """A failure inside a file: what raised and where (byte, line or row offset)."""

    exc: BaseException
    offset: Optional[int] = None


@dataclasses.dataclass(frozen=True)
class Fields:
    """Names of the record fields that map to Document id/text/url/date (JSONL, Parquet)."""

    text: str = "text"
    id: str = "id"
    url: str = "url"
    date: str = "date"


def open_raw(path: str) -> BinaryIO:
    """The file's bytes as stored (no decompression), local or gs://."""
    return FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)


def basename(path: str) -> str:
    return posixpath.basename(path.rstrip("/"))


def as_str(value: Any) -> str:
    """A field value as str: None -> "", dates -> ISO 8601, anything else -> str()."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def stable_id(path: str, offset: Optional[int], url: str) -> str:
    """An id for a record that has none: hash of file basename, offset and URL."""
    return xxhash.xxh3_128_hexdigest(f"{basename(path)}\0{offset}\0{url}".encode("utf-8", "surrogatepass"))
