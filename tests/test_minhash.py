"""MinHash signatures, banding, Jaccard and the S-curve: known answers computed by hand."""
from __future__ import annotations

import io
import math
import random

import numpy as np
import pytest

from thresher.transforms.dedup.minhash import signatures as M
from thresher.transforms.text import hashing as H


def test_normalize_known_answers():
    assert H.normalize("Héllo, WORLD! 1234 and 5.6") == "hello world 0 and 0"  # 5.6 -> 56 -> 0
    assert H.normalize("C'est l'été — Ｆｕｌｌ ﬁne") == "cest lete full fine"  # NFKD folds width and ligatures
    assert H.normalize("  a\t\nb  ") == "a b"
    assert H.normalize("") == ""
    assert H.normalize("   \n\t ") == ""
    assert H.normalize("!!! ... ---") == ""  # only punctuation
    assert H.normalize("a+b=c $5 <tag>") == "abc 0 tag"  # ASCII symbols deleted


def test_words_cjk_characters_are_words():
    assert H.words("中文字 abc 123") == ["中", "文", "字", "abc", "0"]
    assert H.words("日本語のテキスト。") == ["日", "本", "語", "の", "テ", "キ", "ス", "ト"]


def test_shingle_counts_and_short_documents():
    assert len(M.shingle_hashes("one two three four five six seven")) == 3  # 7 - 5 + 1
    assert len(M.shingle_hashes("one two three")) == 1  # fewer than ngram words: one shingle
    assert len(M.shingle_hashes("one two three four five")) == 1
    assert len(M.shingle_hashes("")) == 0
    assert len(M.shingle_hashes(" ...  ")) == 0
    assert len(M.shingle_hashes("a b a b a b a b", ngram=2)) == 2  # repeated n-grams count once
    # word order matters, and a short document differs from a longer one that starts like it
    assert not np.array_equal(M.shingle_hashes("a b c d e"), M.shingle_hashes("e d c b a"))
    assert not np.array_equal(M.shingle_hashes("a b c"), M.shingle_hashes("a b c d"))


def test_identical_and_normalised_texts_have_identical_signatures():
    text = "The quick brown fox jumps over the lazy dog near the river bank in 2024."
    variant = "the QUICK brown fox — jumps over the lazy dog, near the rivér bank in 1999!"
    a = M.signature(M.shingle_hashes(text))
    assert np.array_equal(a, M.signature(M.shingle_hashes(text)))
    assert np.array_equal(a, M.signature(M.shingle_hashes(variant)))
    assert M.band_keys(a) == M.band_keys(M.signature(M.shingle_hashes(variant)))
    assert M.signature(M.shingle_hashes("")) is None


def test_permutations_are_datatroves_draws_and_signature_is_the_formula():
    gen = np.random.RandomState(1)
    p = np.uint64((1 << 61) - 1)
    a = gen.randint(1, p, dtype=np.uint64, size=(1, 112)) % np.uint64(2**32) | np.uint64(1)  # odd: a bijection
    b = gen.randint(0, p, dtype=np.uint64, size=(1, 112)) % np.uint64(2**32)
    got_a, got_b = M.permutations(112, 1)
    assert np.array_equal(got_a, a[0]) and np.array_equal(got_b, b[0]) and got_a.dtype == np.uint32
    rnd = np.random.default_rng(0)
    shingles = np.unique(rnd.integers(0, 2**64, size=10_000, dtype=np.uint64))  # > one block of 4096
    expected = (((shingles[:, None] >> np.uint64(32)) * a + b) % np.uint64(2**32)).min(axis=0)
    assert np.array_equal(M.signature(shingles), expected)


def _reference_hashes(text):
    """The words of the str-method normalisation, each hashed alone."""
    parts = [H.text_word_hashes(w) for w in H.words(text)]
    return np.concatenate(parts) if parts else np.empty(0, dtype=np.uint64)


