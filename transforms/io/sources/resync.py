"""Reading a WARC, WET or ARC file across damage: after a damaged byte range, reading
resumes at the next intact record (``read_across_damage``).

A candidate is a place where a record could start: a gzip member header
(``1f 8b 08``, reserved flag bits clear) whose first decompressed bytes are a
record header, or an uncompressed record header (ARC: at a line start). A record
header is a WARC version line (``WARC/1.0`` or ``WARC/1.1``) followed by
``Name: value`` lines holding ``WARC-Type`` and a numeric ``Content-Length``
up to a blank line, or an ARC v1 URL line (URL, IP address, 14-digit date,
MIME type, length). The file is scanned forward in chunks; of a gzip
candidate only the first bytes are decompressed.
"""
from __future__ import annotations

import dataclasses
import re
import zlib
from typing import BinaryIO, Callable, Generator, Iterator, Optional, Tuple, Union

from thresher.transforms.document import Document
from thresher.transforms.io.sources.common import ReadError

Item = Union[Document, ReadError]

_CHUNK = 1 << 20
_HEAD_BYTES = 64 << 10  # enough for any sane record header
_OVERLAP = 64  # longer than any start pattern
_GZIP = re.compile(rb"\x1f\x8b\x08")
#: where a WARC header may start (anywhere: garbage before it need not end with a newline)
WARC_START = re.compile(rb"WARC/1\.[01]\r\n")
#: where an ARC header may start: at a line start
ARC_START = re.compile(rb"(?<=\n)[A-Za-z][A-Za-z0-9+.-]{0,15}:")
_FIELD = re.compile(rb"[!-9;-~]+:[^\r\n]*")
_ARC_LINE = re.compile(rb"\S+ \d{1,3}(?:\.\d{1,3}){3} \d{14} \S+ (\d+)\r?\n")


class DamagedBytes(ValueError):
    """A byte range of a file that holds no intact record: "damaged bytes START-END: cause" (END
    excluded: where the next intact record starts, or the file's size)."""


#: a predicate on the first bytes of a record: whether they are a record header
HeaderCheck = Callable[[bytes], bool]


def is_warc_header(head: bytes) -> bool:
    """Whether ``head`` starts with a complete, well-formed WARC record header."""
    line = WARC_START.match(head)
    if line is None:
        return False
    end = head.find(b"\r\n\r\n", line.end() - 2)
    if end < 0:
        return False
    names = set()
    for field in head[line.end():end].split(b"\r\n"):
        if not _FIELD.fullmatch(field):
            return False
        names.add(field.split(b":", 1)[0].strip().lower())
    length = re.search(rb"\r\ncontent-length:[ \t]*(\d+)[ \t]*\r\n", head[:end + 2], re.I)
    return b"warc-type" in names and length is not None


def is_arc_header(head: bytes) -> bool:
    """Whether ``head`` starts with an ARC v1 URL record line."""
    return _ARC_LINE.match(head) is not None


def _gunzip_head(data: bytes) -> Optional[bytes]:
    """The first decompressed bytes of the gzip member at the start of ``data``, or None."""
    if len(data) < 10 or data[3] & 0xE0:  # reserved FLG bits must be clear
        return None
    inflater = zlib.decompressobj(31)
    try:
        return inflater.decompress(data, _HEAD_BYTES)
    except zlib.error:
        return None


def gunzip_member(raw: BinaryIO, offset: int, out: BinaryIO) -> Optional[int]:
    """Decompress the gzip member at ``offset`` into ``out``; the byte after it, or None if it
    is no whole, valid member."""
    raw.seek(offset)
    inflater = zlib.decompressobj(31)
    pos = offset
    try:
        while not inflater.eof:
            chunk = raw.read(_CHUNK)
            if not chunk:
                return None
            out.write(inflater.decompress(chunk))
            pos += len(chunk)
    except zlib.error:
        return None
    return pos - len(inflater.unused_data)


def _head(raw: BinaryIO, chunk: bytes, base: int, offset: int) -> bytes:
    """Up to ``_HEAD_BYTES`` from ``offset``: from ``chunk`` (which starts at ``base``) when it holds them."""
    at = offset - base
    if at + _HEAD_BYTES <= len(chunk):
        return chunk[at:at + _HEAD_BYTES]
    raw.seek(offset)
    return raw.read(_HEAD_BYTES)


