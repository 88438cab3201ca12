"""HTTP payload helpers shared by the WARC and ARC readers."""
from __future__ import annotations

import zlib
from typing import Optional, Tuple

MAX_DECODED = 64 << 20  # a gzip bomb stops here


def parse_content_type(value: Optional[str]) -> Tuple[str, Optional[str]]:
    """("text/html", "utf-8") from "text/html; charset=UTF-8"; ("", None) for nothing."""
    if not value:
        return "", None
    mime, _, params = value.partition(";")
    charset = None
    for param in params.split(";"):
        key, _, val = param.partition("=")
        if key.strip().lower() == "charset":
            charset = val.strip().strip("\"'") or None
    return mime.strip().lower(), charset


def is_text(mime: str) -> bool:
    """Whether a payload of this MIME type can be a text document (unknown counts as text)."""
    return (not mime or mime.startswith("text/")
            or any(key in mime for key in ("html", "xml", "json", "javascript")))


def dechunk(body: bytes) -> Optional[bytes]:
    """The body of a chunked transfer encoding, or None if it is not well-formed."""
    out, pos = [], 0
    while True:
        end = body.find(b"\r\n", pos)
        if end < 0:
            return None
        try:
            size = int(body[pos:end].split(b";", 1)[0].strip(), 16)
        except ValueError:
            return None
        if size == 0:
            return b"".join(out)
        start = end + 2
        if start + size > len(body):
            return None
        out.append(body[start:start + size])
        pos = start + size + 2


def decode_body(body: bytes, transfer_encoding: Optional[str], content_encoding: Optional[str]) -> bytes:
    """Undo chunked transfer and gzip/deflate content encodings when the body really is
    encoded; archives often store the decoded body under the original headers."""
    if transfer_encoding and "chunked" in transfer_encoding.lower():
        dechunked = dechunk(body)
        body = body if dechunked is None else dechunked
    encoding = (content_encoding or "").strip().lower()
    if encoding in ("gzip", "x-gzip", "deflate"):
        for wbits in (47, -15):  # gzip or zlib header; raw deflate
            try:
                inflater = zlib.decompressobj(wbits)
                return inflater.decompress(body, MAX_DECODED)
            except zlib.error:
                continue
    return body
