"""line_dedup: C4's corpus-wide line (and 3-sentence span) dedup, winners by MD5 of the URL."""
from __future__ import annotations

import random

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from apache_beam.testing import test_pipeline
from apache_beam.testing.util import assert_that, equal_to

from thresher.pipelines.recipe.params import step_params
from tests.conftest import local_pipeline
from thresher.transforms.base import ERRORS, KEPT, REJECTED
from thresher.transforms.document import Document
from thresher.transforms.dedup.line_dedup import LineDedup, remove_lost, sentence_units, url_rank

# MD5 of the URLs (hex), computed by hand with hashlib: the smallest wins a shared unit.
URL_A = "https://a.example/1"  # d184f307...  4th
URL_B = "https://b.example/2"  # 71a7965f...  1st
URL_C = "https://c.example/3"  # a4ec8f22...  3rd
URL_D = "https://d.example/4"  # 9591fcdd...  2nd

LINE_DOCS = [
    Document("A", "Shared by all four.\nOnly in the first.\nShared by the first and third.\n"
                  "shared by the FIRST and third.", url=URL_A),
    Document("B", "shared by all four.\nShared by the second and fourth.\nOnly in the second.", url=URL_B),
    Document("C", "Shared by the first and third.\n  Shared by all four.  \nOnly in the third.\n"
                  "Shared by the third and fourth.\nShared by all four!", url=URL_C),  # one character differs
    Document("D", "Shared by all four.\nShared by the second and fourth.\nShared by the third and fourth.\n\n"
                  "Only in the fourth.", url=URL_D),
]
# all four -> B; first and third -> C (A loses both spellings); second and fourth -> B;
# third and fourth -> D.
LINE_RESULT = {
    "A": ("Only in the first.", 3),
    "B": ("shared by all four.\nShared by the second and fourth.\nOnly in the second.", 0),  # untouched
    "C": ("Shared by the first and third.\nOnly in the third.\nShared by all four!", 2),
    "D": ("Shared by the third and fourth.\n\nOnly in the fourth.", 2),  # the blank line is no unit: kept
}


def kept_view(pcoll, label):
    return pcoll | label >> beam.Map(lambda d: (d.id, d.text, d.annotations["line_dedup_removed_lines"]))


def rejected_view(pcoll, label):
    return pcoll | label >> beam.Map(lambda d: (d.id, d.annotations["drop_step"], d.annotations["drop_reason"]))


def short(doc_id):
    return (doc_id, "line_dedup", "line_dedup_too_short")


def test_urls_rank_as_computed_by_hand():
    ranks = sorted([URL_A, URL_B, URL_C, URL_D], key=url_rank)
    assert ranks == [URL_B, URL_D, URL_C, URL_A]
    assert url_rank(URL_B) == 0x71a7965f4fdd658f - 2**63  # shifted into int64, order kept


def test_remove_lost_keeps_won_lines_once():
    text = "x\nY\n\n y \nz"
    from thresher.transforms.dedup.line_dedup import line_unit
    won = {line_unit("x"), line_unit("y")}
    assert remove_lost(text, won) == ("x\nY\n", 2, None)  # " y " repeats Y; z was lost
    assert remove_lost("", set()) == ("", 0, None)


def test_sentences_are_counted_over_the_whole_text_as_tfds():
    from thresher.transforms.dedup.line_dedup import too_short
    assert too_short("Shared by A and C.\nOnly in C.\nShared by all four!", None, 2, 0)  # "C." read as an initial
    assert not too_short("One is here.\nTwo are here.", None, 2, 0)  # exactly at the minimum
    assert too_short("One is here.", None, 2, 0) and not too_short("One is here.", None, 1, 0)
    assert too_short(" \n\t", None, 0, 0) and too_short("", 5, 0, 0)  # nothing left: always too short
    assert not too_short("a b c", 0, 0, 3) and too_short("a b", 0, 0, 3)  # words: at and below
    assert too_short("Fine text here.", 2, 3, 0)  # a given count (sentences3) is used as is


