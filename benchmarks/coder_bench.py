"""Encode + decode cost of the Document representations Beam could use.

Prints µs per document for: a dict with Beam's default coder, a NamedTuple
schema with RowCoder (annotations as map<str, str>), and the Document
dataclass with DocumentCoder. Usage: python benchmarks/coder_bench.py
"""
from __future__ import annotations

import time
import typing

from apache_beam import coders
from apache_beam.typehints.schemas import named_tuple_to_schema  # noqa: F401  (registers schema support)

from thresher.transforms.document import Document, DocumentCoder

TEXT = ("The quick brown fox jumps over the lazy dog near the river bank. " * 80)[:5000]
ANNOTATIONS = {"language": "en", "language_score": 0.9731, "content_type": "text/html",
               "charset": "utf-8", "offset": 123456, "token_count": 1093}


class DocRow(typing.NamedTuple):
    id: str
    text: str
    url: str
    source: str
    date: str
    annotations: typing.Mapping[str, str]


def _time(coder, value, n=20000, repeats=5) -> float:
    """Best of ``repeats`` runs of ``n`` round trips, in µs per round trip."""
    assert coder.decode(coder.encode(value)) == value
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(n):
            coder.decode(coder.encode(value))
        best = min(best, time.perf_counter() - start)
    return best / n * 1e6


def main():
    base = dict(id="urn:uuid:0b6e0c1a-3f1f-4b7e-9d9e-1c3e0c1a3f1f", text=TEXT,
                url="https://example.test/articles/river", source="web", date="2024-05-20T10:00:00Z")
    as_dict = {**base, "annotations": dict(ANNOTATIONS)}
    row = DocRow(**base, annotations={k: str(v) for k, v in ANNOTATIONS.items()})
    doc = Document(**base, annotations=dict(ANNOTATIONS))
    row_coder = coders.RowCoder.from_type_hint(DocRow, None)
    results = {
        "dict + default coder": (_time(coders.registry.get_coder(dict), as_dict),
                                 coders.registry.get_coder(dict).is_deterministic()),
        "NamedTuple + RowCoder": (_time(row_coder, row), row_coder.is_deterministic()),
        "dataclass + DocumentCoder": (_time(DocumentCoder(), doc), DocumentCoder().is_deterministic()),
    }
    for name, (us, det) in results.items():
        print(f"{name:28s} {us:7.2f} µs per encode+decode  deterministic={det}")


if __name__ == "__main__":
    main()
