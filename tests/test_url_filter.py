"""The url_filter step: blocklists (plain files, UT1 directories) and banned words in URLs."""
from __future__ import annotations

import gzip
import pickle
import random
import re

import apache_beam as beam
import pytest
from apache_beam.testing.util import assert_that, equal_to

from pipelines.recipe import step_params
from tests.conftest import local_pipeline
from transforms.base import ERRORS, KEPT, REJECTED
from transforms.document import Document
from transforms.url_filter import (
    BANNED_SUBWORD, BANNED_WORD, DEFAULT_BANNED_SUBWORDS, DOMAIN_BLOCKLISTED, SOFT_BANNED_WORDS,
    URL_BLOCKLISTED, HashedSet, UrlFilter, normalize_word, split_url, substring_pattern, url_keys)


@pytest.fixture
def ut1(tmp_path):
    """A UT1-style category directory: adult/domains and adult/urls."""
    adult = tmp_path / "adult"
    adult.mkdir()
    (adult / "domains").write_text(
        "# comment line\nbadsite.com\n\nWWW.Shady.Example.org\n.dotted.net\n10.0.0.1\n", encoding="utf-8")
    (adult / "urls").write_text("freehost.com/users/bad\nhttp://www.mixed.com:8080/a/b/\n", encoding="utf-8")
    return adult


def verdict(step, url):
    out = step.process(Document("d", "text", url=url))
    return out if isinstance(out, str) else None


def words_only(**params):
    return UrlFilter(**params)


# --- domains ------------------------------------------------------------------------


@pytest.mark.parametrize("url, reason", [
    ("https://badsite.com/", DOMAIN_BLOCKLISTED),
    ("http://www.badsite.com/page", DOMAIN_BLOCKLISTED),
    ("http://a.b.badsite.com:8080/x", DOMAIN_BLOCKLISTED),  # every subdomain, any port
    ("HTTP://BADSITE.COM./", DOMAIN_BLOCKLISTED),  # case and trailing dot
    ("badsite.com/no-scheme", DOMAIN_BLOCKLISTED),
    ("http://user:pw@badsite.com/", DOMAIN_BLOCKLISTED),
    ("https://notbadsite.com/", None),  # a suffix of the name is not a parent domain
    ("https://badsite.com.evil.io/", None),
    ("http://shady.example.org/", DOMAIN_BLOCKLISTED),  # entry had www. and capitals
    ("http://example.org/", None),  # a parent of an entry is not blocked
    ("http://x.dotted.net/", DOMAIN_BLOCKLISTED),
    ("http://10.0.0.1/", DOMAIN_BLOCKLISTED),
    ("http://0.0.1/", None),  # IP addresses match whole
    ("", None),  # no URL: kept
])
def test_domain_blocklist_from_a_ut1_directory(ut1, url, reason):
    assert verdict(UrlFilter(domain_blocklists=[str(ut1)], default_words=False), url) == reason


def test_plain_and_gzipped_domain_files(tmp_path):
    plain = tmp_path / "mine.txt"
    plain.write_text("one.com\n", encoding="utf-8")
    packed = tmp_path / "more.gz"
    packed.write_bytes(gzip.compress(b"two.com\n"))
    step = UrlFilter(domain_blocklists=[str(plain), str(packed)], default_words=False)
    assert verdict(step, "http://one.com/") == verdict(step, "http://two.com/") == DOMAIN_BLOCKLISTED
    assert verdict(step, "http://three.com/") is None


def test_missing_blocklists_raise(tmp_path, ut1):
    with pytest.raises(FileNotFoundError):
        UrlFilter(domain_blocklists=[str(tmp_path / "absent")]).setup()
    (ut1 / "urls").unlink()
    with pytest.raises(FileNotFoundError, match="urls"):
        UrlFilter(url_blocklists=[str(ut1)]).setup()


# --- URLs ---------------------------------------------------------------------------


