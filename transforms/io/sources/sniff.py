"""What an input file holds, from its first records, against the format a recipe declares.

``check_format(path, fmt, fields)`` reads the head of one file (gzip and zstd
are decompressed, at most ``HEAD_BYTES`` of it) and returns a one-line problem
or None:

* WARC, WET, WAT and ARC are told apart by their first records: WET files
  hold ``conversion`` records, WARC files ``response``/``request``/``resource``
  records, WAT files only ``metadata`` records of JSON; ARC files start with
  ``filedesc://``. A WARC given as ``wet`` (or WET as ``warc``) reads no document.
* JSON Lines: the first complete lines must be JSON objects and carry
  ``text_field``; the error lists the fields they have.
* Parquet: the schema alone (the file's footer) must have the text column.
* ``auto``: the extension must name a format.

Zero-byte files (and compressed files with nothing inside) are fine: an empty
run. A head that says nothing conclusive (only a warcinfo record, bytes of no
known format) is no problem, nor is damage (a truncated gzip member, a Parquet
file without its footer, a bad JSON line among good ones): the readers report
damage as errors at run time and read on.
"""
from __future__ import annotations

import contextlib
import gzip
import io
import json
import re
from typing import Iterator, List, Optional

from thresher.transforms.io.sources.common import Fields, open_raw

HEAD_BYTES = 1 << 20  # decompressed bytes read at most, across records
MAX_RECORDS = 16  # WARC records looked at
JSON_LINES = 5  # JSON lines looked at
_GZIP = b"\x1f\x8b"
_ZSTD = b"\x28\xb5\x2f\xfd"
_PARQUET = b"PAR1"
_CONTENT_LENGTH = re.compile(rb"^content-length:\s*(\d+)", re.I | re.M)
_WARC_TYPE = re.compile(rb"^warc-type:\s*([A-Za-z]+)", re.I | re.M)
_CONTENT_TYPE = re.compile(rb"^content-type:\s*([^\r\n;]+)", re.I | re.M)
#: record types whose presence says what a WARC-like file is
_WARC_TYPES = {"response", "request", "resource", "revisit"}


@contextlib.contextmanager
def _open_head(path: str) -> Iterator[io.BufferedIOBase]:
    """The file's decompressed bytes (gzip or zstd by their magic), as a readable stream."""
    with open_raw(path) as raw:
        magic = raw.read(4)
        raw.seek(0)
        if magic[:2] == _GZIP:
            yield gzip.GzipFile(fileobj=raw, mode="rb")
        elif magic == _ZSTD:
            import zstandard
            yield zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True, closefd=False)
        else:
            yield raw


class _Prefixed:
    """``read`` and ``readline`` over bytes already read followed by the rest of a stream."""

    def __init__(self, first: bytes, rest):
        self._buffer, self._rest = first, rest

    def _fill(self, size: int) -> None:
        while len(self._buffer) < size:
            more = self._rest.read(max(size - len(self._buffer), 65536))
            if not more:
                return
            self._buffer += more

    def read(self, size: int = -1) -> bytes:
        if size < 0:
            data, self._buffer = self._buffer + self._rest.read(), b""
            return data
        self._fill(size)
        data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data

    def readline(self, limit: int = -1) -> bytes:
        limit = limit if limit > 0 else HEAD_BYTES
        while b"\n" not in self._buffer and len(self._buffer) < limit:
            more = self._rest.read(65536)
            if not more:
                break
            self._buffer += more
        end = self._buffer.find(b"\n")
        end = min(limit, len(self._buffer)) if end < 0 else min(end + 1, limit)
        line, self._buffer = self._buffer[:end], self._buffer[end:]
        return line


