"""Words, paragraphs, duplicates and n-gram statistics of thresher.transforms.text.split and .repetition.

The expected words are NLTK 3.8.1 ``word_tokenize`` output (English punkt model),
checked by hand against NLTK's rules; the n-gram statistics are checked against
straightforward re-implementations of datatrove 0.2.0's loops.
"""
from __future__ import annotations

import random
from collections import Counter

import pytest

from thresher.transforms.text.repetition import NGrams, duplicates
from thresher.transforms.text.split import split_lines, split_paragraphs, split_words

NLTK_CASES = [
    # NLTK's own doctest: periods stay on words inside a sentence only where Punkt ends none
    ("Good muffins cost $3.88\nin New York.  Please buy me\ntwo of them.\nThanks.",
     ["Good", "muffins", "cost", "$", "3.88", "in", "New", "York", ".", "Please", "buy", "me", "two",
      "of", "them", ".", "Thanks", "."]),
    ("They'll save and invest more.", ["They", "'ll", "save", "and", "invest", "more", "."]),
    ("hi, my name can't hello,", ["hi", ",", "my", "name", "ca", "n't", "hello", ","]),
    ('He said "stop" -- and left...', ["He", "said", "``", "stop", "''", "--", "and", "left", "..."]),
    # abbreviations: Dr. stays; U.S. is cut because "He" starts a sentence
    ("Dr. Smith lives in the U.S. He is 3.5 m tall.",
     ["Dr.", "Smith", "lives", "in", "the", "U.S", ".", "He", "is", "3.5", "m", "tall", "."]),
    ("Mr. Smith and J. Doe met Inc. The end.",
     ["Mr.", "Smith", "and", "J.", "Doe", "met", "Inc", ".", "The", "end", "."]),
    ("(see p. 5), e.g. this is it.", ["(", "see", "p.", "5", ")", ",", "e.g", ".", "this", "is", "it", "."]),
    ("I cannot go, gonna stay.", ["I", "can", "not", "go", ",", "gon", "na", "stay", "."]),
    ("students' books and the 'quoted' word",
     ["students", "'", "books", "and", "the", "'quoted", "'", "word"]),
    ("we'd I'm you've DON'T won't 'tis",
     ["we", "'d", "I", "'m", "you", "'ve", "DO", "N'T", "wo", "n't", "'t", "is"]),
    ("Time: 10:30, price: 3,000; ratio 1:2.",
     ["Time", ":", "10:30", ",", "price", ":", "3,000", ";", "ratio", "1:2", "."]),
    ("Call me at noon.The end", ["Call", "me", "at", "noon.The", "end"]),
    ("He left (early.) Then", ["He", "left", "(", "early", ".", ")", "Then"]),
    ("See [1].[2] More", ["See", "[", "1", "]", ".", "[", "2", "]", "More"]),
    ('He said, "No." Then he left.', ["He", "said", ",", "``", "No", ".", "''", "Then", "he", "left", "."]),
    ("a--b---c", ["a", "--", "b", "--", "-c"]),
    ("...!!!", ["...", "!", "!", "!"]),
    ("#$%", ["#", "$", "%"]),
]


@pytest.mark.parametrize("text,expected", NLTK_CASES)
def test_split_words_matches_nltk(text, expected):
    assert split_words(text) == expected


def test_split_words_edge_cases():
    assert split_words("") == []
    assert split_words("   \n\t ") == []
    assert split_words("x \ud800 y") == ["x", "\ud800", "y"]  # a lone surrogate is a word, no crash
    # no spaces: as in NLTK a run of Han characters (with its CJK punctuation) is one word
    assert split_words("我爱北京。你好！") == ["我爱北京。你好！"]
    assert split_words("我爱北京。你好！", cjk_chars=True) == ["我", "爱", "北", "京", "。", "你", "好", "！"]
    assert split_words("これはペンです", cjk_chars=True) == list("これはペンです")
    assert len(split_words("สวัสดีครับ", cjk_chars=True)) == len("สวัสดีครับ")


