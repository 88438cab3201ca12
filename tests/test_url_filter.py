"""The url_filter step: blocklists (plain files, UT1 directories) and banned words in URLs."""
from __future__ import annotations

import gzip
import pickle
import random
import re

import apache_beam as beam
import pytest
from apache_beam.testing.util import assert_that, equal_to

from thresher.pipelines.recipe.params import step_params
from tests.conftest import local_pipeline
from thresher.transforms.base import ERRORS, KEPT, REJECTED
from thresher.transforms.document import Document
from thresher.transforms.filters.url_filter import (
    BANNED_SUBWORD, BANNED_WORD, DOMAIN_BLOCKLISTED, SOFT_BANNED_WORDS, URL_BLOCKLISTED, UrlFilter)
from thresher.transforms.filters.url_lists import HashedSet, normalize_word, split_url, url_keys
from thresher.transforms.text.patterns import trie_pattern


@pytest.fixture
def ut1(tmp_path):
    """A UT1-style category directory: adult/domains and adult/urls."""
    adult = tmp_path / "adult"
    adult.mkdir()
    (adult / "domains").write_text(
        "# comment line\nbadsite.com\n\nWWW.Shady.Example.org\n.dotted.net\n10.0.0.1\n", encoding="utf-8")
    (adult / "urls").write_text("freehost.com/users/bad\nhttp://www.mixed.com:8080/a/b/\n", encoding="utf-8")
    return adult


@pytest.fixture
def words(tmp_path):
    """Small invented word files, passed as UrlFilter's ``*_files`` parameters."""
    folder = tmp_path / "words"
    folder.mkdir()
    (folder / "banned.txt").write_text("spamword\nscamword\n", encoding="utf-8")
    (folder / "soft.txt").write_text("cheap\npills\nspamwordly\n", encoding="utf-8")
    (folder / "subwords.txt").write_text("free money\nbig prize\n", encoding="utf-8")
    return {"banned_words_files": [str(folder / "banned.txt")],
            "soft_banned_words_files": [str(folder / "soft.txt")],
            "banned_subwords_files": [str(folder / "subwords.txt")]}


def verdict(step, url):
    out = step.process(Document("d", "text", url=url))
    return out if isinstance(out, str) else None


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
    assert verdict(UrlFilter(domain_blocklists=[str(ut1)]), url) == reason


def test_plain_and_gzipped_domain_files(tmp_path):
    plain = tmp_path / "mine.txt"
    plain.write_text("one.com\n", encoding="utf-8")
    packed = tmp_path / "more.gz"
    packed.write_bytes(gzip.compress(b"two.com\n"))
    step = UrlFilter(domain_blocklists=[str(plain), str(packed)])
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
    assert verdict(UrlFilter(url_blocklists=[str(ut1)]), url) == reason


def test_url_entry_with_query(tmp_path):
    listed = tmp_path / "urls.txt"
    listed.write_text("site.com/view?id=7\n", encoding="utf-8")
    step = UrlFilter(url_blocklists=[str(listed)])
    assert verdict(step, "http://site.com/view?id=7") == URL_BLOCKLISTED
    assert verdict(step, "http://site.com/view?id=8") is None


def test_url_helpers():
    assert split_url("https://user@WWW.Ex.COM.:81/P/a?q=1#f") == ("ex.com", "/P/a", "q=1")
    assert split_url("http://[abc/") == ("", "", "")
    assert url_keys(*split_url("ex.com/A/b/?Q=1")) == ["ex.com", "ex.com/a", "ex.com/a/b", "ex.com/a/b?q=1"]
    assert url_keys("", "/x", "") == []


# --- banned words -------------------------------------------------------------------


@pytest.mark.parametrize("url, reason", [
    ("https://example.com/my-spamword-video", BANNED_WORD),  # one hard word is enough
    ("https://example.com/spamwordly", None),  # words are whole: "spamwordly" is soft, alone
    ("https://example.com/Spamword", None),  # datatrove compares words as written
    ("https://example.com/cheap-and-pills", SOFT_BANNED_WORDS),  # 2 distinct soft words: the threshold
    ("https://example.com/cheap", None),  # 1: below it
    ("https://example.com/cheap/cheap/cheap", None),  # repeats count once
    ("https://example.com/free-money-here", BANNED_SUBWORD),  # sub-words ignore separators
    ("https://example.com/BIGPRIZE", BANNED_SUBWORD),  # and case
    ("https://example.com/cheapest-news", None),
    ("", None),
])
def test_word_lists_from_files(words, url, reason):
    assert verdict(UrlFilter(**words), url) == reason


