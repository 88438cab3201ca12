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

Blocklists are files with one entry a line (``#`` starts a comment), or UT1
category directories (``adult/`` holding ``domains`` and ``urls``); ``.gz``
files are read too. UT1 (squidGuard) formats: a ``domains`` entry blocks the
domain and every subdomain; a ``urls`` entry is ``host/path`` without scheme,
``www.`` or port, and blocks that path and everything under it.

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

Blocklists are kept as sorted 64-bit xxh3 hashes, 8 bytes an entry, loaded
once per worker process (``per_process``): a Python set of strings takes over
100 MB per million domains, and UT1's adult list has millions. The chance that
a key collides with one of a million entries is about 5e-14. Measured on the
2-core build machine: parsing UT1's adult list (4.6 million domains) 11 s, once
per machine (``cached_hashes``), then 0.06 s to load; per document 15 µs with
datatrove's word lists, 30 µs with blocklists.
"""
from __future__ import annotations

import array
import bisect
import logging
import os
import re
from typing import Dict, FrozenSet, Iterable, Iterator, List, Optional, Tuple
from urllib.parse import urlsplit

import numpy as np
import xxhash

from thresher.transforms.base import FilterStep, ParamError
from thresher.transforms.document import Document
from thresher.transforms.per_process import per_process

log = logging.getLogger(__name__)

# datatrove's URLFilter: two distinct soft-banned words drop a URL.
DATATROVE_SOFT_WORD_THRESHOLD = 2

# Drop reasons.
DOMAIN_BLOCKLISTED = "url_domain_blocklisted"
URL_BLOCKLISTED = "url_blocklisted"
BANNED_WORD = "url_banned_word"
SOFT_BANNED_WORDS = "url_soft_banned_words"
BANNED_SUBWORD = "url_banned_subword"

# UT1 category directories hold these files.
UT1_DOMAINS = "domains"
UT1_URLS = "urls"

_NOT_ALNUM = re.compile(r"[^a-zA-Z0-9]+")
_CACHE_VERSION = 1  # of the list normalisation and hash: a change makes old cache files unused
_PLAIN_HOST = re.compile(r"[a-z0-9_.\-]+\Z")
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.\-]*://")


def normalize_word(text: str) -> str:
    """datatrove's word normalisation: ASCII letters and digits only, lowercased."""
    return _NOT_ALNUM.sub("", text).lower()


def _with_authority(url: str) -> str:
    url = url.strip()
    return url if _SCHEME.match(url) or url.startswith("//") else "//" + url


def split_url(url: str) -> Tuple[str, str, str]:
    """(host, path, query) of ``url``, scheme optional. The host is lowercased, without
    user, port, trailing dot or leading ``www.``; "" when there is none."""
    try:
        parts = urlsplit(_with_authority(url))
        host = parts.hostname or ""
    except ValueError:  # e.g. an unbalanced IPv6 bracket
        return "", "", ""
    host = host.rstrip(".")
    if host.startswith("www."):
        host = host[4:]
    return host, parts.path, parts.query


def normalize_domain(entry: str) -> str:
    """A domain-list entry as looked up: lowercased, no scheme, port, path, ``www.`` or leading dot."""
    entry = entry.strip().lstrip("*").lstrip(".").lower()
    if _PLAIN_HOST.match(entry):  # the usual case, 20x faster than urlsplit
        entry = entry.rstrip(".")
        return entry[4:] if entry.startswith("www.") else entry
    return split_url(entry)[0] if entry else ""


def parent_domains(host: str) -> List[str]:
    """``a.b.example.com``, ``b.example.com``, ``example.com``, ``com``; an IP address alone."""
    if ":" in host or host.rpartition(".")[2].isdigit():  # IPv6 or IPv4: no parents
        return [host] if host else []
    domains = []
    while host:
        domains.append(host)
        host = host.partition(".")[2]
    return domains


def url_keys(host: str, path: str, query: str) -> List[str]:
    """Every ``host/path`` prefix a URL-list entry can name, shortest first; the last
    also carries the query. Lowercased."""
    if not host:
        return []
    keys = [host]
    for segment in path.lower().split("/"):
        if segment:
            keys.append(f"{keys[-1]}/{segment}")
    if query:
        keys.append(f"{keys[-1]}?{query.lower()}")
    return keys


def normalize_url_entry(entry: str) -> str:
    """A URL-list entry as looked up: the longest of its ``url_keys``."""
    keys = url_keys(*split_url(entry.strip().rstrip("/")))
    return keys[-1] if keys else ""


def substring_pattern(words: Iterable[str]) -> str:
    """A regex matching any of ``words``, factored as a trie (5x faster than a flat alternation)."""
    trie: Dict[str, dict] = {}
    for word in words:
        node = trie
        for ch in word:
            node = node.setdefault(ch, {})
        node[""] = {}  # a word ends here

    def build(node: Dict[str, dict]) -> str:
        if list(node) == [""]:
            return ""
        alternatives = [re.escape(ch) + build(child) for ch, child in sorted(node.items()) if ch]
        body = alternatives[0] if len(alternatives) == 1 else "(?:" + "|".join(alternatives) + ")"
        return f"(?:{body})?" if "" in node else body
    return build(trie)


def _hash(key: str) -> int:
    return xxhash.xxh3_64_intdigest(key.encode("utf-8", "surrogatepass"))


class HashedSet:
    """A read-only set of strings kept as sorted 64-bit hashes (8 bytes an entry)."""

    def __init__(self, items: Iterable[str]):
        self._set(np.unique(np.fromiter((_hash(s) for s in items if s), dtype=np.uint64)))

    @classmethod
    def from_array(cls, hashes: np.ndarray) -> "HashedSet":
        """From sorted unique uint64 hashes (``array()`` of another set)."""
        made = cls.__new__(cls)
        made._set(hashes)
        return made

    def _set(self, hashes: np.ndarray) -> None:
        self._hashes = array.array("Q")
        self._hashes.frombytes(np.ascontiguousarray(hashes, dtype=np.uint64).tobytes())

    def array(self) -> np.ndarray:
        return np.frombuffer(self._hashes.tobytes(), dtype=np.uint64)

    def __len__(self) -> int:
        return len(self._hashes)

    def any_of(self, keys: List[str]) -> bool:
        hashes = self._hashes
        for key in keys:
            h = _hash(key)
            at = bisect.bisect_left(hashes, h)
            if at < len(hashes) and hashes[at] == h:
                return True
        return False


def read_list(path: str, ut1_file: Optional[str] = None) -> Iterator[str]:
    """Entries of a list file, or of ``ut1_file`` in a UT1 category directory (``.gz`` read too).
    Without ``ut1_file``, ``path`` must be a list file."""
    from apache_beam.io.filesystems import FileSystems

    inner = FileSystems.join(path, ut1_file) if ut1_file else None
    if inner and FileSystems.exists(inner):
        path = inner
    elif not FileSystems.exists(path) or os.path.isdir(path):
        if not ut1_file:
            raise FileNotFoundError(f"url_filter: list file {path!r} not found")
        raise FileNotFoundError(f"url_filter: blocklist {path!r} is neither a list file nor a directory "
                                f"holding a {ut1_file!r} file")
    with FileSystems.open(path) as f:
        for raw in iter(f.readline, b""):
            line = raw.decode("utf-8", "replace").strip()
            if line and not line.startswith("#"):
                yield line


def _list_file(path: str, ut1_file: str) -> str:
    """The list file ``read_list`` reads for ``path`` (a list file, or a UT1 category directory)."""
    from apache_beam.io.filesystems import FileSystems

    inner = FileSystems.join(path, ut1_file)
    return inner if FileSystems.exists(inner) else path


def cached_hashes(paths: Tuple[str, ...], ut1_file: str, normalize) -> "HashedSet":
    """The ``HashedSet`` of the normalised entries of list files, kept in the user cache.

    Parsing UT1's adult list (4.6 million domains) takes about 11 s; the sorted hashes
    (8 bytes an entry) are saved under ``~/.cache/thresher/url_lists/``, keyed by the
    files' contents (xxh3-128: 0.1 s for UT1's 100 MB), and loaded in milliseconds by later
    runs and by the other worker processes (a file lock lets one process build it while the
    others wait). Where the cache cannot be written, the lists are parsed in memory.
    """
    import fcntl
    import json

    from apache_beam.io.filesystems import FileSystems

    from thresher.transforms.assets import user_cache_dir

    def build() -> HashedSet:
        return HashedSet(normalize(e) for p in paths for e in read_list(p, ut1_file))

    if not paths:
        return HashedSet(())
    try:
        digest = xxhash.xxh3_128()
        digest.update(json.dumps([_CACHE_VERSION, normalize.__name__]).encode())
        for path in paths:
            with FileSystems.open(_list_file(path, ut1_file)) as f:
                for block in iter(lambda: f.read(1 << 22), b""):
                    digest.update(block)
            digest.update(b"\0")
        key = digest.hexdigest()
        folder = user_cache_dir() / "url_lists"
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"{key}.npy"
        with open(folder / f"{key}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not target.exists():
                built = build()
                partial = folder / f"{key}.{os.getpid()}.tmp.npy"
                np.save(partial, built.array())
                os.replace(partial, target)
                return built
        return HashedSet.from_array(np.load(target))
    except OSError as exc:  # a read-only home, no space...: parse in memory
        log.warning("url_filter: no list cache (%s); parsing the lists", exc)
        return build()


class _Lists:
    """Loaded blocklists, shared by the threads of one worker process."""

    def __init__(self, domain_paths: Tuple[str, ...], url_paths: Tuple[str, ...]):
        self.domains = cached_hashes(domain_paths, UT1_DOMAINS, normalize_domain)
        self.urls = cached_hashes(url_paths, UT1_URLS, normalize_url_entry)
        if domain_paths or url_paths:
            log.info("url_filter: %d blocklisted domains, %d blocklisted URLs", len(self.domains), len(self.urls))


def shared_lists(domain_paths: Tuple[str, ...], url_paths: Tuple[str, ...]) -> _Lists:
    """The lists, loaded once per worker process and shared by its threads."""
    return per_process(("url_filter", domain_paths, url_paths), lambda: _Lists(domain_paths, url_paths))


def _word_set(words: Iterable[str]) -> FrozenSet[str]:
    return frozenset(w for w in map(normalize_word, words) if w)


def _read_words(paths: List[str]) -> List[str]:
    """The words of word files, one a line (``read_list``: blank lines and ``#`` comments skipped)."""
    return [word for path in paths for word in read_list(path)]


def _with_assets_hint(error, path: str):
    """A list missing under the cache folder of FineWeb's lists: say what fills it."""
    from thresher.transforms.assets import FINEWEB_RECIPE_DEFAULT, fineweb_lists_dir
    from thresher.transforms.base import ParamError

    folders = {str(fineweb_lists_dir()), os.path.expanduser(FINEWEB_RECIPE_DEFAULT)}
    if error is None or not any(os.path.abspath(path).startswith(f + os.sep) for f in folders):
        return error
    return ParamError(error.param, f"{error}; `thresher assets` puts FineWeb's lists there")


def _check_text(path: str) -> None:
    """A list file's first 64 KiB (after gunzip) is UTF-8 text: no NUL byte (a tar or other binary file)."""
    from apache_beam.io.filesystems import FileSystems

    try:
        with FileSystems.open(path) as f:
            head = f.read(1 << 16)
    except Exception as exc:  # a damaged .gz, a permission error
        raise ValueError(f"{path}: cannot read it as a text list: {type(exc).__name__}: {exc}") from None
    if b"\0" in head:
        raise ValueError(f"{path}: binary data, not a text list (one entry a line)")
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 3:  # not merely a character cut at the end of the sample
            raise ValueError(f"{path}: not UTF-8 text at byte {exc.start} (expected one entry a line)") from None


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
        self._lists: Optional[_Lists] = None

    def setup(self) -> None:
        self._banned = _word_set(self.banned_words + _read_words(self.banned_words_files))
        self._soft = _word_set(self.soft_banned_words + _read_words(self.soft_banned_words_files))
        subwords = sorted(_word_set(self.banned_subwords + _read_words(self.banned_subwords_files)))
        self._subword_re = re.compile(substring_pattern(subwords)) if subwords else None
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
                    problems.check(param, lambda: _check_text(_list_file(path, ut1_file)))
                problems.add(_with_assets_hint(error, path))
        word_files = (("banned_words_files", self.banned_words_files), ("soft_banned_words_files",
                      self.soft_banned_words_files), ("banned_subwords_files", self.banned_subwords_files))
        for param, paths in word_files:
            for path in paths:
                error = check_path(param, path, "a word list, one word a line")
                if error is None:
                    problems.check(param, lambda: (_check_text(path), _read_words([path])))
                problems.add(_with_assets_hint(error, path))
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
        words = set(_NOT_ALNUM.split(url.lower() if self.ignore_case else url))
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
