"""ARC files (Internet Archive / early Common Crawl) with warcio.

FastWARC reads no ARC, so warcio's ``ArchiveIterator(arc2warc=True)`` does.
Two leniencies over warcio 1.8.1, both needed by the real Common Crawl
2008/2009 samples: the filedesc record's length there counts the blank line
after it, and warcio would swallow the next record's header line as that
separator and then fail on "HTTP/1.1 200 OK"; here a non-blank line between
records starts the next record. A whole-file (single-member) gzip, which
warcio refuses after the first record, is decompressed with Python's gzip
before warcio sees it; so for .arc.gz ``offset`` is the record's byte offset in
the decompressed stream (for plain .arc, in the file).

Damage: in a plain .arc, a record warcio cannot parse ends a stretch; reading
resumes at the next ARC URL line (``resync``) and the bytes between are one
error; so does a line warcio takes for a URL line whose length is not a
number. An .arc.gz ends at its first damage (one error), as its offsets count
decompressed bytes. warcio is lenient: garbage glued before a URL line can
become part of that record's URL (the record then passes for one without
HTTP, counted as passed over).

ARC records carry no id: ``id`` is xxh3-128 of file basename, offset and URL.
Documents: records with an HTTP status line and a text-like Content-Type.
"""
from __future__ import annotations

import functools
import gzip
from collections import Counter
from typing import BinaryIO, Generator, Iterator, Optional, Union

from warcio.archiveiterator import ArchiveIterator

from thresher.transforms.document import Document
from thresher.transforms.io.sources import common
from thresher.transforms.io.sources.common import ReadError, open_raw, stable_id
from thresher.transforms.io.sources.decode import decode_html
from thresher.transforms.io.sources.http import decode_body, is_text, parse_content_type
from thresher.transforms.io.sources.resync import ARC_START, Failure, is_arc_header, read_across_damage
from thresher.transforms.io.sources.warc import TruncatedRecord

Item = Union[Document, ReadError]


class BadArcHeader(ValueError):
    """A line read as an ARC URL line that is not one."""


class _LenientIterator(ArchiveIterator):
    def _consume_blanklines(self):
        skipped = 0
        while True:
            line = self.reader.readline()
            if not line:
                return None, skipped
            if line.strip():
                return line, skipped
            skipped += len(line)


def read_arc(path: str, source: str, skipped: Optional[Counter] = None) -> Iterator[Item]:
    """Documents from the HTTP responses of one ARC file; the filedesc record and records without
    an HTTP status line are counted in ``skipped`` (``filedesc``, ``response-not-http``)."""
    skipped = Counter() if skipped is None else skipped
    with open_raw(path) as raw:
        gzipped = raw.read(2) == b"\x1f\x8b"
        segment = functools.partial(_segment, path=path, source=source, skipped=skipped)
        if not gzipped:  # an uncompressed ARC resumes at the next URL line after damage
            yield from read_across_damage(raw, segment, ARC_START, is_arc_header)
            return
        failure = yield from segment(raw, 0, True)
        if failure is not None:  # offsets are in the decompressed stream: no resynchronisation
            yield ReadError(failure.exc, failure.start)


def _segment(raw: BinaryIO, start: int, gzipped: bool, path: str, source: str,
             skipped: Counter) -> Generator[Item, None, Optional[Failure]]:
    """The records from byte ``start``, up to the end of the file or the first damage."""
    raw.seek(start)
    stream = gzip.GzipFile(fileobj=raw, mode="rb") if gzipped else raw
    records = _LenientIterator(stream, arc2warc=True)
    offset, count = start, 0
    try:
        for record in records:
            offset = records.offset
            if not gzipped and not (record.rec_headers.get_header("Content-Length") or "").isdigit():
                # warcio takes any line of 5+ fields for a URL line: damage, resume after it
                return Failure(offset, BadArcHeader("ARC URL line without a numeric length"), count)
            count += 1
            try:
                doc = _document(record, path, source, offset, skipped)
            except Exception as exc:  # one bad record, the stream goes on
                yield ReadError(exc, offset)
                continue
            if doc is not None:
                yield doc
    except Exception as exc:  # broken stream
        return Failure(records.offset if records.offset is not None else offset, exc, count)
    return None


def _document(record, path: str, source: str, offset: int, skipped: Counter):
    http = record.http_headers
    if record.rec_type != "response" or http is None or not http.protocol.upper().startswith("HTTP/"):
        skipped["filedesc" if record.rec_type == "warcinfo" else f"{record.rec_type}-not-http"] += 1
        return None
    mime, charset = parse_content_type(http.get_header("Content-Type"))
    common.check_record_size(record.length or 0)  # warcio skips the unread rest of the record
    body = record.raw_stream.read()
    if record.raw_stream.limit > 0:
        raise TruncatedRecord(f"ARC record ends {record.raw_stream.limit} bytes short of its declared length")
    if is_text(mime):
        body = decode_body(body, http.get_header("Transfer-Encoding"), http.get_header("Content-Encoding"))
        text, used = decode_html(body, charset)
    else:  # a document all the same (counted, dropped by extract), its binary payload not decoded
        text, used = "", ""
    headers = record.rec_headers
    url = headers.get_header("WARC-Target-URI") or ""
    return Document(id=stable_id(path, offset, url), text=text, url=url, source=source,
                    date=headers.get_header("WARC-Date") or "",
                    annotations={"file": path, "offset": offset, "content_type": mime, "charset": used})
