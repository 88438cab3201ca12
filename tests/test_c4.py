"""C4 line cleaning and page rules (C4Filter) and the LDNOOBW bad-words filter (C4BadWords)."""
from __future__ import annotations

import json
import re
from typing import Any

import apache_beam as beam
import pytest
from apache_beam.testing.util import assert_that, equal_to

from thresher.pipelines.recipe.params import step_params
from tests.conftest import SHARED_DATA, local_pipeline
from thresher.transforms.base import ERRORS, KEPT, REJECTED
from thresher.transforms.filters.c4 import C4Filter
from thresher.transforms.filters.c4_badwords import C4BadWords
from thresher.transforms.text.patterns import trie_pattern
from thresher.transforms.text.sentences import count_sentences, english_punkt
from thresher.transforms.document import Document

LDNOOBW = SHARED_DATA / "wordlists" / "ldnoobw"
ARTICLES = SHARED_DATA / "extraction-scrapinghub-aeb" / "ground-truth.json"
TFDS = dict(min_words_per_line=5, min_num_sentences=3, end_marks=[".", "?", "!", '"'],
            words_before_citation_removal=False)


def run(step, text, **annotations):
    return step.process(Document("d", text, annotations=annotations))


def five_sentences(n=5):
    return "\n".join(f"Line number {i} is here." for i in range(n))


# ---------------------------------------------------------------- sentences (Punkt, English model)

@pytest.mark.parametrize("text, expected", [  # NLTK's own test_sent_tokenize cases for the English model
    ("this is a test. . new sentence.", ["this is a test.", ".", "new sentence."]),
    ("This. . . That", ["This.", ".", ".", "That"]),
    ("This..... That", ["This..... That"]),
    ("This... That", ["This... That"]),
    ("This.. . That", ["This.. .", "That"]),
    ("This. .. That", ["This.", ".. That"]),
    ("This. ,. That", ["This.", ",.", "That"]),
    ("This!!! That", ["This!!!", "That"]),
    ("This! That", ["This!", "That"]),
    ("1. This is R .\n2. This is A .\n3. That's all", ["1.", "This is R .", "2.", "This is A .", "3.", "That's all"]),
    ("Hello.\tThere", ["Hello.", "There"]),
    ("Mr. Smith went to Washington. He saw the U.S. Capitol. It was big!",
     ["Mr. Smith went to Washington.", "He saw the U.S. Capitol.", "It was big!"]),
    # NLTK <= 3.8 (C4 and FineWeb): a curly quote after the period is no boundary
    ("\u201cHello there.\u201d Bye now, he said.", ["\u201cHello there.\u201d Bye now, he said."]),
])
def test_punkt_english_model(text, expected):
    assert english_punkt().tokenize(text) == expected


def test_fast_sentence_count_equals_punkt_on_real_lines():
    lines = [line for v in json.loads(ARTICLES.read_text()).values()
             for line in v["articleBody"].splitlines()][:1500]
    tokenizer = english_punkt()
    assert all(count_sentences(line) == len(tokenizer.tokenize(line)) for line in lines)
    assert count_sentences("") == 0 and count_sentences("   ") == 0 and count_sentences("no end mark") == 1


# ---------------------------------------------------------------- C4Filter: known answers

PAGE = "\n".join([
    "Home",                                              # no end mark
    "The quick brown fox jumps over the dog.",           # 1 sentence
    "Menu Login",                                        # no end mark
    "It was a sunny day. We went to the park.",          # 2 sentences
    "This site uses cookies. Accept them.",              # policy
    "Please enable JavaScript to continue.",             # javascript
    "Read more...",                                      # ellipsis
    "Too short.",                                        # 2 words < 3
    "Wikipedia says so.[1]",                             # citation removed: 1 sentence
    "Another sentence here. And one more! Really?",      # 3 sentences
])
PAGE_KEPT = "\n".join([
    "The quick brown fox jumps over the dog.", "It was a sunny day. We went to the park.",
    "Wikipedia says so.", "Another sentence here. And one more! Really?"])