def test_four_documents_line_units_and_the_sentence_minimum():
    with local_pipeline() as p:
        docs = p | beam.Create(LINE_DOCS)
        no_min = docs | "no minimum" >> LineDedup(min_sentences=0)
        at_two = docs | "two sentences" >> LineDedup(min_sentences=2)
        tfds = docs | "tfds" >> LineDedup()  # min_sentences 3
        assert_that(kept_view(no_min[KEPT], "k0"),
                    equal_to([(i, t, n) for i, (t, n) in LINE_RESULT.items()]), label="kept, no minimum")
        assert_that(rejected_view(no_min[REJECTED], "r0"), equal_to([]), label="rejected, no minimum")
        # Punkt sentences left: A 1, C 3, D 2; B lost nothing and is never measured.
        assert_that(kept_view(at_two[KEPT], "k2") | "ids2" >> beam.Map(lambda r: r[0]),
                    equal_to(["B", "C", "D"]), label="kept at 2")
        assert_that(rejected_view(at_two[REJECTED], "r2"), equal_to([short("A")]), label="rejected at 2")
        assert_that(kept_view(tfds[KEPT], "k3") | "ids3" >> beam.Map(lambda r: r[0]),
                    equal_to(["B", "C"]), label="kept at 3")
        assert_that(rejected_view(tfds[REJECTED], "r3"), equal_to([short("A"), short("D")]),
                    label="rejected at 3")
        assert_that(no_min[ERRORS], equal_to([]), label="errors")


def test_edge_texts_and_words_minimum():
    docs = [Document("e", "", url=URL_A),                          # empty: no unit, untouched
            Document("w", "  \n\t", url=URL_B),                    # whitespace only: untouched
            Document("s1", "中文的一行。\n!!!", url=URL_A),
            Document("s2", "中文的一行。\n!!!\n另一行 有 三个 词", url=URL_B),  # wins both shared lines
            Document("one", "Repeated everywhere.", url=URL_C),     # one line, lost: left empty
            Document("two", "Repeated everywhere.", url=URL_D)]     # wins it (D ranks before C)
    with local_pipeline() as p:
        out = p | beam.Create(docs) | LineDedup(min_sentences=0, min_words=2)
        assert_that(kept_view(out[KEPT], "k"),
                    equal_to([("e", "", 0), ("w", "  \n\t", 0), ("s2", docs[3].text, 0),
                              ("two", "Repeated everywhere.", 0)]), label="kept")
        # s1 is left empty; one is left empty (the emptiness test needs no minimum)
        assert_that(rejected_view(out[REJECTED], "r"), equal_to([short("s1"), short("one")]), label="rejected")


def test_words_minimum_boundary():
    docs = [Document("win", "Common line here.", url=URL_B),
            Document("lose", "Common line here.\nthree words left", url=URL_A)]
    with local_pipeline() as p:
        inputs = p | beam.Create(docs)
        at = inputs | "at" >> LineDedup(min_sentences=0, min_words=3)
        past = inputs | "past" >> LineDedup(min_sentences=0, min_words=4)
        assert_that(kept_view(at[KEPT], "k1"), equal_to([("win", "Common line here.", 0),
                                                         ("lose", "three words left", 1)]), label="at")
        assert_that(rejected_view(past[REJECTED], "r2"), equal_to([short("lose")]), label="past")


# ---------------------------------------------------------------- 3-sentence spans

SENTENCE_DOCS = [
    Document("P", "The sun rose. The birds sang. The day began. Then it rained.", url=URL_B),
    Document("Q", "It was dawn. The sun rose. The birds sang. The day began.\n! ! !", url=URL_A),
    Document("R", "Hello there. General.\nKenobi.", url=URL_C),
    Document("S", "Hello there. General.\n! ! !\n"
                  "Cats purr. Dogs bark. Birds sing. Cats purr. Dogs bark. Birds sing.", url=URL_D),
]
# P wins (sun, birds, day): Q loses its sentences 2-4. S (2nd) beats R (3rd) on the two-sentence line.
# "! ! !" is made of bare end marks: no unit, kept by Q and S. S repeats (cats, dogs, birds): the
# second occurrence goes; the windows in between are S's own.
SENTENCE_RESULT = [
    ("P", SENTENCE_DOCS[0].text, 0),
    ("Q", "It was dawn.\n! ! !", 3),  # 4 sentences left
    ("R", "Kenobi.", 2),               # 1 sentence left
    ("S", "Hello there. General.\n! ! !\nCats purr. Dogs bark. Birds sing.", 3),
]


def test_sentence_windows():
    units = list(sentence_units(["A.", "B.", "C.", "D."]))
    assert [(s, e) for s, e, _ in units] == [(0, 3), (1, 4)]
    assert [(s, e) for s, e, _ in sentence_units(["A.", "B."])] == [(0, 2)]  # short line: one window
    assert list(sentence_units(["!", "!", "!"])) == [] and list(sentence_units([])) == []
    assert list(sentence_units(["A."]))[0][2] == list(sentence_units(["a."]))[0][2]  # lowercased


