"""URL filter: drop documents whose URL is on a blocklist or holds banned words.

FineWeb's first filter (Penedo et al. 2024, §3.2), run as datatrove's
``URLFilter``: a domain blocklist and a URL blocklist (FineWeb: the ``adult``
category of the UT1 blocklists of Université Toulouse 1 Capitole), then
words of the URL (split on every run of characters other than ASCII letters
and digits) against a hard list (one match drops) and a soft list (two
distinct matches drop), then banned sub-words searched in the URL with every
such character removed and lowercased. The checks run in datatrove's order and
the first that fires names the drop reason.

Word lists: FineWeb used datatrove's word lists (``banned_words.txt``,
``soft_banned_words.txt`` and ``banned_subwords.txt`` in ``src/datatrove/assets/``
of the datatrove repository, https://github.com/huggingface/datatrove). Thresher
does not ship them: a FineWeb-faithful run passes those files as
``banned_words_files``, ``soft_banned_words_files`` and ``banned_subwords_files``.
Without word files or inline words, no word check fires.

Where this departs from datatrove, deliberately:

* domains: datatrove looks up the registered domain and the full host name
  (tldextract), so an entry ``b.example.com`` misses ``a.b.example.com``;
  here the host and every parent domain are looked up (squidGuard's rule).
  Hosts are lowercased, without port, trailing dot or leading ``www.``.
* URLs: datatrove looks the raw URL up as written, which never matches UT1's
  scheme-less entries; here both sides are normalised as above and matched by
  path prefix, so entries with or without scheme both work.
* ``ignore_case`` (off by default, as datatrove): datatrove compares the
  URL's words as written, so ``/Porn/`` does not match ``porn``.

The lists are read, normalised and hashed by ``thresher.transforms.filters.url_lists``.
"""
from __future__ import annotations

import os
import re
from typing import Dict, List, Optional

from thresher.transforms.base import FilterStep, ParamError
from thresher.transforms.document import Document
from thresher.transforms.filters.url_lists import (
    NOT_ALNUM, UT1_DOMAINS, UT1_URLS, Lists, check_text, list_file, normalize_word, parent_domains, read_words,
    shared_lists, split_url, url_keys, with_assets_hint, word_set)
from thresher.transforms.text.patterns import trie_pattern

# datatrove's URLFilter: two distinct soft-banned words drop a URL.
DATATROVE_SOFT_WORD_THRESHOLD = 2

# Drop reasons.
DOMAIN_BLOCKLISTED = "url_domain_blocklisted"
URL_BLOCKLISTED = "url_blocklisted"
BANNED_WORD = "url_banned_word"
SOFT_BANNED_WORDS = "url_soft_banned_words"
BANNED_SUBWORD = "url_banned_subword"