def test_page_cleaned_and_statistics():
    doc = run(C4Filter(annotate=True), PAGE)
    assert doc.text == PAGE_KEPT
    assert doc.annotations == {
        "c4_lines": 10, "c4_lines_kept": 4, "c4_lines_too_long_word": 0, "c4_lines_no_terminal_punct": 3,
        "c4_lines_too_few_words": 1, "c4_lines_javascript": 1, "c4_lines_policy": 1,
        "c4_sentences": 7, "c4_lorem_ipsum": False, "c4_curly_bracket": False}
    assert set(doc.annotations) == set(C4Filter.ANNOTATIONS) - {"c4_drop"}  # c4_drop: dry_run only


def test_unchanged_text_is_the_same_object():
    doc = Document("d", five_sentences())
    assert C4Filter().process(doc) is doc


@pytest.mark.parametrize("n, reason", [(5, None), (4, "c4_too_few_sentences")])
@pytest.mark.parametrize("annotate", [False, True])
def test_min_num_sentences_boundary_counted_by_lines(n, reason, annotate):
    out = run(C4Filter(annotate=annotate), five_sentences(n))
    assert (out if isinstance(out, str) else None) == reason


@pytest.mark.parametrize("text, reason", [
    ("One is here. Two is here. Three is here. Four is here. Five is here.", None),  # 5 Punkt sentences
    ("One is here. Two is here. Three is here. Four is here.", "c4_too_few_sentences"),
    ("Mr. Smith met Dr. Jones. They talked a lot. Then they left.\nIt was late, he said.", "c4_too_few_sentences"),  # 4
])
def test_min_num_sentences_counted_by_punkt(text, reason):
    out = run(C4Filter(), text)
    assert (out if isinstance(out, str) else None) == reason


def test_tfds_sentence_threshold_is_three():
    assert run(C4Filter(**TFDS), "Here are five words now. And five more words here. Last one is here too.").text
    assert run(C4Filter(**TFDS), "Here are five words now. And five more words here.") == "c4_too_few_sentences"


@pytest.mark.parametrize("line, kept_default, kept_tfds", [
    ("One two three.", True, False),            # 3 words: datatrove minimum
    ("One two.", False, False),                 # 2 words
    ("One two three four five.", True, True),   # 5 words: TFDS minimum
    ("One two three four.", True, False),
])
def test_min_words_per_line_boundary(line, kept_default, kept_tfds):
    for config, expected in ((dict(), kept_default), (TFDS, kept_tfds)):
        step = C4Filter(annotate=True, **dict(config, min_num_sentences=1))
        out = run(step, line)
        assert (not isinstance(out, str)) == expected, config


def test_words_counted_before_or_after_citation_removal():
    line = "Yes [1] [2] it is."  # 5 words as written, 3 once the citations go
    assert run(C4Filter(min_words_per_line=5, min_num_sentences=1), line).text == "Yes   it is."
    out = run(C4Filter(min_words_per_line=5, min_num_sentences=1, words_before_citation_removal=False), line)
    assert out == "c4_too_few_sentences"


@pytest.mark.parametrize("size, dropped", [(1000, False), (1001, True)])
def test_max_word_length_boundary(size, dropped):
    step = C4Filter(annotate=True, min_num_sentences=1)
    out = run(step, f"Here is {'a' * size} word.\nThis line stays here.")
    assert out.annotations["c4_lines_too_long_word"] == int(dropped)
    assert C4Filter(max_word_length=-1, min_num_sentences=2).process(
        Document("d", f"Here is {'a' * 5000} word.\nThis line stays here.")).text.startswith("Here is")


@pytest.mark.parametrize("line, default, tfds", [
    ("He said it was 'fine'", True, False),    # single quote: datatrove only
    ('He said it was "fine"', True, True),
    ("Is this the end? Yes!", True, True),
    ("And then it went on...", False, False),  # ellipsis never ends a line
    ("And then it went on", False, False),
    ("Trailing citation here. [2]", False, False),  # "... here. " ends in a space after removal
])
def test_end_marks(line, default, tfds):
    lines = "\n".join([line] + ["This is a filler line."] * 5)
    for config, expected in ((dict(min_num_sentences=1), default), (dict(TFDS, min_words_per_line=3), tfds)):
        out = run(C4Filter(annotate=True, **config), lines)
        assert (out.annotations["c4_lines_no_terminal_punct"] == 0) == expected, config


def test_no_terminal_punct_off_keeps_unpunctuated_lines():
    text = "Welcome to our home page\n" + five_sentences()
    step = C4Filter(filter_no_terminal_punct=False, annotate=True)
    assert run(step, text).text == text
    assert run(C4Filter(), text).text == five_sentences()


