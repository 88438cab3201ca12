"""URL dedup: one document per normalised URL, the newest crawl by default.

Normalisation (``normalize_url``) makes variants of one address meet:

* the scheme goes (http and https are one page), as does a leading ``www.``;
* the host is lowercased, without trailing dot; a default port (80 for
  http, 443 for https) and an empty port are removed; user info is kept;
* query parameters named in ``tracking_params`` are removed (case-insensitive;
  an entry ending in ``*`` is a prefix), the others are kept in their order
  and spelling; empty parameters and an empty query go;
* the fragment goes, and trailing slashes of the path are trimmed.

The path keeps its case and percent-escapes. TFDS C4's ``normalize_url``
is cruder (it cuts the whole query from a first ``utm_``/``ref``/``feed``
parameter on). The key is the 128-bit xxh3 of the normalised URL; the work
is done by ``thresher.transforms.dedup.keep_one.KeepOnePerKey``.
"""
from __future__ import annotations

import functools
from typing import List, Optional, Sequence
from urllib.parse import urlsplit

import xxhash

from thresher.transforms.base import ParamError, Step
from thresher.transforms.document import Document
from thresher.transforms.dedup.keep_one import KeepOnePerKey
from thresher.transforms.dedup.priority import check_rule

REASON = "url_duplicate"
DEFAULT_PORTS = {"http": "80", "https": "443"}
#: click and campaign trackers (Google Analytics/Ads, Facebook, Microsoft, Yandex,
#: X, TikTok, LinkedIn, Instagram, Mailchimp, HubSpot, Marketo)
TRACKING_PARAMS = [
    "utm_*", "fbclid", "gclid", "gclsrc", "dclid", "gbraid", "wbraid", "msclkid", "yclid",
    "twclid", "ttclid", "li_fat_id", "igshid", "mc_cid", "mc_eid", "_ga", "_gl",
    "_hsenc", "_hsmi", "mkt_tok",
]


def _is_tracking(name: str, exact: frozenset, prefixes: tuple) -> bool:
    name = name.lower()
    return name in exact or name.startswith(prefixes)


def normalize_url(url: str, tracking_params: Sequence[str] = TRACKING_PARAMS) -> str:
    """The comparison form of ``url`` (see the module docstring); "" for an empty URL."""
    url = url.strip()
    if not url:
        return ""
    exact = frozenset(p.lower() for p in tracking_params if not p.endswith("*"))
    prefixes = tuple(p[:-1].lower() for p in tracking_params if p.endswith("*"))
    try:
        parts = urlsplit(url if "://" in url or url.startswith("//") else "//" + url)
    except ValueError:  # e.g. an unbalanced "[" in the host: compare it as written
        return url.split("#", 1)[0]
    userinfo, _, hostport = parts.netloc.rpartition("@")
    host, port = hostport, ""
    if hostport.startswith("["):  # IPv6 literal
        end = hostport.find("]")
        if end != -1:
            host, port = hostport[:end + 1], hostport[end + 1:].lstrip(":")
    elif ":" in hostport:
        host, port = hostport.rsplit(":", 1)
    host = host.lower().rstrip(".")
    if host.startswith("www."):
        host = host[4:]
    if port == DEFAULT_PORTS.get(parts.scheme.lower()):
        port = ""
    netloc = (userinfo + "@" if userinfo else "") + host + (":" + port if port else "")
    query = "&".join(p for p in parts.query.split("&")
                     if p and not _is_tracking(p.split("=", 1)[0], exact, prefixes))
    return netloc + parts.path.rstrip("/") + ("?" + query if query else "")


def url_key(doc: Document, tracking_params: Sequence[str]) -> Optional[bytes]:
    """128-bit xxh3 of the normalised URL; None (pass through) when it is empty."""
    normalized = normalize_url(doc.url, tracking_params)
    if not normalized:
        return None
    return xxhash.xxh3_128_digest(normalized.encode("utf-8", "surrogatepass"))


class UrlDedup(Step):
    """Keep one document per normalised URL (newest crawl by default); reject the others as url_duplicate.

    Documents with an empty URL pass through untouched. The kept document is
    annotated with ``url_copies``, the number of documents that had its
    normalised URL, itself included.

    priority: which document is kept: newest (newest date; undated lose), id_hash (smallest id hash)
        or annotation (highest value of priority_annotation).
    priority_annotation: the annotation read by the ``annotation`` priority.
    tracking_params: query parameters removed before comparing (case-insensitive; "utm_*" is a prefix).
    """

    name = "url_dedup"
    LIGHT_SHUFFLES = True  # KeepOnePerKey ships documents without their text where it can
    ANNOTATIONS = {"url_copies": "int64"}
    ANNOTATION_DOCS = {"url_copies": "documents that had this normalised URL, the kept one included"}
    DROP_REASONS = {REASON: "same normalised URL as the kept document"}

    def __init__(self, priority: str = "newest", priority_annotation: Optional[str] = None,
                 tracking_params: List[str] = TRACKING_PARAMS):
        super().__init__()
        check_rule(priority, priority_annotation)
        if not all(isinstance(p, str) and p.strip("*") for p in tracking_params):
            raise ParamError("tracking_params", f"url_dedup: tracking_params must be non-empty names, got {tracking_params!r}")
        self.priority = priority
        self.priority_annotation = priority_annotation
        self.tracking_params = list(tracking_params)

    def expand(self, docs):
        return docs | "keep one per url" >> KeepOnePerKey(
            self.name, REASON, functools.partial(url_key, tracking_params=tuple(self.tracking_params)),
            self.priority, self.priority_annotation, count_annotation="url_copies")