def next_record(raw: BinaryIO, after: int, header_start: "re.Pattern[bytes]", is_header: HeaderCheck,
                ) -> Optional[Tuple[int, bool]]:
    """(offset, gzipped) of the first candidate record start past byte ``after``, or None if the
    file holds none. ``header_start`` finds where an uncompressed header may start.
    Leaves ``raw``'s position undefined."""
    pos = after + 1
    while True:
        base = max(pos - 1, 0)  # a line-start candidate needs the byte before it
        raw.seek(base)
        chunk = raw.read(_CHUNK)
        if len(chunk) <= pos - base:
            return None
        hits = [(base + m.start(), True) for m in _GZIP.finditer(chunk)]
        hits += [(base + m.start(), False) for m in header_start.finditer(chunk)]
        if pos == 0:  # the file's first byte is a line start too
            hits.append((0, False))
        for offset, gzipped in sorted(hits):
            if offset < pos:
                continue
            head = _head(raw, chunk, base, offset)
            if gzipped:
                head = _gunzip_head(head)
                if head is None:
                    continue
            if is_header(head):
                return offset, gzipped
        if len(chunk) < _CHUNK:
            return None
        pos = base + len(chunk) - _OVERLAP  # a pattern cut by the chunk's end is seen again


@dataclasses.dataclass
class Failure:
    """Where a segment's reader stopped on damage: the first damaged byte and what failed."""

    start: int
    exc: BaseException
    records: int  # records parsed in the segment before it
    resume: Optional[int] = None  # the damage is reported already: read on (gzip) from this byte


#: reads a file from a byte offset (gzipped or not): yields Documents and ReadErrors, returns
#: None at the end of the file or a Failure
Segment = Callable[[BinaryIO, int, bool], Generator[Item, None, Optional[Failure]]]


def _cause(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _damaged(start: int, end: int, cause: str) -> ReadError:
    exc = DamagedBytes(f"damaged bytes {start}-{end}: {cause}")
    exc.start, exc.end, exc.cause = start, end, cause
    return ReadError(exc, start)


def read_across_damage(raw: BinaryIO, segment: Segment, header_start: "re.Pattern[bytes]",
                       is_header: HeaderCheck) -> Iterator[Item]:
    """The items of ``segment`` over every intact stretch of the file, and one ReadError
    (``DamagedBytes``, at the first damaged byte) per damaged range between them. A range ends
    where the next intact record starts (``next_record``), or at the end of the file.
    A record error right before a failure is part of the same range."""
    raw.seek(0)
    gzipped = raw.read(2) == b"\x1f\x8b"
    size = raw.seek(0, 2)
    start, damage = 0, None  # damage: (first byte, cause) of a range not yet closed
    while True:
        items = segment(raw, start, gzipped)
        held = None  # a record error held back: it may begin a damaged range
        while True:
            try:
                item = next(items)
            except StopIteration as stop:
                failure = stop.value
                break
            if damage is not None:
                yield _damaged(damage[0], start, damage[1])
                damage = None
            if held is not None:
                yield held
                held = None
            if isinstance(item, ReadError):
                held = item
            else:
                yield item
        if failure is None or failure.resume is not None:
            if damage is not None:
                yield _damaged(damage[0], start, damage[1])
                damage = None
            if held is not None:
                yield held
            if failure is None:
                return
            start, gzipped = failure.resume, True
            continue
        if damage is None or failure.records or failure.start > start:  # a new range
            if damage is not None:
                yield _damaged(damage[0], start, damage[1])
            first = min(failure.start, held.offset) if held is not None else failure.start
            cause = _cause(failure.exc) if held is None else f"{_cause(held.exc)}; then {_cause(failure.exc)}"
            damage = (min(first, size), cause)
        # else: the candidate failed at once, the same range goes on
        found = next_record(raw, max(failure.start, start), header_start, is_header)
        if found is None:
            yield _damaged(damage[0], size, damage[1])
            return
        start, gzipped = found