@pytest.mark.parametrize("marker", ["[1]", "[23]", "[]", "[edit]", "[citation needed]"])
def test_citations_removed(marker):
    out = run(C4Filter(min_num_sentences=1), f"The sky is blue{marker}.")
    assert out.text == "The sky is blue."


def test_other_brackets_and_disabled_removal_stay():
    assert run(C4Filter(min_num_sentences=1), "The sky is blue[a].").text == "The sky is blue[a]."
    assert run(C4Filter(min_num_sentences=1, remove_citations=False), "The sky is blue.[1]") == "c4_too_few_sentences"


@pytest.mark.parametrize("line, reason", [
    ("Lorem ipsum dolor sit amet.", "c4_lorem_ipsum"),
    ("LOREM IPSUM dolor sit amet.", "c4_lorem_ipsum"),
    ("Lorem ipsum dolor sit amet", None),                # no end mark: the line goes first
    ("function f() { return 1; }.", "c4_curly_bracket"),
    ("var x = {a: 1}", None),                            # no end mark
    ("Enable javascript: var x = {a: 1}.", None),        # javascript line goes before the bracket test
    ("Ab {}.", None),                                    # 2 words: too few before the bracket test
])
def test_page_rules_see_only_surviving_lines(line, reason):
    out = run(C4Filter(), line + "\n" + five_sentences())
    assert (out if isinstance(out, str) else None) == reason


def test_page_rules_can_be_turned_off():
    text = "Lorem ipsum dolor sit amet.\nThe code is {x}.\n" + five_sentences()
    assert run(C4Filter(filter_lorem_ipsum=False, filter_curly_bracket=False), text).text == text
    assert run(C4Filter(filter_lorem_ipsum=False), text) == "c4_curly_bracket"


@pytest.mark.parametrize("line", [
    "Read our Terms of Use here.", "See the privacy policy today.", "Our Cookie Policy applies here.",
    "This website uses cookies daily.", "By continuing you accept the use of cookies.", "We use cookies here.",
])
def test_policy_lines(line):
    out = run(C4Filter(annotate=True), line + "\n" + five_sentences())
    assert out.annotations["c4_lines_policy"] == 1 and out.text == five_sentences()
    assert run(C4Filter(filter_policy=False), line + "\n" + five_sentences()).text.startswith(line)


def test_javascript_line_and_off():
    text = "Please enable JavaScript in your browser.\n" + five_sentences()
    assert run(C4Filter(), text).text == five_sentences()
    assert run(C4Filter(filter_javascript=False), text).text == text


@pytest.mark.parametrize("text", ["", "   \n\t\n", "!!! ??? ... ---", "One line only.",
                                  "这是一个测试。这是第二句话。\n这是第三句话。",
                                  "日本語の文章です。とても短い。", "นี่คือประโยคภาษาไทย ประโยคที่สอง"])
def test_edge_cases_drop_without_crashing(text):
    assert run(C4Filter(), text) == "c4_too_few_sentences"


def test_cjk_kept_when_rules_allow_it():
    text = "这是一个测试。这是第二句话。"
    step = C4Filter(filter_no_terminal_punct=False, min_words_per_line=0, min_num_sentences=1, annotate=True)
    out = run(step, text)
    assert out.text == text and out.annotations["c4_sentences"] == 1  # no ASCII boundary: one sentence


def test_dry_run_annotates_and_keeps_everything():
    out = run(C4Filter(dry_run=True), "Lorem ipsum dolor sit amet.")
    assert out.text == "Lorem ipsum dolor sit amet."
    assert out.annotations["c4_drop"] == "c4_lorem_ipsum" and out.annotations["c4_lorem_ipsum"] is True
    out = run(C4Filter(dry_run=True), PAGE)
    assert out.text == PAGE and out.annotations["c4_sentences"] == 7 and "c4_drop" not in out.annotations


@pytest.mark.parametrize("kwargs", [dict(end_marks=[]), dict(end_marks=[""]), dict(max_word_length=-2)])
def test_bad_parameters(kwargs):
    with pytest.raises(ValueError):
        C4Filter(**kwargs)