@pytest.mark.parametrize("url, reason", [
    ("http://freehost.com/users/bad", URL_BLOCKLISTED),
    ("https://www.freehost.com/users/bad/", URL_BLOCKLISTED),
    ("http://freehost.com/users/bad/photos/1.html?x=1", URL_BLOCKLISTED),  # everything under the path
    ("http://freehost.com/users/Bad", URL_BLOCKLISTED),
    ("http://freehost.com/users/badger", None),  # a path prefix ends at a slash
    ("http://freehost.com/users", None),
    ("http://sub.freehost.com/users/bad", None),  # URL entries name one host
    ("https://mixed.com/a/b/c", URL_BLOCKLISTED),  # entry written with scheme, www. and port
    ("https://mixed.com/a", None),
])
def test_url_blocklist_matches_path_prefixes(ut1, url, reason):
    assert verdict(UrlFilter(url_blocklists=[str(ut1)], default_words=False), url) == reason


def test_url_entry_with_query(tmp_path):
    listed = tmp_path / "urls.txt"
    listed.write_text("site.com/view?id=7\n", encoding="utf-8")
    step = UrlFilter(url_blocklists=[str(listed)], default_words=False)
    assert verdict(step, "http://site.com/view?id=7") == URL_BLOCKLISTED
    assert verdict(step, "http://site.com/view?id=8") is None


def test_url_helpers():
    assert split_url("https://user@WWW.Ex.COM.:81/P/a?q=1#f") == ("ex.com", "/P/a", "q=1")
    assert split_url("http://[abc/") == ("", "", "")
    assert url_keys(*split_url("ex.com/A/b/?Q=1")) == ["ex.com", "ex.com/a", "ex.com/a/b", "ex.com/a/b?q=1"]
    assert url_keys("", "/x", "") == []


# --- banned words -------------------------------------------------------------------


@pytest.mark.parametrize("url, reason", [
    ("https://example.com/my-porn-video", BANNED_WORD),  # one hard word is enough
    ("https://example.com/pornography", None),  # words are whole: "pornography" is soft, alone
    ("https://example.com/Porn", None),  # datatrove compares words as written
    ("https://example.com/sex-and-nude", SOFT_BANNED_WORDS),  # 2 distinct soft words: the threshold
    ("https://example.com/sex", None),  # 1: below it
    ("https://example.com/sex/sex/sex", None),  # repeats count once
    ("https://example.com/big-knockers-here", BANNED_SUBWORD),  # sub-words ignore separators
    ("https://example.com/BIGTITS", BANNED_SUBWORD),  # and case
    ("https://example.com/middlesex-news", None),
    ("", None),
])
def test_default_word_lists(url, reason):
    assert verdict(UrlFilter(), url) == reason


def test_soft_word_threshold_boundary():
    step = UrlFilter(soft_word_threshold=3)
    assert verdict(step, "https://e.com/sex-nude") is None
    assert verdict(step, "https://e.com/sex-nude-naked") == SOFT_BANNED_WORDS
    with pytest.raises(ValueError):
        UrlFilter(soft_word_threshold=0)


def test_own_words_and_no_defaults():
    step = UrlFilter(banned_words=["Casino"], soft_banned_words=["cheap", "pills"],
                     banned_subwords=["free money"], default_words=False)
    assert verdict(step, "https://e.com/casino") == BANNED_WORD  # list entries are lowercased
    assert verdict(step, "https://e.com/cheap-pills") == SOFT_BANNED_WORDS
    assert verdict(step, "https://e.com/get-FreeMoney") == BANNED_SUBWORD
    assert verdict(step, "https://e.com/porn") is None


def test_ignore_case_matches_capitalised_words():
    assert verdict(UrlFilter(ignore_case=True), "https://example.com/Porn") == BANNED_WORD


