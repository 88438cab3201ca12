"""Normalize: ftfy repair, Unicode forms, whitespace, blank lines, empty documents."""
from __future__ import annotations

import json
import sys

import apache_beam as beam
import pytest
from apache_beam.testing.util import assert_that, equal_to

from tests.conftest import SHARED_DATA, local_pipeline
from thresher.transforms.base import KEPT, REJECTED
from thresher.transforms.document import Document
from thresher.transforms.rewrite.normalize import EMPTY, Normalize, tidy_whitespace


def norm(text, **params):
    out = Normalize(**params).process(Document("d", text))
    return out if isinstance(out, str) else out.text


# -- whitespace --------------------------------------------------------------------------------------------

def test_whitespace_is_collapsed_and_line_ends_stripped():
    text = "  Hello   world \t!\r\nSecond\u00a0\u00a0line  \n \n\n\nThird  "
    assert norm(text) == "Hello world !\nSecond line\n\nThird"


@pytest.mark.parametrize("text, expected", [
    ("a\tb", "a b"),
    ("a \t \u3000 b", "a b"),  # any run of horizontal whitespace, ideographic space included
    ("a\u2028b\u2029c\x85d\re\r\nf", "a\nb\nc\nd\ne\nf"),  # line separators become "\n"
    ("a\x0bb\x0cc\x1fd", "a b c d"),  # vertical tab, form feed, unit separator: spaces
    ("a\u200bb", "a\u200bb"),  # zero-width space is not whitespace (str.isspace)
    ("line   \n   indented", "line\nindented"),
    ("x\n \t \ny", "x\n\ny"),  # a line of spaces becomes empty
    ("single", "single"),
])
def test_tidy_whitespace(text, expected):
    assert tidy_whitespace(text).strip() == expected


def test_whitespace_can_be_left_alone():
    assert norm("  a  b \n\n\n\nc ", normalize_whitespace=False) == "a  b \n\nc"


# -- blank lines -------------------------------------------------------------------------------------------

def test_consecutive_newlines_boundary():
    assert norm("a\n\nb") == "a\n\nb"  # 2 = max_consecutive_newlines: kept
    assert norm("a\n\n\nb") == "a\n\nb"  # 3 -> 2
    assert norm("a\n\n\n\n\n\nb\n\n\nc") == "a\n\nb\n\nc"
    assert norm("a\nb", max_consecutive_newlines=1) == "a\nb"
    assert norm("a\n\nb", max_consecutive_newlines=1) == "a\nb"
    assert norm("a\n\n\n\nb", max_consecutive_newlines=0) == "a\n\n\n\nb"  # 0: no limit


# -- Unicode forms -----------------------------------------------------------------------------------------

def test_unicode_forms():
    decomposed = "cafe\u0301 \ufb01ne \uff21"  # e + combining acute, "fi" ligature, full-width A
    assert norm(decomposed) == "caf\u00e9 \ufb01ne \uff21"  # NFC composes only
    assert norm(decomposed, unicode_form="NFKC") == "caf\u00e9 fine A"
    assert norm(decomposed, unicode_form="NFD") == decomposed
    assert norm(decomposed, unicode_form="none") == decomposed
    assert norm("caf\u00e9", unicode_form="NFKD") == "cafe\u0301"


def test_nfkc_spaces_are_then_collapsed():
    assert norm("a\u2003\u2003b", unicode_form="NFKC") == "a b"


# -- ftfy --------------------------------------------------------------------------------------------------

def test_fix_unicode_repairs_mojibake_and_keeps_formatting():
    pytest.importorskip("ftfy")
    assert norm("The Mona Lisa doesnÃ¢â‚¬â„¢t have eyebrows.", fix_unicode=True) == \
        "The Mona Lisa doesn\u2019t have eyebrows."  # curly quote kept (uncurl_quotes off)
    assert norm("caf\u00c3\u00a9 &amp; cr\u00c3\u00a8me", fix_unicode=True) == "caf\u00e9 & cr\u00e8me"
    assert norm("\ufb01ne \uff21\uff22 \u201cx\u201d", fix_unicode=True) == "\ufb01ne \uff21\uff22 \u201cx\u201d"
    assert norm("a\x1b[31mred\x1b[0m", fix_unicode=True) == "ared"  # terminal escapes removed
    assert norm("caf\u00c3\u00a9") == "caf\u00c3\u00a9"  # off by default


def test_missing_ftfy_is_a_clear_error_at_setup(monkeypatch):
    monkeypatch.setitem(sys.modules, "ftfy", None)  # makes "import ftfy" raise ImportError
    step = Normalize(fix_unicode=True)
    with pytest.raises(ImportError, match="pip install ftfy"):
        step.setup()
    Normalize().setup()  # not needed without fix_unicode


# -- edges -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text", ["", " ", "\n\n\n", " \t\r\n\u3000\u00a0"])
def test_documents_left_empty_are_dropped(text):
    assert Normalize().process(Document("d", text)) == EMPTY


def test_only_symbols_and_one_line_and_unchanged_documents():
    assert norm("!!! ???") == "!!! ???"
    doc = Document("d", "One clean line.\n\nAnother paragraph.")
    assert Normalize().process(doc) is doc


def test_cjk_text():
    assert norm("中文\u3000句子  測試\r\n日本語のテキスト。") == "中文 句子 測試\n日本語のテキスト。"


def test_parameters_are_checked():
    with pytest.raises(ValueError):
        Normalize(unicode_form="NFX")
    with pytest.raises(ValueError):
        Normalize(max_consecutive_newlines=-1)


def test_beam_kept_and_rejected():
    docs = [Document("a", "  x  y  "), Document("b", " \n "), Document("c", "fine")]
    with local_pipeline() as p:
        out = p | beam.Create(docs) | Normalize()
        assert_that(out[KEPT] | "k" >> beam.Map(lambda d: (d.id, d.text)), equal_to([("a", "x y"), ("c", "fine")]),
                    label="kept")
        assert_that(out[REJECTED] | "r" >> beam.Map(lambda d: (d.id, d.annotations["drop_reason"])),
                    equal_to([("b", EMPTY)]), label="rejected")


def test_beam_with_ftfy():
    pytest.importorskip("ftfy")
    with local_pipeline() as p:
        out = p | beam.Create([Document("a", "caf\u00c3\u00a9")]) | Normalize(fix_unicode=True)
        assert_that(out[KEPT] | beam.Map(lambda d: d.text), equal_to(["caf\u00e9"]))


def test_real_article_texts(shared_data):
    truth = json.loads((SHARED_DATA / "extraction-scrapinghub-aeb" / "ground-truth.json").read_text())
    texts = [t["articleBody"] for t in truth.values()]
    step = Normalize()
    outs = [step.process(Document(str(i), t)) for i, t in enumerate(texts)]
    changed = sum(not isinstance(o, str) and o.text != t for o, t in zip(outs, texts))
    print(f"\nnormalize on {len(texts)} real articles: {changed} changed")
    assert sum(isinstance(o, str) for o in outs) == sum(not t.strip() for t in texts)
