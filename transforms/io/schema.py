"""The columns of a written document: the Arrow schema of Parquet output, the flat JSON object
of JSONL output, and the date parsing both share.

``url`` is null when unknown (empty). ``date`` is ``timestamp[us, tz=UTC]``,
parsed from the document's date string (``parse_date``: ISO 8601 dates and
date-times, basic or extended, with ``Z`` or a ``+hh:mm`` offset; a time
without a zone is read as UTC). A missing date is null; an unparseable one
is null too and its raw string is kept as ``date_raw`` in ``metadata`` (when the
writer has that column).
JSONL output writes nulls as JSON null, the date as an ISO 8601 string in UTC
(``2024-05-01T12:00:00Z``) and an unparseable one's raw string as ``date_raw``.
"""
from __future__ import annotations

import datetime
import re
from typing import Any, Dict, Optional

import pyarrow as pa

from thresher.transforms.document import Document

BASE_FIELDS = ("id", "text", "url", "source", "date")
DATE_TYPE = pa.timestamp("us", tz="UTC")
DATE_RAW = "date_raw"  # metadata key of a date string that does not parse
ARROW_TYPES = {"string": pa.string(), "float64": pa.float64(), "int64": pa.int64(), "bool": pa.bool_()}
_COERCE = {"string": str, "float64": float, "int64": int, "bool": bool}

_ISO_DATE = re.compile(
    r"(\d{4})-?(\d{2})-?(\d{2})"  # date
    r"(?:[Tt ](\d{2})(?::?(\d{2})(?::?(\d{2})(?:[.,](\d{1,9}))?)?)?)?"  # time
    r"\s*(?:([Zz])|([+-])(\d{2})(?::?(\d{2}))?)?$", re.ASCII)  # zone


def parse_date(value: str) -> Optional[datetime.datetime]:
    """An ISO 8601 date or date-time as an aware UTC datetime; None when empty or unparseable."""
    match = _ISO_DATE.match(value.strip()) if value else None
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, _, sign, off_h, off_m = match.groups()
    try:
        offset = datetime.timedelta(hours=int(off_h or 0), minutes=int(off_m or 0))
        if offset >= datetime.timedelta(hours=24) or int(off_m or 0) > 59:
            return None
        zone = datetime.timezone(-offset if sign == "-" else offset)
        parsed = datetime.datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0),
                                   int(second or 0), int((fraction or "0")[:6].ljust(6, "0")), tzinfo=zone)
        return parsed.astimezone(datetime.timezone.utc)
    except (ValueError, OverflowError):  # month 13, hour 25, a year out of range...
        return None


def iso_utc(when: datetime.datetime) -> str:
    """``2024-05-01T12:00:00Z`` (microseconds only when there are some)."""
    return when.isoformat().replace("+00:00", "Z")


def document_schema(annotations: Dict[str, str], metadata: bool = True) -> pa.Schema:
    """Arrow schema: base fields, declared annotations (sorted), then ``metadata`` (JSON) if asked."""
    fields = [pa.field(name, DATE_TYPE if name == "date" else pa.string(), nullable=(name != "id"))
              for name in BASE_FIELDS]
    for name in sorted(annotations):
        if name in BASE_FIELDS or name == "metadata":
            raise ValueError(f"annotation {name!r} clashes with a base column")
        fields.append(pa.field(name, ARROW_TYPES[annotations[name]]))
    if metadata:
        fields.append(pa.field("metadata", pa.string()))
    return pa.schema(fields)


def coerce(value: Any, type_name: str) -> Any:
    """``value`` as the column type ``type_name``; None when missing or not convertible."""
    try:
        return None if value is None else _COERCE[type_name](value)
    except (TypeError, ValueError):
        return None


def clean(text: str) -> str:
    """Text safe for Arrow/JSON: lone surrogates replaced."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def document_json(doc: Document) -> Dict[str, Any]:
    """A document as one flat JSON object: base fields (null url/date when unknown, the date in
    ISO 8601 UTC), then its annotations; ``date_raw`` holds a date that does not parse."""
    date = parse_date(doc.date)
    record = {"id": clean(doc.id), "text": clean(doc.text), "url": clean(doc.url) if doc.url else None,
              "source": clean(doc.source), "date": iso_utc(date) if date else None}
    if date is None and doc.date:
        record[DATE_RAW] = clean(doc.date)
    for key, value in doc.annotations.items():
        record.setdefault(key, value)
    return record