def test_split_words_returns_a_fresh_list_each_time():
    text = "One two three."
    first = split_words(text)
    first.append("x")
    assert split_words(text) == ["One", "two", "three", "."]


def test_lines_and_paragraphs():
    assert split_lines("a\nb\r\nc\n") == ["a", "b", "c"]
    assert split_lines("") == []
    assert split_paragraphs("\n\na\n\n\nb\nc\n") == ["a", "b\nc"]
    assert split_paragraphs("") == [""]
    assert split_paragraphs("one") == ["one"]


def test_duplicates_counts_repeats_after_the_first():
    assert duplicates(["a", "bb", "a", "a", "bb", "c"]) == (3, 4)  # a, a, bb repeat: 1+1+2 chars
    assert duplicates([]) == (0, 0)
    assert duplicates(["", ""]) == (1, 0)


# --- n-grams against datatrove 0.2.0's loops -----------------------------------------
def datatrove_top(words, n):
    """gopher_repetition_filter.find_top_duplicate over get_n_grams."""
    grams = [" ".join(words[i:i + n]) for i in range(len(words) - n + 1)]
    if not grams:
        return 0
    gram, count = Counter(grams).most_common(1)[0]
    return len(gram) * count


def datatrove_all_duplicate(words, n):
    """gopher_repetition_filter.find_all_duplicate (n-grams compared as word tuples)."""
    unique, repeated, idx = set(), 0, 0
    while idx < len(words) - n + 1:
        gram = tuple(words[idx:idx + n])
        if gram in unique:
            repeated += sum(map(len, gram))
            idx += n
        else:
            unique.add(gram)
            idx += 1
    return repeated


def covered(words, n):
    counts = Counter(tuple(words[i:i + n]) for i in range(len(words) - n + 1))
    marked = set()
    for i in range(len(words) - n + 1):
        if counts[tuple(words[i:i + n])] > 1:
            marked.update(range(i, i + n))
    return sum(len(words[i]) for i in marked)


def test_ngram_statistics_hand_computed():
    words = "a b c d e a b c d e a b c d e".split()
    g = NGrams(words)
    # 5-grams: positions 0-4 new, 5 repeats "abcde" (+5, jump to 10), 10 repeats (+5)
    assert g.duplicate_chars(5) == 10
    # 2-grams: "a b", "b c", "c d", "d e" three times each, "e a" twice; "a b" seen first
    assert g.top_chars(2) == 3 * len("a b")
    assert g.top_word_chars(2) == 3 * 2
    assert g.covered_chars(5) == 15
    assert g.word_chars == 15
    # ties go to the n-gram seen first, not the longest
    g = NGrams("aa bb x cccc dddd y aa bb z cccc dddd".split())
    assert g.top_chars(2) == 2 * len("aa bb")
    assert NGrams([]).top_chars(2) == 0 and NGrams(["a"]).duplicate_chars(5) == 0
    assert NGrams(["a", "b"]).top_chars(2) == 3  # one 2-gram, seen once


def test_ngram_statistics_match_datatrove_loops_on_random_words():
    rng = random.Random(7)
    for _ in range(400):
        vocab = [f"w{i}" * rng.randint(1, 3) for i in range(rng.choice([2, 3, 6, 40]))]
        words = [rng.choice(vocab) for _ in range(rng.choice([0, 4, 30, 120, 300]))]
        if words and rng.random() < 0.5:  # pasted repeats, as in spam
            chunk = words[:rng.randint(1, 15)]
            words = words + chunk * rng.randint(1, 5) + words[:7]
        g = NGrams(words)
        for n in range(2, 11):
            assert g.top_chars(n) == datatrove_top(words, n), (words, n)
            assert g.duplicate_chars(n) == datatrove_all_duplicate(words, n), (words, n)
            assert g.covered_chars(n) == covered(words, n), (words, n)
