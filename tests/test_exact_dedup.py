"""exact_dedup: one document per normalised text, chosen by priority, with its group's size."""
from __future__ import annotations

import random

import apache_beam as beam
import pytest
from apache_beam.testing.util import assert_that, equal_to

from pipelines.recipe import step_params
from tests.conftest import local_pipeline
from transforms.base import ERRORS, KEPT, REJECTED
from transforms.document import Document
from transforms.exact_dedup import ExactDedup, content_key, normalize_text

# xxh64 of the ids, computed once by hand with xxhash.xxh64_intdigest:
#   z  327173387797980296 < x 6665539201184043299 < b 8666379929374662555
#   < c 11806979466381907949 < y 13923454618160480178 < a 15154266338359012955


def run(step, docs):
    """(kept [(id, duplicate_count)], rejected [(id, reason)], errors [id])."""
    got = {}
    with local_pipeline() as p:
        out = p | beam.Create(docs) | step
        assert_that(out[KEPT] | "k" >> beam.Map(lambda d: (d.id, d.annotations.get("duplicate_count"))),
                    lambda kept: got.__setitem__("kept", sorted(kept)), label="kept")
        assert_that(out[REJECTED] | "r" >> beam.Map(lambda d: (d.id, d.annotations["drop_step"],
                                                               d.annotations["drop_reason"])),
                    lambda rej: got.__setitem__("rejected", sorted(rej)), label="rejected")
        assert_that(out[ERRORS] | "e" >> beam.Map(lambda e: e["id"]),
                    lambda err: got.__setitem__("errors", sorted(err)), label="errors")
    return got["kept"], got["rejected"], got["errors"]


def dup(doc_id):
    return (doc_id, "exact_dedup", "exact_duplicate")


# ---------------------------------------------------------------- normalisation

@pytest.mark.parametrize("mode, a, b, same", [
    ("lower_whitespace", "Hello World", "hello   world", True),
    ("lower_whitespace", "Hello World", " HELLO\tWorld\n", True),
    ("lower_whitespace", "Hello World", "Hello World!", False),  # one character more
    ("lower_whitespace", "Hello World", "Hello Worle", False),   # one character changed
    ("lower_whitespace", "a b", "ab", False),                     # whitespace collapses, never vanishes
    ("lower_whitespace", "Straße", "STRASSE", False),             # str.lower, not casefold
    ("lower_whitespace", "中文 文本", "中文\u3000文本", True),       # ideographic space is whitespace
    ("whitespace", "Hello  World\n", "Hello World", True),
    ("whitespace", "Hello World", "hello world", False),
    ("none", "Hello World", "Hello World", True),
    ("none", "Hello World", "Hello World ", False),
    ("none", "Hello World", "hello World", False),
    ("lower_whitespace", "", "   \n\t", True),                   # empty and blank texts are one key
])
def test_normalisation_boundaries(mode, a, b, same):
    assert (content_key(Document("1", a), mode) == content_key(Document("2", b), mode)) is same


def test_normalize_text_forms():
    assert normalize_text("  A\u00a0B\n\nC ", "lower_whitespace") == "a b c"
    assert normalize_text("  A\u00a0B\n\nC ", "whitespace") == "A B C"
    assert normalize_text("  A\u00a0B\n\nC ", "none") == "  A\u00a0B\n\nC "
    assert len(content_key(Document("1", "x"), "none")) == 16  # 128 bits


# ---------------------------------------------------------------- groups and priority

def test_groups_of_one_two_and_many():
    docs = [Document("z", "unique text"),                                       # group of 1
            Document("a", "Pair of texts."), Document("c", "pair  of TEXTS."),  # group of 2: c < a
            *[Document(i, "Many copies") for i in ("a2", "b", "x", "y")],         # group of 4 ...
            Document("x2", "many copies"), Document("y2", "MANY COPIES ")]      # ... of 6
    many = sorted(("a2", "b", "x", "y", "x2", "y2"), key=lambda i: __import__("xxhash").xxh64_intdigest(i))
    kept, rejected, errors = run(ExactDedup(), docs)
    assert kept == sorted([("z", 1), ("c", 2), (many[0], 6)])
    assert rejected == sorted([dup("a")] + [dup(i) for i in many[1:]])
    assert errors == []


def test_id_hash_priority_is_the_default():
    kept, rejected, _ = run(ExactDedup(), [Document(i, "same") for i in ("a", "b", "c", "x", "y")])
    assert kept == [("x", 5)]  # smallest id hash of the five
    assert rejected == [dup("a"), dup("b"), dup("c"), dup("y")]


def test_newest_wins_ties_by_id_hash_and_undated_lose():
    docs = [Document("a", "t", date="2024-05-01"), Document("c", "t", date="2024-05-01"),
            Document("b", "t", date="2023-01-01"), Document("z", "t")]
    kept, rejected, _ = run(ExactDedup(priority="newest"), docs)
    assert kept == [("c", 4)]  # a and c tie on date; c's id hash is smaller; z (smallest hash) is undated
    assert rejected == [dup("a"), dup("b"), dup("z")]


def test_annotation_priority_and_ties():
    docs = [Document("a", "t", annotations={"q": 0.9}), Document("y", "t", annotations={"q": 0.9}),
            Document("b", "t", annotations={"q": 0.1}), Document("z", "t")]
    kept, rejected, _ = run(ExactDedup(priority="annotation", priority_annotation="q"), docs)
    assert kept == [("y", 4)]  # a and y tie at 0.9: y's id hash is smaller
    assert rejected == [dup("a"), dup("b"), dup("z")]


def test_normalize_none_keeps_case_variants_apart():
    docs = [Document("a", "Text"), Document("b", "text"), Document("c", "text")]
    kept, rejected, _ = run(ExactDedup(normalize="none"), docs)
    assert kept == [("a", 1), ("b", 2)]
    assert rejected == [dup("c")]


def test_edge_texts():
    docs = [Document("a", ""), Document("b", "   "), Document("c", "!!!"), Document("x", "!!!"),
            Document("y", "中文文本"), Document("z", "中文文本")]
    kept, rejected, _ = run(ExactDedup(), docs)
    assert kept == [("b", 2), ("x", 2), ("z", 2)]  # empty and blank are one text under lower_whitespace
    assert rejected == [dup("a"), dup("c"), dup("y")]


def test_same_result_whatever_the_input_order():
    docs = [Document(f"id-{i}", f"text {i % 7}", date=f"2024-01-{1 + i % 3:02d}") for i in range(60)]
    first = run(ExactDedup(priority="newest"), docs)
    shuffled = list(docs)
    random.Random(4).shuffle(shuffled)
    assert run(ExactDedup(priority="newest"), shuffled) == first
    assert len(first[0]) == 7 and sum(n for _, n in first[0]) == 60


def test_parameters_are_checked_and_typed():
    with pytest.raises(ValueError, match="valid: none, whitespace, lower_whitespace"):
        ExactDedup(normalize="lower")
    with pytest.raises(ValueError, match="needs the annotation"):
        ExactDedup(priority="annotation")
    params = step_params(ExactDedup)
    assert list(params) == ["normalize", "priority", "priority_annotation"]
    assert params["normalize"].default == "lower_whitespace" and params["priority"].default == "id_hash"
    assert ExactDedup.name == "exact_dedup" and ExactDedup.ANNOTATIONS == {"duplicate_count": "int64"}