class UrlFilter(FilterStep):
    """Drop documents whose URL's domain or URL is blocklisted, or whose URL holds banned words.

    Source: FineWeb (Penedo et al. 2024) via datatrove's URLFilter; FineWeb's blocklist is UT1's
    ``adult`` category (https://dsi.ut-capitole.fr/blacklists/). FineWeb used datatrove's word lists
    (``src/datatrove/assets/`` in the datatrove repository), which Thresher does not ship: a
    FineWeb-faithful run passes those files as the ``*_files`` parameters. Documents without a URL
    are kept.

    Parameters:
        domain_blocklists: domain list files or UT1 category directories (their ``domains``);
            an entry blocks the domain and its subdomains.
        url_blocklists: URL list files or UT1 category directories (their ``urls``);
            an entry blocks its path and everything under it.
        banned_words: URL words one of which drops the document.
        soft_banned_words: URL words ``soft_word_threshold`` distinct ones of which drop the document.
        banned_subwords: strings whose presence in the URL, reduced to lowercase letters and digits,
            drops the document.
        banned_words_files: word files (one a line; blank lines and ``#`` comments ignored; ``.gz``
            read too) whose words are added to ``banned_words`` (FineWeb: datatrove's
            ``banned_words.txt``).
        soft_banned_words_files: word files added to ``soft_banned_words`` (FineWeb: datatrove's
            ``soft_banned_words.txt``).
        banned_subwords_files: word files added to ``banned_subwords`` (FineWeb: datatrove's
            ``banned_subwords.txt``).
        soft_word_threshold: distinct soft-banned words that drop a document (datatrove: 2).
        ignore_case: match URL words whatever their case (datatrove matches lowercase words only).
    """

    name = "url_filter"
    ANNOTATIONS = {"url_filter_domain_blocklisted": "bool", "url_filter_url_blocklisted": "bool",
                   "url_filter_banned_words": "int64", "url_filter_soft_banned_words": "int64",
                   "url_filter_banned_subword": "bool", "url_filter_drop": "string"}
    ANNOTATION_DOCS = {
        "url_filter_domain_blocklisted": "the URL's domain (or a parent domain) is blocklisted",
        "url_filter_url_blocklisted": "the URL (or a URL above it) is blocklisted",
        "url_filter_banned_words": "banned words in the URL",
        "url_filter_soft_banned_words": "distinct soft-banned words in the URL",
        "url_filter_banned_subword": "the URL, reduced to lowercase letters and digits, holds a banned subword",
        "url_filter_drop": "dry_run: the reason the document would have been dropped",
    }
    DROP_REASONS = {
        "url_domain_blocklisted": "the URL's domain or a parent domain is in domain_blocklists",
        "url_blocklisted": "the URL or a URL above it is in url_blocklists",
        "url_banned_word": "the URL holds a banned word",
        "url_soft_banned_words": "the URL holds soft_word_threshold or more distinct soft-banned words",
        "url_banned_subword": "the URL holds a banned subword",
    }

    def __init__(self, domain_blocklists: Optional[List[str]] = None, url_blocklists: Optional[List[str]] = None,
                 banned_words: Optional[List[str]] = None, soft_banned_words: Optional[List[str]] = None,
                 banned_subwords: Optional[List[str]] = None,
                 banned_words_files: Optional[List[str]] = None, soft_banned_words_files: Optional[List[str]] = None,
                 banned_subwords_files: Optional[List[str]] = None,
                 soft_word_threshold: int = DATATROVE_SOFT_WORD_THRESHOLD,
                 ignore_case: bool = False, **common):
        super().__init__(**common)
        if soft_word_threshold < 1:
            raise ParamError("soft_word_threshold", f"url_filter: soft_word_threshold must be >= 1, got {soft_word_threshold}")
        home = os.path.expanduser  # "~/..." list paths (contract: recipes may start paths with ~)
        self.domain_blocklists = [home(p) for p in domain_blocklists or []]
        self.url_blocklists = [home(p) for p in url_blocklists or []]
        self.banned_words = list(banned_words or [])
        self.soft_banned_words = list(soft_banned_words or [])
        self.banned_subwords = list(banned_subwords or [])
        self.banned_words_files = [home(p) for p in banned_words_files or []]
        self.soft_banned_words_files = [home(p) for p in soft_banned_words_files or []]
        self.banned_subwords_files = [home(p) for p in banned_subwords_files or []]
        self.soft_word_threshold = soft_word_threshold
        self.ignore_case = ignore_case
        self._lists: Optional[Lists] = None

    def setup(self) -> None:
        self._banned = word_set(self.banned_words + read_words(self.banned_words_files))
        self._soft = word_set(self.soft_banned_words + read_words(self.soft_banned_words_files))
        subwords = sorted(word_set(self.banned_subwords + read_words(self.banned_subwords_files)))
        self._subword_re = re.compile(trie_pattern(subwords)) if subwords else None
        self._lists = shared_lists(tuple(self.domain_blocklists), tuple(self.url_blocklists))

    def preflight(self, inputs: Dict[str, List[str]]) -> None:
        """Every list file or UT1 folder exists, is text, and loads as the workers will load it
        (blocklists are hashed into the user cache here, once, so workers then only read them)."""
        from thresher.transforms.base import ParamError
        from thresher.transforms.preflight import Problems, check_path

        problems = Problems()
        blocklists = (("domain_blocklists", self.domain_blocklists, UT1_DOMAINS),
                      ("url_blocklists", self.url_blocklists, UT1_URLS))
        for param, paths, ut1_file in blocklists:
            what = "domain" if ut1_file == UT1_DOMAINS else "URL"
            expected = (f"a {what} list, one {what} a line, or a UT1 category folder such as "
                        f"adult/ holding a {ut1_file!r} file")
            for path in paths:
                error = check_path(param, path, expected, kind="any")
                if error is None and os.path.isdir(path) and not os.path.isfile(os.path.join(path, ut1_file)):
                    error = ParamError(param, f"{path}: folder without a {ut1_file!r} file (expected {expected})")
                if error is None:
                    problems.check(param, lambda: check_text(list_file(path, ut1_file)))
                problems.add(with_assets_hint(error, path))
        word_files = (("banned_words_files", self.banned_words_files), ("soft_banned_words_files",
                      self.soft_banned_words_files), ("banned_subwords_files", self.banned_subwords_files))
        for param, paths in word_files:
            for path in paths:
                error = check_path(param, path, "a word list, one word a line")
                if error is None:
                    problems.check(param, lambda: (check_text(path), read_words([path])))
                problems.add(with_assets_hint(error, path))
        if not problems.errors and (self.domain_blocklists or self.url_blocklists):
            problems.check("domain_blocklists" if self.domain_blocklists else "url_blocklists",
                           lambda: shared_lists(tuple(self.domain_blocklists), tuple(self.url_blocklists)))
        problems.raise_if_any()

    def score(self, doc: Document) -> Dict[str, float]:
        if self._lists is None:
            self.setup()
        url = doc.url
        lists = self._lists
        host, path, query = split_url(url) if url and (lists.domains or lists.urls) else ("", "", "")
        words = set(NOT_ALNUM.split(url.lower() if self.ignore_case else url))
        return {
            "domain_blocklisted": bool(lists.domains) and lists.domains.any_of(parent_domains(host)),
            "url_blocklisted": bool(lists.urls) and lists.urls.any_of(url_keys(host, path, query)),
            "banned_words": len(words & self._banned),
            "soft_banned_words": len(words & self._soft),
            "banned_subword": bool(self._subword_re and self._subword_re.search(normalize_word(url))),
        }

    def decide(self, stats: Dict[str, float]) -> Optional[str]:
        if stats["domain_blocklisted"]:
            return DOMAIN_BLOCKLISTED
        if stats["url_blocklisted"]:
            return URL_BLOCKLISTED
        if stats["banned_words"]:
            return BANNED_WORD
        if stats["soft_banned_words"] >= self.soft_word_threshold:
            return SOFT_BANNED_WORDS
        if stats["banned_subword"]:
            return BANNED_SUBWORD
        return None

    def __getstate__(self):
        state = super().__getstate__()
        for key in ("_banned", "_soft", "_subword_re"):
            state.pop(key, None)
        state["_lists"] = None  # rebuilt by setup() on the worker
        return state
