"""Exact dedup: one document per identical (normalised) text.

The key is the 128-bit xxh3 hash of the text after normalisation; at 128 bits
two different texts share a key with probability about n^2 / 2^129 (1e-20 for
ten billion documents). Which copy is kept follows ``thresher.transforms.dedup.priority``;
the work is done by ``thresher.transforms.dedup.keep_one.KeepOnePerKey`` (a combiner per key,
then a join on (key, id): no group of copies is ever held in memory).
"""
from __future__ import annotations

import functools
from typing import Optional

import xxhash

from thresher.transforms.base import ParamError, Step
from thresher.transforms.document import Document
from thresher.transforms.dedup.keep_one import KeepOnePerKey
from thresher.transforms.dedup.priority import check_rule

#: how the text is normalised before hashing
NORMALIZATIONS = ("none", "whitespace", "lower_whitespace")
REASON = "exact_duplicate"


def normalize_text(text: str, normalize: str) -> str:
    """``none``: as is; ``whitespace``: runs of Unicode whitespace become one
    space and the ends are stripped; ``lower_whitespace``: also lowercased (str.lower)."""
    if normalize == "none":
        return text
    if normalize == "lower_whitespace":
        text = text.lower()
    return " ".join(text.split())


def content_key(doc: Document, normalize: str) -> bytes:
    """128-bit xxh3 of the normalised text's UTF-8 bytes."""
    return xxhash.xxh3_128_digest(normalize_text(doc.text, normalize).encode("utf-8", "surrogatepass"))


class ExactDedup(Step):
    """Keep one document per identical text (after normalisation); reject the copies as exact_duplicate.

    The kept document is annotated with ``exact_copies``, the number of
    documents that had its text, itself included (1 for a unique text;
    datatrove's ``duplicate_count`` counts only the removed ones). Empty texts
    are one key like any other: all but one empty document are rejected.

    normalize: none (exact UTF-8 bytes), whitespace (runs collapsed to one space, ends stripped)
        or lower_whitespace (also lowercased).
    priority: which copy is kept: id_hash (smallest id hash), newest (newest date) or annotation (highest value).
    priority_annotation: the annotation read by the ``annotation`` priority.
    """

    name = "exact_dedup"
    LIGHT_SHUFFLES = True  # KeepOnePerKey ships documents without their text where it can
    ANNOTATIONS = {"exact_copies": "int64"}
    ANNOTATION_DOCS = {"exact_copies": "documents that had this text (after normalize), the kept one included"}
    DROP_REASONS = {REASON: "same text (after normalize) as the kept document"}

    def __init__(self, normalize: str = "lower_whitespace", priority: str = "id_hash",
                 priority_annotation: Optional[str] = None):
        super().__init__()
        if normalize not in NORMALIZATIONS:
            raise ParamError("normalize", f"exact_dedup: unknown normalize {normalize!r}; valid: {', '.join(NORMALIZATIONS)}")
        check_rule(priority, priority_annotation)
        self.normalize = normalize
        self.priority = priority
        self.priority_annotation = priority_annotation

    def expand(self, docs):
        return docs | "keep one per text" >> KeepOnePerKey(
            self.name, REASON, functools.partial(content_key, normalize=self.normalize),
            self.priority, self.priority_annotation, count_annotation="exact_copies")
