"""RefinedWeb line cleaning (DCLM's reproduction): every rule and threshold on hand-computed texts."""
from __future__ import annotations

import json

import apache_beam as beam
import pytest
from apache_beam.testing.util import assert_that, equal_to

from tests.conftest import SHARED_DATA, local_pipeline
from thresher.transforms.base import KEPT, REJECTED
from thresher.transforms.document import Document
from thresher.transforms.filters.refinedweb import EMPTY, NO_WORDS, TOO_MUCH_REMOVED, RefinedWebFilter, count_words

KEEP_ALL = dict(max_removed_ratio=1.0)  # see what cleaning does without the 5% page rule


def clean(text, **params):
    step = RefinedWebFilter(**params)
    new_text, stats = step.clean(Document("d", text))
    return new_text, stats, step.decide(stats)


def cleaned(text, **params):
    return clean(text, **{**KEEP_ALL, **params})[0]


def words(n, start=0):
    return " ".join(f"w{i}" for i in range(start, start + n))


# -- word counting (DCLM split_words: fastText tokens starting alphanumeric) -------------------------------

@pytest.mark.parametrize("text, expected", [
    ("", 0),
    ("Hello world", 2),
    ("(hello) world", 1),  # "(hello)" starts with "(": not a word
    ("one\ttwo\nthree\rfour\x0bfive\x0csix\x00seven", 7),  # fastText separators
    ("x\xa0y \xa0z", 1),  # NBSP is not a fastText separator: "x\xa0y" is one word, "\xa0z" none
    ("中文句子。 English", 2),
    ("Привет мир «ёлка»", 2),
    ("_under 3rd ²nd", 2),  # "_" is not alphanumeric; "²" is (str.isalnum)
    ("!!! ... ---", 0),
])
def test_count_words_matches_dclm(text, expected):
    assert count_words(text) == expected


def test_count_words_on_a_long_non_latin_text_takes_the_tokenizing_path():
    text = " ".join(["Привет", "«мир»"] * 40)  # 80 tokens starting non-ASCII, 40 alphanumeric
    assert count_words(text) == 40


# -- each line rule ----------------------------------------------------------------------------------------

def test_all_rules_on_one_page_with_per_rule_statistics():
    text = ("SHOUTING LINE HERE\n"            # uppercase: 16 of 18 characters -> removed (3 words)
            "The weather was mild today.\n"   # kept (5 words)
            "2024\n"                          # only digits -> removed (1)
            "12 comments\n"                   # counter -> removed (2)
            "Menu\n"                          # one word -> removed (1)
            "Home 3 items in cart\n"          # -> "Home 3" (3 words removed)
            "Nice post. Read more...\n"       # -> "Nice post." (2)
            "Sign-in to post a comment")      # -> "to post a comment" (1)
    new_text, stats, reason = clean(text)
    assert new_text == "The weather was mild today.\nHome 3\nNice post.\nto post a comment"
    assert stats == {"words": 26, "removed_ratio": 13 / 26, "kept_lines": 4,
                     "uppercase_removed": 3 / 26, "numeric_removed": 1 / 26, "counter_removed": 2 / 26,
                     "short_line_removed": 1 / 26, "cart_removed": 3 / 26, "read_more_removed": 2 / 26,
                     "sign_in_removed": 1 / 26}
    assert reason == TOO_MUCH_REMOVED


def test_uppercase_ratio_boundary():
    assert cleaned("AAAA bbb\nkeep this line") == "AAAA bbb\nkeep this line"  # 4/8 = 0.5: not above
    assert cleaned("AAAAA bb\nkeep this line") == "keep this line"  # 5/8 = 0.625
    assert cleaned("AB cd\nkeep this line", max_uppercase_ratio=0.4) == "AB cd\nkeep this line"  # 2/5 = 0.4
    assert cleaned("ABC d\nkeep this line", max_uppercase_ratio=0.4) == "keep this line"  # 3/5
    assert cleaned("ÉCOLE Ωmega\nkeep this line") == "keep this line"  # non-ASCII uppercase counts (6/11)


