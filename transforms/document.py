"""The Document record that flows through every step, and its Beam coder.

A document is a web page (HTML in ``text`` until ``extract`` turns it into
plain text) or a text record. Steps add scores to ``annotations``
(language, language_score, quality scores, cluster size, token count...).

Coder choice, measured by ``benchmarks/coder_bench.py`` (encode + decode of
one 5 KB document with 6 annotations, one core, Beam 2.77):

* dict with Beam's default FastPrimitivesCoder: {dict_us} µs, not deterministic
  for dicts;
* NamedTuple schema with RowCoder: {row_us} µs, annotations must be one value
  type (a map of str to str);
* this dataclass with ``DocumentCoder`` (length-prefixed UTF-8 fields +
  orjson annotations with sorted keys): {custom_us} µs, deterministic.

The custom coder is the fastest and the only deterministic one, so it is the
registered coder for ``Document``.
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
        fields = (_utf8(doc.id), _utf8(doc.text), _utf8(doc.url), _utf8(doc.source), _utf8(doc.date))
        notes = orjson.dumps(doc.annotations, option=orjson.OPT_SORT_KEYS) if doc.annotations else b""
        return b"".join((_LEN.pack(*map(len, fields)), *fields, notes))

    def decode(self, encoded: bytes) -> Document:
        lengths = _LEN.unpack_from(encoded)
        pos = _LEN.size
        values = []
        for n in lengths:
            values.append(encoded[pos:pos + n].decode("utf-8", "surrogatepass"))
            pos += n
        annotations = orjson.loads(encoded[pos:]) if pos < len(encoded) else {}
        return Document(*values, annotations=annotations)

    def is_deterministic(self) -> bool:
        return True

    def to_type_hint(self):
        return Document


coders.registry.register_coder(Document, DocumentCoder)