def test_four_documents_three_sentence_spans():
    with local_pipeline() as p:
        docs = p | beam.Create(SENTENCE_DOCS)
        one = docs | "min 1" >> LineDedup(unit="sentences3", min_sentences=1)
        two = docs | "min 2" >> LineDedup(unit="sentences3", min_sentences=2)
        assert_that(kept_view(one[KEPT], "k1"), equal_to(SENTENCE_RESULT), label="kept at 1")
        assert_that(kept_view(two[KEPT], "k2") | "ids" >> beam.Map(lambda r: r[0]),
                    equal_to(["P", "Q", "S"]), label="kept at 2")
        assert_that(rejected_view(two[REJECTED], "r2"), equal_to([short("R")]), label="rejected at 2")


# ---------------------------------------------------------------- reproducibility

def run_orders(options=None):
    p = test_pipeline.TestPipeline(runner=FnApiRunner(), options=options) if options else local_pipeline()
    expected = [(i, t, n) for i, (t, n) in LINE_RESULT.items()]
    orders = [LINE_DOCS, list(reversed(LINE_DOCS))]
    shuffled = list(LINE_DOCS)
    random.Random(7).shuffle(shuffled)
    orders.append(shuffled)
    with p:
        for i, order in enumerate(orders):
            out = p | f"docs {i}" >> beam.Create(order) | f"dedup {i}" >> LineDedup(min_sentences=0)
            assert_that(kept_view(out[KEPT], f"k{i}"), equal_to(expected), label=f"kept {i}")
        sent = p | "sentence docs" >> beam.Create(SENTENCE_DOCS) | "spans" >> LineDedup(
            unit="sentences3", min_sentences=1)
        assert_that(kept_view(sent[KEPT], "ks"), equal_to(SENTENCE_RESULT), label="kept spans")


def test_same_result_whatever_the_order_on_one_and_two_workers():
    run_orders()
    run_orders(PipelineOptions(["--direct_num_workers=2", "--direct_running_mode=multi_processing"]))


def test_parameters_are_checked_and_typed():
    with pytest.raises(ValueError, match="valid: line, sentences3"):
        LineDedup(unit="paragraph")
    with pytest.raises(ValueError, match=">= 0"):
        LineDedup(min_sentences=-1)
    params = step_params(LineDedup)
    assert list(params) == ["unit", "min_sentences", "min_words"]
    assert (params["unit"].default, params["min_sentences"].default, params["min_words"].default) == ("line", 3, 0)
    assert LineDedup.name == "line_dedup" and LineDedup.ANNOTATIONS == {"line_dedup_removed_lines": "int64"}


# ---------------------------------------------------------------- real articles

def test_real_articles_match_a_plain_python_reading(shared_data):
    """181 Scrapinghub articles, checked against a plain reading of the rule: no line survives twice."""
    import json
    from thresher.transforms.dedup.line_dedup import line_unit, page_key

    truth = json.loads((shared_data / "extraction-scrapinghub-aeb" / "ground-truth.json").read_text())
    docs = [Document(k, v["articleBody"], url=v["url"]) for k, v in sorted(truth.items())]
    winner = {}
    for d in docs:
        for line in d.text.split("\n"):
            h = line_unit(line)
            if h is not None and (h not in winner or page_key(d) < winner[h]):
                winner[h] = page_key(d)
    expected, survivors = [], []
    for d in docs:
        kept, seen = [], set()
        for line in d.text.split("\n"):
            h = line_unit(line)
            if h is None or (winner[h] == page_key(d) and h not in seen):
                kept.append(line)
                seen.add(h)
        survivors += [h for h in seen if h is not None]
        expected.append((d.id, "\n".join(kept), len(d.text.split("\n")) - len(kept)))
    assert len(survivors) == len(set(survivors)) == len(winner)  # every line once, in one page
    # 28 lines recur across pages: "___" in 6 pages (5 copies go), 27 others in 2 (27 go); and the
    # pages repeat their own lines 301 times (counted with collections.Counter): 5 + 27 + 301 = 333.
    assert sum(n for _, _, n in expected) == 333
    with local_pipeline() as p:
        out = p | beam.Create(docs) | LineDedup(min_sentences=0)
        assert_that(kept_view(out[KEPT], "k"), equal_to(expected))
