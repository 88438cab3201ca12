"""The keep-one rule of the dedup steps is deterministic and does what it says."""
import pytest

from thresher.transforms.document import Document
from thresher.transforms.dedup.priority import check_rule, id_hash, priority_key


def winner(docs, rule, annotation=None):
    return min(docs, key=lambda d: priority_key(d, rule, annotation)).id


def test_newest_date_wins_and_undated_loses():
    docs = [Document("a", "", date="2023-01-01T00:00:00Z"), Document("b", "", date="2024-05-01T00:00:00Z"),
            Document("c", "")]
    assert winner(docs, "newest") == "b"
    assert winner(list(reversed(docs)), "newest") == "b"
    assert winner([Document("c", ""), Document("a", "", date="2001-01-01")], "newest") == "a"


def test_highest_annotation_wins_missing_or_nan_loses():
    docs = [Document("a", "", annotations={"q": 0.2}), Document("b", "", annotations={"q": 0.9}),
            Document("c", "", annotations={"q": float("nan")}), Document("d", "")]
    assert winner(docs, "annotation", "q") == "b"
    assert winner(docs[2:], "annotation", "q") == min(("c", "d"), key=lambda i: (id_hash(i), i))


def test_ties_break_by_id_hash_whatever_the_order():
    docs = [Document(f"id-{i}", "", date="2024-01-01") for i in range(20)]
    expected = min(docs, key=lambda d: id_hash(d.id)).id
    assert winner(docs, "newest") == winner(list(reversed(docs)), "newest") == expected
    assert winner(docs, "id_hash") == expected


def test_bad_rules_are_rejected():
    with pytest.raises(ValueError, match="valid: newest, annotation, id_hash"):
        check_rule("first", None)
    with pytest.raises(ValueError, match="needs the annotation"):
        check_rule("annotation", None)