def test_real_articles_same_decisions_annotated_or_not():
    docs = [Document(k, v["articleBody"]) for k, v in json.loads(ARTICLES.read_text()).items()]
    fast, exact = C4Filter(), C4Filter(annotate=True)
    fast.setup()
    out_fast = [fast.process(d) for d in docs]
    out_exact = [exact.process(d) for d in docs]
    for a, b in zip(out_fast, out_exact):
        assert (a if isinstance(a, str) else a.text) == (b if isinstance(b, str) else b.text)


def test_beam_kept_and_rejected():
    docs = [Document("ok", five_sentences()), Document("lorem", "Lorem ipsum dolor sit amet.\n" + five_sentences()),
            Document("few", "Just one line here."), Document("curly", "It costs {price} today.\n" + five_sentences()),
            Document("clean", "Menu\n" + five_sentences())]
    with local_pipeline() as p:
        out = p | beam.Create(docs) | C4Filter()
        assert_that(out[KEPT] | "k" >> beam.Map(lambda d: (d.id, d.text)),
                    equal_to([("ok", five_sentences()), ("clean", five_sentences())]), label="kept")
        assert_that(out[REJECTED] | "r" >> beam.Map(lambda d: (d.id, d.annotations["drop_reason"])),
                    equal_to([("lorem", "c4_lorem_ipsum"), ("few", "c4_too_few_sentences"),
                              ("curly", "c4_curly_bracket")]), label="rejected")
        assert_that(out[ERRORS], equal_to([]), label="errors")


# ---------------------------------------------------------------- C4BadWords

@pytest.mark.parametrize("cls", [C4Filter, C4BadWords])
def test_parameters_are_typed_with_defaults(cls):
    for p in step_params(cls).values():
        assert not p.required and p.hint is not Any, p.name

@pytest.fixture(scope="module")
def badwords():
    step = C4BadWords(wordlist_dir=str(LDNOOBW), annotate=True)
    step.setup()
    return step


@pytest.mark.parametrize("text, word", [
    ("Buy xxx videos now.", "xxx"),
    ("Sex education matters.", "sex"),        # start of text
    ("We talked about sex", "sex"),           # end of text
    ("A talk (sex) here.", "sex"),
    ("A line\nsex\nanother", "sex"),
    ("Sussex and Essex are counties.", ""),   # inside a word
    ("_sex_ and sex1 are not words.", ""),    # \w includes _ and digits
    ("2 girls 1 cup", "2 girls 1 cup"),       # entries with spaces
    ("a s&m shop", "s&m"),                    # entries with non-word characters
    ("A perfectly clean sentence.", ""),
    ("", ""),
])
def test_english_word_boundaries(badwords, text, word):
    out = run(badwords, text)
    if word:
        assert out == "c4_badwords"
        assert badwords.score(Document("d", text))["word"] == word
    else:
        assert out.annotations["c4_badwords_found"] is False and out.annotations["c4_badwords_listed"] is True


def test_c4_english_list_is_the_default(badwords):
    assert run(badwords, "I feel horny today.").annotations["c4_badwords_found"] is False  # not in 25e679f
    newest = C4BadWords(wordlist_dir=str(LDNOOBW), english_file="en")
    assert run(newest, "I feel horny today.") == "c4_badwords"


@pytest.mark.parametrize("lang, text, found", [
    ("zh", "我喜欢乳制品。", True),           # substring match: 乳 inside 乳制品
    ("zh", "请填写性别。", False),             # 性 is allowlisted
    ("ja", "彼女の子供はかわいい。", False),    # 女の子 is allowlisted (and no other entry matches)
    ("ja", "smileが好きです。", False),        # sm is allowlisted
    ("th", "ฉันชอบกะปิมาก", True),
    ("de", "Das ist eine MILF.", False),       # capitalised entry never matches lower-cased text
    ("de", "Ein ganz normaler Satz.", False),
])
def test_other_languages(badwords, lang, text, found):
    out = run(badwords, text, language=lang)
    assert (out == "c4_badwords") == found


def test_lowercase_lists():
    step = C4BadWords(wordlist_dir=str(LDNOOBW), lowercase_lists=True)
    assert run(step, "Das ist eine MILF.", language="de") == "c4_badwords"


