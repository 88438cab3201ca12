"""The Document record that flows through every step, and its Beam coder.

A document is a web page (HTML in ``text`` until ``extract`` turns it into
plain text) or a text record. Steps add scores to ``annotations``
(language, language_score, quality scores, cluster size, token count...).

Coder choice, measured by ``benchmarks/coder_bench.py`` (best of 5 x 20,000
encode + decode round trips of one 5 KB document with 6 annotations, one
core, Beam 2.77):

* dict with Beam's default coder: 4.6 µs, not deterministic;
* NamedTuple schema with RowCoder: 4.9 µs, not deterministic (map field),
  and annotations must share one value type (map<str, str>);
* this dataclass with ``DocumentCoder`` (length-prefixed UTF-8 fields +
  orjson annotations with sorted keys): 4.6 µs, deterministic, typed values.

``DocumentCoder`` is as fast as the fastest and the only deterministic one,
so it is the registered coder for ``Document``.
"""
from __future__ import annotations

import dataclasses
import struct
from typing import Any, Dict

import orjson
from apache_beam import coders

AnnotationValue = Any  # str, int, float or bool


@dataclasses.dataclass
class Document:
    """One document: identity, content, provenance and annotations."""

    id: str
    text: str
    url: str = ""
    source: str = ""
    date: str = ""  # ISO 8601 crawl date when known, else ""
    annotations: Dict[str, AnnotationValue] = dataclasses.field(default_factory=dict)

    def with_text(self, text: str, **annotations: AnnotationValue) -> "Document":
        """A copy with new text and extra annotations (the original is untouched)."""
        merged = dict(self.annotations)
        merged.update(annotations)
        return dataclasses.replace(self, text=text, annotations=merged)

    def annotate(self, **annotations: AnnotationValue) -> "Document":
        """A copy with extra annotations."""
        return self.with_text(self.text, **annotations)


_LEN = struct.Struct("<IIIII")


def _utf8(value: str) -> bytes:
    # surrogatepass: text decoded from JSON may hold lone surrogates; never crash on them
    return value.encode("utf-8", "surrogatepass")


class DocumentCoder(coders.Coder):
    """Deterministic binary coder for Document: five length-prefixed UTF-8
    fields followed by the annotations as orjson with sorted keys."""

    def encode(self, doc: Document) -> bytes:
        a, b, c, d, e = (_utf8(doc.id), _utf8(doc.text), _utf8(doc.url), _utf8(doc.source), _utf8(doc.date))
        notes = orjson.dumps(doc.annotations, option=orjson.OPT_SORT_KEYS) if doc.annotations else b""
        return b"".join((_LEN.pack(len(a), len(b), len(c), len(d), len(e)), a, b, c, d, e, notes))

    def decode(self, encoded: bytes) -> Document:
        a, b, c, d, e = _LEN.unpack_from(encoded)
        p1 = _LEN.size + a
        p2 = p1 + b
        p3 = p2 + c
        p4 = p3 + d
        p5 = p4 + e
        return Document(
            encoded[_LEN.size:p1].decode("utf-8", "surrogatepass"),
            encoded[p1:p2].decode("utf-8", "surrogatepass"),
            encoded[p2:p3].decode("utf-8", "surrogatepass"),
            encoded[p3:p4].decode("utf-8", "surrogatepass"),
            encoded[p4:p5].decode("utf-8", "surrogatepass"),
            orjson.loads(encoded[p5:]) if p5 < len(encoded) else {},
        )

    def is_deterministic(self) -> bool:
        return True

    def to_type_hint(self):
        return Document


coders.registry.register_coder(Document, DocumentCoder)