def content_kind(head: bytes) -> str:
    """``warc``, ``arc``, ``parquet``, ``json`` or ``unknown`` from the first bytes of a file."""
    start = head.lstrip(b"\r\n")
    if start.startswith(b"WARC/"):
        return "warc"
    if start.startswith(b"filedesc://"):
        return "arc"
    if head.startswith(_PARQUET):
        return "parquet"
    if start.lstrip(b" \t\xef\xbb\xbf").startswith((b"{", b"[")):
        return "json"
    return "unknown"


def warc_record_types(stream) -> List[tuple]:
    """(WARC-Type, Content-Type) of the first records of a WARC stream, within ``HEAD_BYTES``."""
    found: List[tuple] = []
    budget = HEAD_BYTES
    while len(found) < MAX_RECORDS and budget > 0:
        header = b""
        while not header.endswith(b"\r\n\r\n") and not header.endswith(b"\n\n"):
            line = stream.readline(8192)
            if not line:
                return found
            if not header and not line.strip():
                continue  # blank lines between records
            header += line
            if len(header) > 65536:
                return found
        budget -= len(header)
        kind = _WARC_TYPE.search(header)
        ctype = _CONTENT_TYPE.search(header)
        found.append((kind.group(1).decode("ascii").lower() if kind else "",
                      ctype.group(1).decode("latin-1").strip().lower() if ctype else ""))
        length = _CONTENT_LENGTH.search(header)
        if not length:
            return found
        size = int(length.group(1))
        if size > budget:
            return found
        skipped = len(stream.read(size))
        budget -= skipped
        if skipped < size:
            return found
    return found


def _describe(types: List[tuple]) -> str:
    names = sorted({t for t, _ in types if t and t != "warcinfo"})
    return ", ".join(names) or "warcinfo"


def _check_warc(path: str, fmt: str, stream) -> Optional[str]:
    types = warc_record_types(stream)
    kinds = {t for t, _ in types}
    wat = bool(kinds) and kinds <= {"warcinfo", "metadata"} and any(
        t == "metadata" and "json" in c for t, c in types)
    if wat:
        return (f"{path}: holds WARC metadata records of JSON (a WAT file), which hold no document; "
                f"give WARC (format: warc) or WET (format: wet) files")
    if fmt == "wet" and kinds & _WARC_TYPES and "conversion" not in kinds:
        return (f"{path}: holds WARC records of type {_describe(types)}, no conversion records, but the "
                f"format is wet (WET text records): set format: warc")
    if fmt == "warc" and "conversion" in kinds and not kinds & _WARC_TYPES:
        return (f"{path}: holds WET conversion (plain text) records, no response records, but the "
                f"format is warc: set format: wet")
    return None


def _read_head(stream) -> tuple:
    """(up to ``HEAD_BYTES`` of the stream, whether it ended there): a stream cut short (a truncated
    gzip member) gives what came before the damage, which the reader reports at run time."""
    chunks, size = [], 0
    try:
        while size < HEAD_BYTES:
            chunk = stream.read(min(65536, HEAD_BYTES - size))
            if not chunk:
                return b"".join(chunks), True
            chunks.append(chunk)
            size += len(chunk)
    except (OSError, EOFError, ValueError):
        return b"".join(chunks), False
    return b"".join(chunks), False


def _check_json(path: str, stream, fields: Fields) -> Optional[str]:
    head, ended = _read_head(stream)
    complete = head if ended else head[:head.rfind(b"\n") + 1]
    lines = [line for line in complete.split(b"\n") if line.strip()][:JSON_LINES]
    if not lines:
        return None
    seen: List[str] = []
    objects = 0
    first_bad = ""
    for number, line in enumerate(lines, start=1):
        try:
            record = json.loads(line)
        except ValueError:
            first_bad = first_bad or f"line {number} is not JSON: {line[:60].decode('utf-8', 'replace')!r}"
            continue
        if not isinstance(record, dict):
            first_bad = first_bad or f"line {number} is a JSON {type(record).__name__}, not an object"
            continue
        if fields.text in record:
            return None
        objects += 1
        seen.extend(k for k in record if k not in seen)
    if not objects:  # one bad line among good ones is the reader's to report
        return f"{path}: none of the first {len(lines)} line(s) is a JSON object (format: jsonl); {first_bad}"
    return (f"{path}: the first {len(lines)} record(s) have no field {fields.text!r} (text_field); "
            f"their fields: {', '.join(map(str, seen)) or '(none)'}")