def test_only_symbols_and_non_ascii_urls_are_kept():
    assert verdict(UrlFilter(), "///???") is None
    assert verdict(UrlFilter(), "https://例子.中国/路径") is None
    assert verdict(UrlFilter(), "https://e.com/\ud800") is None


def test_checks_run_in_datatrove_order(ut1):
    step = UrlFilter(domain_blocklists=[str(ut1)], url_blocklists=[str(ut1)])
    assert verdict(step, "http://badsite.com/porn") == DOMAIN_BLOCKLISTED
    assert verdict(step, "http://freehost.com/users/bad/porn") == URL_BLOCKLISTED
    assert verdict(step, "http://e.com/porn/sex/nude/bigtits") == BANNED_WORD
    assert verdict(step, "http://e.com/sex/nude/bigtits") == SOFT_BANNED_WORDS


def test_annotate_and_dry_run():
    out = UrlFilter(annotate=True).process(Document("d", "t", url="https://e.com/sex"))
    assert out.annotations == {"url_filter_domain_blocklisted": False, "url_filter_url_blocklisted": False,
                               "url_filter_banned_words": 0, "url_filter_soft_banned_words": 1,
                               "url_filter_banned_subword": False}
    out = UrlFilter(dry_run=True).process(Document("d", "t", url="https://e.com/porn"))
    assert out.annotations["url_filter_drop"] == BANNED_WORD
    assert set(out.annotations) <= set(UrlFilter.ANNOTATIONS)


# --- the pieces ---------------------------------------------------------------------


def test_trie_pattern_finds_what_a_flat_alternation_finds():
    words = sorted({normalize_word(w) for w in DEFAULT_BANNED_SUBWORDS} | {"sexvideo", "sex"})
    trie, flat = re.compile(substring_pattern(words)), re.compile("|".join(map(re.escape, words)))
    rng = random.Random(7)
    for _ in range(2000):
        noise = lambda n: "".join(rng.choice("abcdeghilnoprstuvwxy0123") for _ in range(n))  # noqa: E731
        text = noise(rng.randint(0, 40)) + rng.choice(words + [""] * len(words)) + noise(rng.randint(0, 20))
        assert bool(trie.search(text)) == bool(flat.search(text)), text


def test_hashed_set():
    s = HashedSet(["a.com", "b.com", "a.com", ""])
    assert len(s) == 2
    assert s.any_of(["x.com", "b.com"]) and not s.any_of(["c.com"]) and not s.any_of([])
    assert not HashedSet([]).any_of(["a.com"])


def test_parameters_for_recipes():
    params = step_params(UrlFilter)
    assert list(params)[:3] == ["domain_blocklists", "url_blocklists", "banned_words"]
    assert params["soft_word_threshold"].default == 2
    assert "dry_run" in params


def test_pickled_step_leaves_loaded_lists_behind(ut1):
    step = UrlFilter(domain_blocklists=[str(ut1)])
    step.setup()
    copy = pickle.loads(pickle.dumps(step))
    assert copy._lists is None
    assert verdict(copy, "http://badsite.com/") == DOMAIN_BLOCKLISTED


def test_beam_kept_and_rejected(ut1):
    docs = [Document("ok", "t", url="https://news.example.com/story"),
            Document("dom", "t", url="https://badsite.com/"),
            Document("word", "t", url="https://e.com/porn"),
            Document("nourl", "t")]
    with local_pipeline() as p:
        out = p | beam.Create(docs) | UrlFilter(domain_blocklists=[str(ut1)])
        assert_that(out[KEPT] | "k" >> beam.Map(lambda d: d.id), equal_to(["ok", "nourl"]), label="kept")
        assert_that(out[REJECTED] | "r" >> beam.Map(lambda d: (d.id, d.annotations["drop_reason"])),
                    equal_to([("dom", DOMAIN_BLOCKLISTED), ("word", BANNED_WORD)]), label="rejected")
        assert_that(out[ERRORS], equal_to([]), label="errors")