def test_array_normalisation_gives_the_words_of_the_str_methods():
    rnd = random.Random(1)
    chars = ("abcdefghij KLMN.,;:!?-()[]{}'\"0123456789\t\n\x1c\x07#$%&*+/<=>@\\^_`|~"
             "éÉßøÆ—–“”‘’…·\u00a0\u2003\u0301\u00b2٣४中文字日本のテキスト。，Ｆｕｌｌﬁ")
    for _ in range(3000):
        text = "".join(rnd.choice(chars) for _ in range(rnd.randint(0, 40)))
        assert np.array_equal(H.text_word_hashes(text), _reference_hashes(text)), repr(text)


def test_word_hashes_depend_on_the_word_only():
    h = H.text_word_hashes("the cat, THE dog")
    assert h[0] == h[2] and len(set(h.tolist())) == 3
    far = H.text_word_hashes("x " * 50_000 + "hello")  # far into a long text, same hash as alone
    assert far[-1] == H.text_word_hashes("hello")[0]
    assert H.text_word_hashes("ab")[0] != H.text_word_hashes("ba")[0]
    assert len(H.text_word_hashes("")) == 0 and len(H.text_word_hashes(" ... ")) == 0


def _vocab_text(rnd, n):  # letters only: digits would all normalise to 0
    return ["".join(rnd.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(6)) for _ in range(n)]


def test_jaccard_estimate_within_tolerance():
    rnd = random.Random(0)
    errors = []
    for replaced in range(20, 420, 20):
        base = _vocab_text(rnd, 1000)
        other = base[:1000 - replaced] + _vocab_text(rnd, replaced)
        a, b = M.shingle_hashes(" ".join(base)), M.shingle_hashes(" ".join(other))
        exact = M.exact_jaccard(a, b)
        estimate = M.estimated_jaccard(M.signature(a), M.signature(b))
        sigma = math.sqrt(exact * (1 - exact) / 112)
        assert abs(estimate - exact) <= 4 * sigma + 1e-9, (replaced, exact, estimate)
        errors.append(abs(estimate - exact))
    assert sum(errors) / len(errors) < 0.05


def test_band_keys_change_only_with_their_band():
    sig = M.signature(M.shingle_hashes("alpha beta gamma delta epsilon zeta eta theta"))
    keys = M.band_keys(sig)
    assert len(keys) == 14 and len(set(keys)) == 14  # the band index is part of the key
    assert all(-(1 << 63) <= k < (1 << 63) for k in keys)
    changed = sig.copy()
    changed[8 * 3 + 5] += np.uint64(1)  # a row of band 3
    other = M.band_keys(changed)
    assert [i for i in range(14) if keys[i] != other[i]] == [3]


def test_compact_set_jaccard_known_answers():
    a = M.compact_set(np.array([1 << 32, 2 << 32, 3 << 32], dtype=np.uint64))
    b = M.compact_set(np.array([2 << 32, 3 << 32, 4 << 32, 5 << 32], dtype=np.uint64))
    assert M.jaccard(a, b) == pytest.approx(2 / 5)
    assert M.jaccard(a, a) == 1.0
    assert M.jaccard(b"", b"") == 1.0
    assert M.jaccard(a, b"") == 0.0


def test_node_ids_are_stable_signed_64_bit():
    assert M.node_id("doc-1") == M.node_id("doc-1") != M.node_id("doc-2")
    assert all(-(1 << 63) <= M.node_id(f"x{i}") < (1 << 63) for i in range(1000))


def test_s_curve_known_values_and_table():
    # 0.8^8 = 0.16777216; 1 - (1 - 0.16777216)^14 = 0.92354
    p0, p8, p1 = M.s_curve(14, 8, [0.0, 0.8, 1.0])
    assert p0 == 0.0 and p1 == 1.0
    assert p8 == pytest.approx(0.92354, abs=1e-5)
    out = io.StringIO()
    text = M.s_curve_table(14, 8, [0.72, 0.85], out=out)
    assert out.getvalue().strip() == text
    assert "threshold (1/b)^(1/r) = 0.719" in text
    assert "0.85  0.9884" in text  # 1 - (1 - 0.85^8)^14