def test_word_files_load_words_skipping_comments_and_blank_lines(tmp_path):
    banned = tmp_path / "banned.txt"
    banned.write_text("# a comment: notaword\nspamword\n\n  \nScamWord\n", encoding="utf-8")
    soft = tmp_path / "soft.txt.gz"
    soft.write_bytes(gzip.compress(b"cheap\n# pills\n\nbargain\n"))
    subwords = tmp_path / "subwords.txt"
    subwords.write_text("\n# big prize\nfree money\n", encoding="utf-8")
    step = UrlFilter(banned_words=["casino"], banned_words_files=[str(banned)],
                     soft_banned_words_files=[str(soft)], banned_subwords_files=[str(subwords)])
    step.setup()
    assert step._banned == {"casino", "spamword", "scamword"}  # added to the inline words, lowercased
    assert step._soft == {"cheap", "bargain"}
    assert verdict(step, "https://e.com/spamword") == verdict(step, "https://e.com/casino") == BANNED_WORD
    assert verdict(step, "https://e.com/notaword") is None  # comment lines are not words
    assert verdict(step, "https://e.com/cheap-bargain") == SOFT_BANNED_WORDS
    assert verdict(step, "https://e.com/cheap-pills") is None
    assert verdict(step, "https://e.com/get-FreeMoney") == BANNED_SUBWORD
    assert verdict(step, "https://e.com/bigprize") is None


def test_missing_word_file_raises(tmp_path):
    with pytest.raises(FileNotFoundError):
        UrlFilter(banned_words_files=[str(tmp_path / "absent.txt")]).setup()
    with pytest.raises(FileNotFoundError):
        UrlFilter(soft_banned_words_files=[str(tmp_path)]).setup()  # a directory is not a word file


def test_soft_word_threshold_boundary(words):
    step = UrlFilter(soft_word_threshold=3, **words)
    assert verdict(step, "https://e.com/cheap-pills") is None
    assert verdict(step, "https://e.com/cheap-pills-spamwordly") == SOFT_BANNED_WORDS
    with pytest.raises(ValueError):
        UrlFilter(soft_word_threshold=0)


def test_inline_words_and_no_shipped_lists():
    step = UrlFilter(banned_words=["Casino"], soft_banned_words=["cheap", "pills"],
                     banned_subwords=["free money"])
    assert verdict(step, "https://e.com/casino") == BANNED_WORD  # list entries are lowercased
    assert verdict(step, "https://e.com/cheap-pills") == SOFT_BANNED_WORDS
    assert verdict(step, "https://e.com/get-FreeMoney") == BANNED_SUBWORD
    assert verdict(step, "https://e.com/spamword") is None
    bare = UrlFilter()  # no word lists are shipped: without words or files, no word check fires
    bare.setup()
    assert not bare._banned and not bare._soft and bare._subword_re is None


def test_ignore_case_matches_capitalised_words(words):
    assert verdict(UrlFilter(ignore_case=True, **words), "https://example.com/Spamword") == BANNED_WORD


def test_only_symbols_and_non_ascii_urls_are_kept(words):
    step = UrlFilter(**words)
    assert verdict(step, "///???") is None
    assert verdict(step, "https://例子.中国/路径") is None
    assert verdict(step, "https://e.com/\ud800") is None


def test_checks_run_in_datatrove_order(ut1, words):
    step = UrlFilter(domain_blocklists=[str(ut1)], url_blocklists=[str(ut1)], **words)
    assert verdict(step, "http://badsite.com/spamword") == DOMAIN_BLOCKLISTED
    assert verdict(step, "http://freehost.com/users/bad/spamword") == URL_BLOCKLISTED
    assert verdict(step, "http://e.com/spamword/cheap/pills/bigprize") == BANNED_WORD
    assert verdict(step, "http://e.com/cheap/pills/bigprize") == SOFT_BANNED_WORDS
    assert verdict(step, "http://e.com/cheap/bigprize") == BANNED_SUBWORD