def test_language_annotation_and_default(badwords):
    assert run(badwords, "xxx") == "c4_badwords"                          # no annotation: en
    assert run(badwords, "xxx", language="") == "c4_badwords"             # empty: en
    assert run(C4BadWords(wordlist_dir=str(LDNOOBW), default_language="de"), "xxx").text == "xxx"
    for lang in ("xx", "../ldnoobw/en", "en/../en"):                     # no list (or not a code): kept
        out = run(badwords, "xxx", language=lang)
        assert out.annotations["c4_badwords_listed"] is False
    assert run(C4BadWords(wordlist_dir=str(LDNOOBW), drop_unlisted=True), "hi", language="xx") \
        == "c4_badwords_no_list"


def test_keep_fraction_is_deterministic_by_id():
    docs = [Document(f"doc-{i}", "buy xxx now") for i in range(2000)]
    half = C4BadWords(wordlist_dir=str(LDNOOBW), keep_fraction=0.5)
    kept = [d.id for d in docs if not isinstance(half.process(d), str)]
    assert 900 < len(kept) < 1100
    again = C4BadWords(wordlist_dir=str(LDNOOBW), keep_fraction=0.5)
    assert kept == [d.id for d in docs if not isinstance(again.process(d), str)]
    other_seed = C4BadWords(wordlist_dir=str(LDNOOBW), keep_fraction=0.5, seed=1)
    assert kept != [d.id for d in docs if not isinstance(other_seed.process(d), str)]
    assert all(not isinstance(C4BadWords(wordlist_dir=str(LDNOOBW), keep_fraction=1.0).process(d), str)
               for d in docs[:50])


def test_keep_fraction_boundary(badwords):
    draw = badwords.keep_draw("d")
    assert run(C4BadWords(wordlist_dir=str(LDNOOBW), keep_fraction=draw), "xxx") == "c4_badwords"
    assert run(C4BadWords(wordlist_dir=str(LDNOOBW), keep_fraction=min(1.0, draw + 1e-9)), "xxx").text == "xxx"


def test_wordlist_dir_from_environment_and_parent_folder(monkeypatch):
    monkeypatch.setenv("THRESHER_WORDLISTS", str(LDNOOBW.parent))  # the folder holding ldnoobw/
    assert run(C4BadWords(), "xxx") == "c4_badwords"
    monkeypatch.delenv("THRESHER_WORDLISTS")
    with pytest.raises(ValueError):
        C4BadWords()


@pytest.mark.parametrize("kwargs", [dict(keep_fraction=-0.1), dict(keep_fraction=1.5), dict(english_file=""),
                                    dict(english_file="../en")])
def test_bad_badwords_parameters(kwargs):
    with pytest.raises(ValueError):
        C4BadWords(wordlist_dir=str(LDNOOBW), **kwargs)


def test_missing_folder_fails_in_setup(tmp_path):
    with pytest.raises(FileNotFoundError):
        C4BadWords(wordlist_dir=str(tmp_path)).setup()


def test_regex_matches_exactly_like_datatrove_alternation(badwords):
    """The prefix-tree regex searched in " " + text decides as datatrove's (?:\\W|^)(w1|w2...)(?:\\W|$)."""
    words = sorted({w.strip() for w in (LDNOOBW / "en.c4-commit-25e679f").read_text().splitlines()} - {""})
    naive = re.compile(r"(?:\W|^)({})(?:\W|$)".format("|".join(map(re.escape, words))))
    probes = [p for w in words for p in (w, f"x {w} y", f"a{w}b", f"{w}s", f"({w}).", f"{w[:-1]}", f"_{w}")]
    pattern = badwords.regex("en")
    assert [naive.search(p) is None for p in probes] == [pattern.search(" " + p) is None for p in probes]
    assert re.fullmatch(trie_pattern(["ab", "abc", "b"]), "abc") and not re.fullmatch(trie_pattern(["ab"]), "a")


def test_badwords_beam():
    docs = [Document("clean", "A clean text."), Document("bad", "Buy xxx now."),
            Document("zh", "我喜欢乳制品。", annotations={"language": "zh"})]
    with local_pipeline() as p:
        out = p | beam.Create(docs) | C4BadWords(wordlist_dir=str(LDNOOBW))
        assert_that(out[KEPT] | "k" >> beam.Map(lambda d: d.id), equal_to(["clean"]), label="kept")
        assert_that(out[REJECTED] | "r" >> beam.Map(lambda d: (d.id, d.annotations["drop_reason"])),
                    equal_to([("bad", "c4_badwords"), ("zh", "c4_badwords")]), label="rejected")
        assert_that(out[ERRORS], equal_to([]), label="errors")
