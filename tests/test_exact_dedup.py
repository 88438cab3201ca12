"""exact_dedup: one document per normalised text, chosen by priority, with its group's size."""
from __future__ import annotations

import random

import apache_beam as beam
import pytest
from apache_beam.testing.util import assert_that, equal_to

from thresher.pipelines.recipe.params import step_params
from tests.conftest import local_pipeline
from thresher.transforms.base import ERRORS, KEPT, REJECTED
from thresher.transforms.document import Document
from thresher.transforms.dedup.exact_dedup import ExactDedup, content_key, normalize_text
from thresher.transforms.dedup.priority import priority_key

# xxh64 of the ids, computed once by hand with xxhash.xxh64_intdigest:
#   z  327173387797980296 < x 6665539201184043299 < b 8666379929374662555
#   < c 11806979466381907949 < y 13923454618160480178 < a 15154266338359012955
#   and x2 8244485894526783231, a2 11532782514799973195, y2 17029118772450927433


def check_all(cases):
    """Run every (step, docs, kept, rejected) case in one pipeline: kept as [(id, exact_copies)],
    rejected as [(id, step, reason)]; no errors expected."""
    with local_pipeline() as p:
        for i, (step, docs, kept, rejected) in enumerate(cases):
            out = p | f"docs {i}" >> beam.Create(docs) | f"step {i}" >> step
            assert_that(out[KEPT] | f"k {i}" >> beam.Map(lambda d: (d.id, d.annotations.get("exact_copies"))),
                        equal_to(kept), label=f"kept {i}")
            assert_that(out[REJECTED] | f"r {i}" >> beam.Map(
                lambda d: (d.id, d.annotations["drop_step"], d.annotations["drop_reason"])),
                equal_to(rejected), label=f"rejected {i}")
            assert_that(out[ERRORS], equal_to([]), label=f"errors {i}")


def check(step, docs, kept, rejected):
    check_all([(step, docs, kept, rejected)])


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
    check(ExactDedup(), docs,
          kept=[("c", 2), ("x", 6), ("z", 1)],  # x has the smallest id hash of the six
          rejected=[dup("a"), dup("a2"), dup("b"), dup("x2"), dup("y"), dup("y2")])


def test_priority_rules_and_their_ties():
    check_all([
        # id_hash (the default): smallest id hash of the five
        (ExactDedup(), [Document(i, "same") for i in ("a", "b", "c", "x", "y")],
         [("x", 5)], [dup("a"), dup("b"), dup("c"), dup("y")]),
        # newest: a and c tie on date, c's id hash is smaller; z (smallest hash) is undated
        (ExactDedup(priority="newest"),
         [Document("a", "t", date="2024-05-01"), Document("c", "t", date="2024-05-01"),
          Document("b", "t", date="2023-01-01"), Document("z", "t")],
         [("c", 4)], [dup("a"), dup("b"), dup("z")]),
        # annotation: a and y tie at 0.9, y's id hash is smaller; z has no score
        (ExactDedup(priority="annotation", priority_annotation="q"),
         [Document("a", "t", annotations={"q": 0.9}), Document("y", "t", annotations={"q": 0.9}),
          Document("b", "t", annotations={"q": 0.1}), Document("z", "t")],
         [("y", 4)], [dup("a"), dup("b"), dup("z")]),
    ])


def test_normalisation_in_the_pipeline_and_edge_texts():
    check_all([
        (ExactDedup(normalize="none"), [Document("a", "Text"), Document("b", "text"), Document("c", "text")],
         [("a", 1), ("b", 2)], [dup("c")]),
        # empty and blank texts are one text under lower_whitespace
        (ExactDedup(), [Document("a", ""), Document("b", "   "), Document("c", "!!!"), Document("x", "!!!"),
                        Document("y", "中文文本"), Document("z", "中文文本")],
         [("b", 2), ("x", 2), ("z", 2)], [dup("a"), dup("c"), dup("y")]),
    ])


def test_same_result_whatever_the_input_order():
    docs = [Document(f"id-{i}", f"text {i % 7}", date=f"2024-01-{1 + i % 3:02d}") for i in range(60)]
    groups = {}
    for d in docs:
        groups.setdefault(d.text, []).append(d)
    winners = {min(g, key=lambda d: priority_key(d, "newest")).id: len(g) for g in groups.values()}
    kept = sorted(winners.items())
    rejected = [dup(d.id) for d in docs if d.id not in winners]
    assert len(kept) == 7 and len(rejected) == 53
    shuffled = list(docs)
    random.Random(4).shuffle(shuffled)
    check_all([(ExactDedup(priority="newest"), order, kept, rejected)
               for order in (docs, shuffled, list(reversed(docs)))])


def test_parameters_are_checked_and_typed():
    with pytest.raises(ValueError, match="valid: none, whitespace, lower_whitespace"):
        ExactDedup(normalize="lower")
    with pytest.raises(ValueError, match="needs the annotation"):
        ExactDedup(priority="annotation")
    params = step_params(ExactDedup)
    assert list(params) == ["normalize", "priority", "priority_annotation"]
    assert params["normalize"].default == "lower_whitespace" and params["priority"].default == "id_hash"
    assert ExactDedup.name == "exact_dedup" and ExactDedup.ANNOTATIONS == {"exact_copies": "int64"}