def test_annotate_and_dry_run(words):
    out = UrlFilter(annotate=True, **words).process(Document("d", "t", url="https://e.com/cheap"))
    assert out.annotations == {"url_filter_domain_blocklisted": False, "url_filter_url_blocklisted": False,
                               "url_filter_banned_words": 0, "url_filter_soft_banned_words": 1,
                               "url_filter_banned_subword": False}
    out = UrlFilter(dry_run=True, **words).process(Document("d", "t", url="https://e.com/spamword"))
    assert out.annotations["url_filter_drop"] == BANNED_WORD
    assert set(out.annotations) <= set(UrlFilter.ANNOTATIONS)


# --- the pieces ---------------------------------------------------------------------


def test_trie_pattern_finds_what_a_flat_alternation_finds():
    rng = random.Random(7)
    letters = "abcdeghilnoprstuvwxy0123"
    invented = {"free money", "freebie", "free", "big prize", "bigprizes", "cheap pills", "cheapo",
                "spam word", "spamword", "prize", "ab", "abc", "abcd"}
    invented |= {"".join(rng.choice(letters) for _ in range(rng.randint(2, 8))) for _ in range(150)}
    words = sorted({normalize_word(w) for w in invented})
    trie, flat = re.compile(trie_pattern(words)), re.compile("|".join(map(re.escape, words)))
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
    for name in ("banned_words_files", "soft_banned_words_files", "banned_subwords_files"):
        assert params[name].default is None
    assert "default_words" not in params
    assert params["soft_word_threshold"].default == 2
    assert "dry_run" in params


def test_pickled_step_leaves_loaded_lists_behind(ut1):
    step = UrlFilter(domain_blocklists=[str(ut1)])
    step.setup()
    copy = pickle.loads(pickle.dumps(step))
    assert copy._lists is None
    assert verdict(copy, "http://badsite.com/") == DOMAIN_BLOCKLISTED


def test_beam_kept_and_rejected(ut1, words):
    docs = [Document("ok", "t", url="https://news.example.com/story"),
            Document("dom", "t", url="https://badsite.com/"),
            Document("word", "t", url="https://e.com/spamword"),
            Document("nourl", "t")]
    with local_pipeline() as p:
        out = p | beam.Create(docs) | UrlFilter(domain_blocklists=[str(ut1)], **words)
        assert_that(out[KEPT] | "k" >> beam.Map(lambda d: d.id), equal_to(["ok", "nourl"]), label="kept")
        assert_that(out[REJECTED] | "r" >> beam.Map(lambda d: (d.id, d.annotations["drop_reason"])),
                    equal_to([("dom", DOMAIN_BLOCKLISTED), ("word", BANNED_WORD)]), label="rejected")
        assert_that(out[ERRORS], equal_to([]), label="errors")


def test_parsed_lists_are_cached_by_content(tmp_path, monkeypatch):
    import shutil

    from thresher.transforms.filters import url_lists as U

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    lists = tmp_path / "adult"
    lists.mkdir()
    (lists / "domains").write_text("# comment\n\nwww.Bad.example\n*.evil.test.\nhttp://x.example:8080/p\n")
    first = U.cached_hashes((str(lists),), U.UT1_DOMAINS, U.normalize_domain)
    expected = U.HashedSet(["bad.example", "evil.test", "x.example"])
    assert list(first.array()) == list(expected.array())
    cached = list((tmp_path / "cache" / "thresher" / "url_lists").glob("*.npy"))
    assert len(cached) == 1
    again = U.cached_hashes((str(lists),), U.UT1_DOMAINS, U.normalize_domain)
    assert list(again.array()) == list(expected.array())
    copy = tmp_path / "copy"
    shutil.copytree(lists, copy)  # the same content elsewhere: the same cache file
    assert list(U.cached_hashes((str(copy),), U.UT1_DOMAINS, U.normalize_domain).array()) == list(expected.array())
    assert len(list((tmp_path / "cache" / "thresher" / "url_lists").glob("*.npy"))) == 1
    (lists / "domains").write_text("other.example\n")  # a changed file: parsed again, not the old cache
    changed = U.cached_hashes((str(lists),), U.UT1_DOMAINS, U.normalize_domain)
    assert changed.any_of(["other.example"]) and not changed.any_of(["bad.example"])
    # an unwritable cache: parsed in memory, same answer
    monkeypatch.setenv("XDG_CACHE_HOME", "/proc/no-such-place")
    assert U.cached_hashes((str(lists),), U.UT1_DOMAINS, U.normalize_domain).any_of(["other.example"])