def test_numeric_lines():
    assert cleaned("12345\nkeep this line") == "keep this line"
    assert cleaned("123 45\nkeep this line") == "123 45\nkeep this line"  # the space is not a digit
    assert cleaned("١٢٣ ٤٥\n²³\nkeep this line") == "١٢٣ ٤٥\nkeep this line"  # str.isdigit: Arabic-Indic, ²³
    assert cleaned("1234a b\nkeep this line", max_numeric_ratio=0.5) == "keep this line"  # 4/7 > 0.5
    assert cleaned("123a bc\nkeep this line", max_numeric_ratio=3 / 7) == "123a bc\nkeep this line"  # = 3/7


def test_counter_lines():
    for line in ("3 likes", "12K views", "1,234 comments!", "• 45 shares", "2.5m followers", "7 Downloads"):
        assert cleaned(f"{line}\nkeep this line") == "keep this line", line
    for line in ("3 like it", "I have 3 likes", "3 likes this"):  # singular, not at the start, not at the end
        assert cleaned(f"{line}\nkeep this line") == f"{line}\nkeep this line", line


def test_short_lines_boundary():
    assert cleaned("Menu\ntwo words") == "two words"
    assert cleaned("a b\nc d e") == "a b\nc d e"  # 2 words: kept
    assert cleaned("a b\nc d e", min_words_per_line=3) == "c d e"
    assert cleaned("first line\n\nsecond line") == "first line\n\nsecond line"  # empty lines stay
    assert cleaned("first line\n   \nsecond line") == "first line\nsecond line"  # a line of spaces goes
    assert cleaned("a\nb", min_words_per_line=0) == "a\nb"


def test_items_in_cart_anywhere_and_only_in_short_lines():
    assert cleaned("Home 3 Items In Cart now\nkeep this line") == "Home 3 now\nkeep this line"
    assert cleaned("items in cart\nkeep this line") == "keep this line"  # nothing left of the line
    ten = words(7) + " items in cart"  # 10 words: edited
    assert cleaned(ten + "\nkeep this line") == words(7) + "\nkeep this line"
    eleven = words(8) + " items in cart"  # 11 words: left alone
    assert cleaned(eleven + "\nkeep this line") == eleven + "\nkeep this line"
    assert cleaned(eleven + "\nkeep this line", max_substring_line_words=11) == words(8) + "\nkeep this line"


def test_read_more_at_the_end_only_with_dclm_unescaped_dots():
    assert cleaned("Nice post. Read more...\nkeep this line") == "Nice post.\nkeep this line"
    assert cleaned("Read more... about it\nkeep this line") == "Read more... about it\nkeep this line"
    # DCLM puts "Read more..." into a regex unescaped: the dots match any three characters.
    assert cleaned("Go on and read moreXYZ\nkeep this line") == "Go on and\nkeep this line"


def test_sign_in_at_the_start_only():
    assert cleaned("Sign-in to post a comment\nkeep this line") == "to post a comment\nkeep this line"
    assert cleaned("SIGN-IN now please\nkeep this line") == "now please\nkeep this line"
    assert cleaned("Please Sign-in now\nkeep this line") == "Please Sign-in now\nkeep this line"


def test_the_document_is_stripped_between_stages_as_in_dclm():
    # After the uppercase stage strips the page, "   12345" is "12345" when the numeric rule sees it.
    assert cleaned("   12345\nkeep this line") == "keep this line"
    # The short-line stage does not strip, the next stage does.
    assert cleaned("keep this line\n\n\nMenu") == "keep this line"
    assert cleaned("  keep this line  ") == "keep this line"


# -- the page rule -----------------------------------------------------------------------------------------