def _check_parquet(path: str, fields: Fields) -> Optional[str]:
    import pyarrow as pa
    import pyarrow.parquet as pq
    with open_raw(path) as raw:
        try:
            schema = pq.read_schema(raw)
        except Exception:  # a damaged footer: the reader reports the file as an error at run time
            return None
    if fields.text not in schema.names:
        return (f"{path}: no column {fields.text!r} (text_field); its columns: {', '.join(schema.names)}")
    kind = schema.field(fields.text).type
    if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
        return f"{path}: column {fields.text!r} (text_field) is {kind}, not a string"
    return None


_EXPECTED = {"warc": "WARC", "wet": "WET (WARC conversion records)", "arc": "ARC",
             "jsonl": "JSON Lines", "parquet": "Parquet"}


def unknown_extension(paths: List[str]) -> str:
    """The problem of files ``format: auto`` cannot read: none has a known extension."""
    more = f" (and {len(paths) - 1} more file(s), none with a known extension)" if len(paths) > 1 else ""
    return (f"{paths[0]}{more}: format auto cannot tell the format from the extension (known: .warc(.gz), "
            f".warc.wet.gz/.wet(.gz), .arc(.gz), .jsonl(.gz/.zst), .json.gz, .parquet); set format:")


def check_format(path: str, fmt: str, fields: Fields = Fields()) -> Optional[str]:
    """A one-line problem when the file's first records do not fit ``fmt`` (``auto``: by extension)."""
    if fmt == "auto":
        from thresher.transforms.io.sources import detect_format
        try:
            fmt = detect_format(path)
        except ValueError:
            return unknown_extension([path])
    with open_raw(path) as raw:
        if raw.read(1) == b"":
            return None  # a zero-byte file: an empty run
    if fmt == "parquet":
        with open_raw(path) as raw:
            magic = raw.read(4)
        if magic != _PARQUET:
            with _open_head(path) as stream:
                kind = content_kind(stream.read(64))
            return f"{path}: not a Parquet file (it looks like {_kind_name(kind)}); format is parquet"
        return _check_parquet(path, fields)
    try:
        with _open_head(path) as stream:
            first = stream.read(64)
            if not first:
                return None  # compressed, with nothing inside
            kind = content_kind(first)
            stream = _Prefixed(first, stream)
            others = {"json": "set format: jsonl", "parquet": "set format: parquet"}
            if fmt in ("warc", "wet"):
                if kind == "warc":
                    return _check_warc(path, fmt, stream)
                hint = {**others, "arc": "set format: arc"}.get(kind)
            elif fmt == "arc":
                if kind == "arc":
                    return None
                hint = {**others, "warc": "set format: warc (or wet)"}.get(kind)
            else:  # jsonl
                if kind in ("json", "unknown"):  # unknown: the line that is not JSON is shown
                    return _check_json(path, stream, fields)
                hint = {"warc": "set format: warc (or wet)", "arc": "set format: arc",
                        "parquet": "set format: parquet"}.get(kind)
    except (OSError, EOFError, ValueError):  # a damaged stream: the reader reports it at run time
        return None
    if hint is None:  # bytes of no known format: damage, which the reader skips and reports
        return None
    return f"{path}: does not hold {_EXPECTED[fmt]} (format: {fmt}); it looks like {_kind_name(kind)}: {hint}"


def _kind_name(kind: str) -> str:
    return {"warc": "a WARC file", "arc": "an ARC file", "parquet": "a Parquet file",
            "json": "JSON", "unknown": "none of the input formats"}[kind]
