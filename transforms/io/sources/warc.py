"""WARC and WET files with FastWARC.

Library choice: ``benchmarks/warc_libs.py`` measures FastWARC, warcio and this
module's ``read_warc`` (FastWARC + checks + decoding to Documents) on
``bench/real-pages.warc.gz``. FastWARC is faster, keeps WARC-Target-URI as
stored (warcio rewrites spaces to %20), strips the HTTP header block of
records with non-HTTP target URIs, and reads single-member gzip WARCs that
warcio refuses; so it reads WARC and WET. It has no ARC support (see ``arc.py``). It also ends silently on a
truncated file, so every record is visited (not only the wanted types) and a
record whose header lacks Content-Length or WARC-Type (FastWARC ignores a
header line without a colon, so a damaged WARC-Type line would make a response
pass for a skipped record) or whose block is shorter than declared is reported
here as an error. WARC headers are parsed strictly (a
wrong Content-Length surfaces as "Invalid WARC header" at the next record), HTTP
headers leniently (ClueWeb09 ends them with bare LF).

A response or conversion record over ``common.MAX_RECORD_BYTES`` (64 MiB) is skipped
unread and reported as an error at its offset.

Documents: HTTP ``response`` records (WARC Content-Type application/http) and
WET ``conversion`` records; other record types are not documents and are
counted by type in ``skipped`` (``request``, ``warcinfo``...; a response that is
not HTTP as ``response-not-http``). A response
whose payload is not text-like (see ``http.is_text``: images, PDF...) is still
a document, with empty text and its ``content_type``, so that ``extract``
drops it with a reason and the accounting sees it. ``url`` is WARC-Target-URI as stored, minus the
angle brackets wget 1.x puts around it. ``offset`` is the record's byte offset in the file:
the start of its gzip member for .gz (all 0 in a single-member gzip), its first
byte otherwise.

Damage: FastWARC reads no further than the first undecodable gzip member or
invalid record header. Reading then resumes at the next intact record
(``resync.read_across_damage``: the next gzip member that decompresses to a WARC
header, or a WARC header at a line start), and the bytes between are one error
at the first damaged byte: the gzip member that failed, or for an uncompressed
file the end of the last good record. A record whose Content-Length is too long
swallows the start of the next one; that record is lost with it. A bad record
inside a gzip member that decompresses (a whole-file gzip) is handled the same
way in a decompressed temporary copy of that member: the records after it in
the member are read (offset: the member's), and the error names the member and
the decompressed bytes. A member whose deflate data is broken is lost as a whole.
"""
from __future__ import annotations

import functools
import itertools
import tempfile
from collections import Counter
from typing import BinaryIO, Generator, Iterator, Optional, Union

from fastwarc.stream_io import GzipReader
from fastwarc.warc import ArchiveIterator, WarcRecordType

from thresher.transforms.document import Document
from thresher.transforms.io.sources import common
from thresher.transforms.io.sources.common import ReadError, open_raw, stable_id
from thresher.transforms.io.sources.decode import decode_html
from thresher.transforms.io.sources.http import decode_body, is_text, parse_content_type
from thresher.transforms.io.sources.resync import (WARC_START, DamagedBytes, Failure, gunzip_member, is_warc_header,
                                      read_across_damage)

Item = Union[Document, ReadError]


class TruncatedRecord(ValueError):
    """The file ended inside a record."""


class BadHeader(ValueError):
    """A WARC header without the mandatory WARC-Type (FastWARC skips malformed header lines)."""


def read_warc(path: str, source: str, skipped: Optional[Counter] = None) -> Iterator[Item]:
    """Documents from the HTTP responses of one WARC file; records passed over are counted
    by type in ``skipped``."""
    return _read(path, source, False, skipped)


def read_wet(path: str, source: str, skipped: Optional[Counter] = None) -> Iterator[Item]:
    """Documents from the conversion (plain text) records of one WET file."""
    return _read(path, source, True, skipped)


def _read(path: str, source: str, wet: bool, skipped: Optional[Counter]) -> Iterator[Item]:
    wanted = WarcRecordType.conversion if wet else WarcRecordType.response
    skipped = Counter() if skipped is None else skipped
    with open_raw(path) as raw:
        segment = functools.partial(_segment, path=path, source=source, wanted=wanted, skipped=skipped)
        yield from read_across_damage(raw, segment, WARC_START, is_warc_header)


def _segment(raw: BinaryIO, start: int, gzipped: bool, path: str, source: str, wanted: WarcRecordType,
             skipped: Counter, skip: int = 0, offset_at: Optional[int] = None,
             ) -> Generator[Item, None, Optional[Failure]]:
    """The records from byte ``start`` with FastWARC, up to the end of the file or the first damage
    (``skip``: records passed silently first; ``offset_at``: the offset given to every record)."""
    raw.seek(start)
    stream = GzipReader(raw) if gzipped else raw
    offset, records, last, in_member = start, 0, None, 0
    try:
        # every record type, so that a file truncated inside a skipped record is noticed
        for record in ArchiveIterator(stream, parse_http=False):
            where = _frame(stream, offset) if gzipped else record.stream_pos
            in_member = in_member + 1 if where == offset and records else 1
            offset = where
            records += 1
            last = (offset, record.content_length)
            if records <= skip:  # read before, in the member being recovered
                record.reader.consume()
                continue
            try:
                doc = _document(record, path, source, offset if offset_at is None else offset_at, wanted, skipped)
            except Exception as exc:  # one bad record, the stream goes on
                yield ReadError(exc, offset if offset_at is None else offset_at)
                continue
            if doc is not None:
                yield doc
    except Exception as exc:  # damage: FastWARC raises OSError and reads no further
        if not gzipped:
            return Failure(_end(raw, last, start), exc, records)
        member = _frame(stream, offset)
        if not records or offset == member:
            # a bad record inside a member that decompresses: records after it in the member are read
            end = yield from _inside_member(raw, member, in_member if records else 0, path, source, wanted,
                                            skipped)
            if end is not None:
                return Failure(member, exc, records, resume=end)
        return Failure(member, exc, records)
    return None


