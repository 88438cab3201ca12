"""JSON Lines files: one JSON object per line, plain, gzip or zstd (by extension).

``offset`` is the 1-based line number. A malformed line, a non-object, a
missing or non-string text field is one error and reading goes on; blank lines
are not records and are counted as passed over (``blank-line``). orjson refuses
invalid UTF-8 and lone surrogates (``"\\ud800"``), so such lines are errors too.
A decompression failure (truncated gzip or zstd) ends the file with one error
at the line it reached.
"""
from __future__ import annotations

import contextlib
import gzip
from collections import Counter
from typing import Iterator, Optional, Union

import orjson
import zstandard

from thresher.transforms.document import Document
from thresher.transforms.io.sources.common import Fields, ReadError, as_str, basename, open_raw

Item = Union[Document, ReadError]


class BadRecord(ValueError):
    """A JSON line that is not a usable document."""


@contextlib.contextmanager
def _lines(path: str):
    with open_raw(path) as raw:
        name = path.lower()
        if name.endswith(".gz"):
            yield gzip.GzipFile(fileobj=raw, mode="rb")
        elif name.endswith(".zst"):
            yield _split_lines(_zstd_chunks(raw))
        else:
            yield raw


def _zstd_chunks(raw) -> Iterator[bytes]:
    """Decompressed zstd data, frame after frame; a stream cut inside a frame raises
    (zstandard's stream_reader just ends there)."""
    decompressor = zstandard.ZstdDecompressor()
    frame = None
    for chunk in iter(lambda: raw.read(1 << 20), b""):
        while chunk:
            frame = frame or decompressor.decompressobj()
            out = frame.decompress(chunk)
            if out:
                yield out
            chunk, frame = (frame.unused_data, None) if frame.eof else (b"", frame)
    if frame is not None:
        raise EOFError("zstd stream ends inside a frame")


def _split_lines(chunks: Iterator[bytes]) -> Iterator[bytes]:
    rest = b""
    for chunk in chunks:
        lines = (rest + chunk).split(b"\n")
        rest = lines.pop()
        yield from lines
    if rest:
        yield rest


def read_jsonl(path: str, source: str, fields: Fields = Fields(),
               skipped: Optional[Counter] = None) -> Iterator[Item]:
    """Documents from one JSON Lines file; blank lines are counted in ``skipped`` as ``blank-line``."""
    skipped = Counter() if skipped is None else skipped
    line_number = 0
    try:
        with _lines(path) as lines:
            for line_number, line in enumerate(lines, start=1):
                if not line.strip():
                    skipped["blank-line"] += 1
                    continue
                try:
                    yield _document(line, path, source, line_number, fields)
                except Exception as exc:  # one bad line, the file goes on
                    yield ReadError(exc, line_number)
    except Exception as exc:  # unreadable or truncated stream
        yield ReadError(exc, line_number + 1)


def _document(line: bytes, path: str, source: str, line_number: int, fields: Fields) -> Document:
    record = orjson.loads(line)
    if not isinstance(record, dict):
        raise BadRecord(f"line is a JSON {type(record).__name__}, not an object")
    text = record.get(fields.text)
    if not isinstance(text, str):
        raise BadRecord(f"field {fields.text!r} is {'missing' if text is None else type(text).__name__}")
    doc_id = as_str(record.get(fields.id)) or f"{basename(path)}:{line_number}"
    return Document(id=doc_id, text=text, url=as_str(record.get(fields.url)), source=source,
                    date=as_str(record.get(fields.date)),
                    annotations={"file": path, "offset": line_number})