def test_removed_ratio_boundary():
    at = words(19) + "\nSingle"  # 1 of 20 words removed = 0.05: kept
    new_text, stats, reason = clean(at)
    assert (new_text, stats["removed_ratio"], reason) == (words(19), 0.05, None)
    past = words(18) + "\nSingle"  # 1 of 19 words = 0.0526
    assert clean(past)[2] == TOO_MUCH_REMOVED
    assert clean(past, max_removed_ratio=1 / 19)[2] is None


@pytest.mark.parametrize("text", ["", "   \n  \t", "!!! ???\n... ---"])
def test_pages_without_words_are_dropped_as_in_dclm(text):
    assert clean(text)[2] == NO_WORDS


def test_a_page_cleaned_to_nothing_is_dropped_even_when_any_ratio_is_allowed():
    assert clean("Menu\nHome", max_removed_ratio=1.0)[2] == EMPTY
    assert clean("Menu\nHome")[2] == TOO_MUCH_REMOVED


def test_clean_page_is_returned_unchanged():
    doc = Document("d", "A perfectly ordinary line of text.\nAnd another one follows it.")
    assert RefinedWebFilter().process(doc) is doc


def test_cjk_lines_without_spaces_are_one_word_each():
    # str.split() sees one word per line: DCLM's one-word rule removes both lines (RefinedWeb is English-only).
    text = "这是一个中文句子。\n这是第二个句子，没有空格。"
    new_text, stats, reason = clean(text)
    assert (new_text, stats["words"], stats["short_line_removed"], reason) == ("", 2, 1.0, TOO_MUCH_REMOVED)
    assert cleaned("中文 句子\n日本語 テキスト") == "中文 句子\n日本語 テキスト"


def test_parameters_are_checked():
    for bad in (dict(max_uppercase_ratio=1.5), dict(max_numeric_ratio=-0.1), dict(max_removed_ratio=2.0),
                dict(min_words_per_line=-1), dict(max_substring_line_words=-1)):
        with pytest.raises(ValueError):
            RefinedWebFilter(**bad)


# -- annotations, dry run, Beam ----------------------------------------------------------------------------

def test_annotations_are_declared():
    doc = RefinedWebFilter(annotate=True).process(Document("d", words(20)))
    assert set(doc.annotations) <= set(RefinedWebFilter.ANNOTATIONS)
    assert doc.annotations["refinedweb_words"] == 20
    dry = RefinedWebFilter(dry_run=True).process(Document("d", "Menu\nHome"))
    assert dry.text == "Menu\nHome" and dry.annotations["refinedweb_drop"] == TOO_MUCH_REMOVED
    assert set(dry.annotations) <= set(RefinedWebFilter.ANNOTATIONS)


def test_beam_kept_and_rejected():
    docs = [Document("ok", words(19) + "\nSingle"), Document("bad", "SHOUT SHOUT\nfine words here"),
            Document("empty", "")]
    with local_pipeline() as p:
        out = p | beam.Create(docs) | RefinedWebFilter()
        assert_that(out[KEPT] | "k" >> beam.Map(lambda d: (d.id, d.text)), equal_to([("ok", words(19))]),
                    label="kept")
        assert_that(out[REJECTED] | "r" >> beam.Map(lambda d: (d.id, d.annotations["drop_reason"])),
                    equal_to([("bad", TOO_MUCH_REMOVED), ("empty", NO_WORDS)]), label="rejected")


def test_real_article_texts(shared_data):
    truth = json.loads((SHARED_DATA / "extraction-scrapinghub-aeb" / "ground-truth.json").read_text())
    texts = [t["articleBody"] for t in truth.values()]
    step = RefinedWebFilter(annotate=True)
    outcomes = [step.process(Document(str(i), t)) for i, t in enumerate(texts)]
    kept = sum(not isinstance(o, str) for o in outcomes)
    print(f"\nrefinedweb on {len(texts)} real articles: {kept} kept")
    assert len(texts) > 100 and 0 < kept < len(texts)