def _inside_member(raw: BinaryIO, member: int, done: int, path: str, source: str, wanted: WarcRecordType,
                   skipped: Counter) -> Generator[Item, None, Optional[int]]:
    """The records of the gzip member at ``member`` after its first ``done`` ones, read from a
    decompressed copy (all at offset ``member``), a damaged range in it as one error naming the
    decompressed bytes; returns the byte after the member, or None (nothing yielded) if it does not
    decompress or is damage as a whole (then it is part of the damage around it)."""
    with tempfile.TemporaryFile() as copy:
        end = gunzip_member(raw, member, copy)
        if end is None:
            return None
        size = copy.tell()
        segment = functools.partial(_member_segment, path=path, source=source, wanted=wanted, skipped=skipped,
                                    skip=done, offset_at=member)
        items = read_across_damage(copy, segment, WARC_START, is_warc_header)
        first = next(items, None)
        if isinstance(first, ReadError) and isinstance(first.exc, DamagedBytes) and (
                first.exc.start, first.exc.end) == (0, size):  # the whole member, nothing after it
            return None
        for item in itertools.chain([first] if first is not None else [], items):
            if isinstance(item, ReadError) and isinstance(item.exc, DamagedBytes):
                exc = item.exc
                item = ReadError(DamagedBytes(f"damaged bytes {member}-{end}: inside this gzip member, decompressed "
                                              f"bytes {exc.start}-{exc.end}: {exc.cause}"), member)
            yield item
    return end


def _member_segment(raw: BinaryIO, start: int, gzipped: bool, skip: int, **kwargs):
    """A segment of a decompressed member: the records already read are passed only from its start."""
    return _segment(raw, start, gzipped, skip=skip if start == 0 else 0, **kwargs)


def _frame(stream: GzipReader, default: int) -> int:
    start = stream.frame_start_position()
    return default if start is None else start


def _end(raw: BinaryIO, last: Optional[tuple], default: int) -> int:
    """The byte after the uncompressed record ``last`` (offset, Content-Length) and the blank lines
    after it: where the damage that stopped FastWARC begins."""
    if last is None:
        return default
    offset, length = last
    raw.seek(offset)
    head = raw.read(1 << 16)
    cut = head.find(b"\r\n\r\n")
    if cut < 0:
        return offset
    end = offset + cut + 4 + length
    raw.seek(end)
    gap = raw.read(16)
    return end + len(gap) - len(gap.lstrip(b"\r\n"))


def _payload(record) -> bytes:
    body = record.reader.read()
    if len(body) < record.content_length:
        raise TruncatedRecord(f"record payload has {len(body)} of {record.content_length} bytes")
    return body


def _skip(record) -> None:
    consumed = record.reader.consume()
    if consumed < record.content_length:
        raise TruncatedRecord(f"record block has {consumed} of {record.content_length} bytes")


def _document(record, path: str, source: str, offset: int, wanted: WarcRecordType,
              skipped: Counter) -> Optional[Document]:
    headers = record.headers
    if "Content-Length" not in headers:
        raise TruncatedRecord("WARC header without Content-Length (file ends inside a header?)")
    if "WARC-Type" not in headers:  # else the record would pass for a skipped type and vanish
        raise BadHeader("WARC header without WARC-Type (a malformed header line?)")
    if record.record_type != wanted or (wanted == WarcRecordType.response and not record.is_http):
        _skip(record)
        kind = (headers.get("WARC-Type") or "").strip().lower() or "?"
        skipped[kind if record.record_type != wanted else f"{kind}-not-http"] += 1
        return None
    try:
        common.check_record_size(record.content_length)
    except common.RecordTooLarge:
        _skip(record)  # the stream goes on after it
        raise
    if wanted == WarcRecordType.conversion:
        mime, body = "text/plain", _payload(record)
        text, used = decode_html(body, "utf-8")
    else:
        record.parse_http(quirks_mode=True)
        http = record.http_headers
        mime, charset = parse_content_type(http.get("Content-Type"))
        if is_text(mime):
            body = decode_body(_payload(record), http.get("Transfer-Encoding"), http.get("Content-Encoding"))
            text, used = decode_html(body, charset)
        else:  # a document all the same (counted, dropped by extract), its binary payload not decoded
            _skip(record)
            text, used = "", ""
    url = (headers.get("WARC-Target-URI") or "").strip()
    if url.startswith("<") and url.endswith(">"):  # wget 1.x stores <uri>
        url = url[1:-1]
    record_id = (record.record_id or "").strip().strip("<>") or stable_id(path, offset, url)
    return Document(id=record_id, text=text, url=url, source=source, date=headers.get("WARC-Date") or "",
                    annotations={"file": path, "offset": offset, "content_type": mime, "charset": used})
