"""The lists of the URL filter: reading, normalising and hashing blocklists and word lists.

Blocklists are files with one entry a line (``#`` starts a comment), or UT1
category directories (``adult/`` holding ``domains`` and ``urls``); ``.gz``
files are read too. UT1 (squidGuard) formats: a ``domains`` entry blocks the
domain and every subdomain; a ``urls`` entry is ``host/path`` without scheme,
``www.`` or port, and blocks that path and everything under it.

Hosts and URLs (of the lists and of the documents) are normalised alike: see
``split_url``, ``normalize_domain`` and ``url_keys``; the rules, and where they depart
from datatrove, are in ``thresher.transforms.filters.url_filter``.

Blocklists are kept as sorted 64-bit xxh3 hashes, 8 bytes an entry, loaded
once per worker process (``per_process``): a Python set of strings takes over
100 MB per million domains, and UT1's adult list has millions. The chance that
a key collides with one of a million entries is about 5e-14. Parsed lists are
cached per machine (``cached_hashes``); ``benchmarks/datatrove_peer.py`` measures
a run with UT1's adult list, ``benchmarks/step_speed.py`` the cost per document.
"""
from __future__ import annotations

import array
import bisect
import logging
import os
import re
from typing import FrozenSet, Iterable, Iterator, List, Optional, Tuple
from urllib.parse import urlsplit

import numpy as np
import xxhash

from thresher.transforms.per_process import per_process

log = logging.getLogger(__name__)

# UT1 category directories hold these files.
UT1_DOMAINS = "domains"
UT1_URLS = "urls"

NOT_ALNUM = re.compile(r"[^a-zA-Z0-9]+")
_CACHE_VERSION = 1  # of the list normalisation and hash: a change makes old cache files unused
_PLAIN_HOST = re.compile(r"[a-z0-9_.\-]+\Z")
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.\-]*://")


def normalize_word(text: str) -> str:
    """datatrove's word normalisation: ASCII letters and digits only, lowercased."""
    return NOT_ALNUM.sub("", text).lower()


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


def list_file(path: str, ut1_file: str) -> str:
    """The list file ``read_list`` reads for ``path`` (a list file, or a UT1 category directory)."""
    from apache_beam.io.filesystems import FileSystems

    inner = FileSystems.join(path, ut1_file)
    return inner if FileSystems.exists(inner) else path


def cached_hashes(paths: Tuple[str, ...], ut1_file: str, normalize) -> "HashedSet":
    """The ``HashedSet`` of the normalised entries of list files, kept in the user cache.

    Parsing a list of millions of domains (UT1's adult list) takes seconds; the sorted
    hashes (8 bytes an entry) are saved under ``~/.cache/thresher/url_lists/``, keyed by
    the files' contents (xxh3-128), and loaded in milliseconds by later runs and by the
    other worker processes (a file lock lets one process build it while the others wait).
    Where the cache cannot be written, the lists are parsed in memory.
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
            with FileSystems.open(list_file(path, ut1_file)) as f:
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


class Lists:
    """Loaded blocklists, shared by the threads of one worker process."""

    def __init__(self, domain_paths: Tuple[str, ...], url_paths: Tuple[str, ...]):
        self.domains = cached_hashes(domain_paths, UT1_DOMAINS, normalize_domain)
        self.urls = cached_hashes(url_paths, UT1_URLS, normalize_url_entry)
        if domain_paths or url_paths:
            log.info("url_filter: %d blocklisted domains, %d blocklisted URLs", len(self.domains), len(self.urls))


def shared_lists(domain_paths: Tuple[str, ...], url_paths: Tuple[str, ...]) -> Lists:
    """The lists, loaded once per worker process and shared by its threads."""
    return per_process(("url_filter", domain_paths, url_paths), lambda: Lists(domain_paths, url_paths))


def word_set(words: Iterable[str]) -> FrozenSet[str]:
    return frozenset(w for w in map(normalize_word, words) if w)


def read_words(paths: List[str]) -> List[str]:
    """The words of word files, one a line (``read_list``: blank lines and ``#`` comments skipped)."""
    return [word for path in paths for word in read_list(path)]


def with_assets_hint(error, path: str):
    """A list missing under the cache folder of FineWeb's lists: say what fills it."""
    from thresher.transforms.assets import FINEWEB_RECIPE_DEFAULT, fineweb_lists_dir
    from thresher.transforms.base import ParamError

    folders = {str(fineweb_lists_dir()), os.path.expanduser(FINEWEB_RECIPE_DEFAULT)}
    if error is None or not any(os.path.abspath(path).startswith(f + os.sep) for f in folders):
        return error
    return ParamError(error.param, f"{error}; `thresher assets` puts FineWeb's lists there")


def check_text(path: str) -> None:
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
