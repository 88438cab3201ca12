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
from typing import Any, Dict, Optional, Tuple

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
    #: where this document, text included, can be read again: (prefix cache entry file, ordinal of its
    #: kept record); set where the document is read from or written to an entry, kept while the text is
    #: unchanged, never encoded (it lives within a fused stage; ``light`` carries it across a shuffle)
    ref: Optional[Tuple[str, int]] = dataclasses.field(default=None, compare=False, repr=False)

    def with_text(self, text: str, **annotations: AnnotationValue) -> "Document":
        """A copy with new text and extra annotations (the original is untouched)."""
        merged = dict(self.annotations)
        merged.update(annotations)
        ref = self.ref if self.ref is not None and (text is self.text or text == self.text) else None
        return dataclasses.replace(self, text=text, annotations=merged, ref=ref)

    def annotate(self, **annotations: AnnotationValue) -> "Document":
        """A copy with extra annotations."""
        return self.with_text(self.text, **annotations)


#: the annotation of a light document that says where its text is: [entry file, ordinal]
REF_ANNOTATION = "_ref"


def light(doc: Document) -> Document:
    """The document without its text, for a shuffle, when its text can be read again (``doc.ref``); else
    the document itself. Steps that send light documents say so (``Step.LIGHT_SHUFFLES``): the pipeline
    then reads the text of what they output again (``thresher.transforms.io.rehydrate``)."""
    if doc.ref is None:
        return doc
    return Document(doc.id, "", doc.url, doc.source, doc.date, {**doc.annotations, REF_ANNOTATION: list(doc.ref)})


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
