"""Deterministic generator of Thresher's quickstart corpus: synthetic HTML pages in gzipped WARC files.

Every word comes from the small grammars of ``quickstart_grammar`` (no third-party text), the pages
from ``quickstart_pages``; this module plans the corpus, writes the WARC files and the manifest of
what a reader and the filters should find. The same seed gives byte-identical files.
Run ``python -m thresher.pipelines.commands.quickstart_corpus OUT_DIR``.
"""
from __future__ import annotations

import argparse
import datetime as dt
import html
import io
import json
import os
import random
import sys
import uuid
from collections import Counter
from email.utils import format_datetime

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from thresher.pipelines.commands.quickstart_pages import _Writer, _article, _page, _pdf, _png, _slug, _spam

MIRRORS = ["news-digest.test", "content-mirror.test", "reader-hub.test"]  # exact copies (syndication)
SCRAPERS = ["copycat-pages.test", "rewrite-farm.test"]  # near copies
SPAM_DOMAINS = ["best-deals-now.test", "top-casino-bonus.test", "cheap-pills-online.test", "seo-link-hub.test"]
LEGACY = [("de", "windows-1252"), ("de", "iso-8859-1"), ("fr", "iso-8859-1")]  # non-UTF-8 pages: language, charset


def _plan(pages: int) -> dict:
    """Readable response records per kind."""
    share = lambda low, percent, of=pages: max(low, of * percent // 100)
    n = {"non_html": share(2, 1), "short": share(1, 3), "spam": share(4, 6), "exact_dup": share(1, 5),
         "near_dup": share(1, 5), "non_utf8": share(2, 3)}
    rest = pages - sum(n.values())
    n.update(article_zh=share(1, 4, rest), article_de=share(1, 10, rest), article_fr=share(1, 8, rest),
             article_es=share(1, 8, rest))
    n["article_en"] = pages - sum(n.values())
    return n


def _build(rng: random.Random, pages: int) -> tuple:
    """All response items (dicts: kind, url, lang, ctype, body) and the manifest's expectations."""
    plan, items, uid = _plan(pages), [], iter(range(1, 10 ** 6))
    exp = {k: [] for k in ("exact_dup_pairs", "near_dup_pairs", "spam_urls", "short_urls", "non_html_urls")}
    exp["non_utf8"] = {}

    def add(kind, w, title, main, domain="", folder="", charset="utf-8", layout=""):
        domain, folder = domain or w.domain, folder or f"{rng.randint(2016, 2024)}/{rng.randint(1, 12):02d}"
        url = f"https://{domain}/{folder}/{_slug(title)}-{next(uid)}.html"
        sidebar = [(rng.randint(2015, 2024), w.title()) for _ in range(rng.randint(3, 6))]
        body = _page(domain, w.lang, title, main, sidebar, charset, layout).encode(charset, "xmlcharrefreplace")
        items.append(dict(kind=kind, url=url, lang=w.lang, ctype=f"text/html; charset={charset}", body=body))
        return url

    articles = []
    for lang in ("en", "de", "fr", "es", "zh"):
        for _ in range(plan[f"article_{lang}"]):
            w = _Writer(lang, rng)
            title, paras = w.article()
            articles.append((w, title, paras, add(f"article_{lang}", w, title, _article(title, paras, w.sep))))
    exact = rng.sample(articles, plan["exact_dup"])
    for w, title, paras, src in exact:  # same main text at a second URL with other boilerplate
        same_site = rng.random() < 0.4
        url = add("exact_dup", w, title, _article(title, paras, w.sep), "" if same_site else rng.choice(MIRRORS),
                  "amp" if same_site else "syndicated", layout="amp")
        exp["exact_dup_pairs"].append([src, url])
    spaced = [a for a in articles if a not in exact and a[0].lang != "zh"]  # Chinese "words" are whole clauses
    for w, title, paras, src in rng.sample(spaced, plan["near_dup"]):
        url = add("near_dup", w, title, _article(title, w.near_copy(paras), w.sep), rng.choice(SCRAPERS))
        exp["near_dup_pairs"].append([src, url])
    for i in range(plan["non_utf8"]):
        lang, charset = LEGACY[i % len(LEGACY)]
        w = _Writer(lang, rng)
        title, paras = w.article()
        exp["non_utf8"][add("non_utf8", w, title, _article(title, paras, w.sep), charset=charset)] = charset
    for _ in range(plan["short"]):  # a title and one sentence
        w = _Writer(rng.choice(["en", "en", "en", "de", "fr", "es"]), rng)
        title = w.title()
        main = f"<article><h1>{html.escape(title)}</h1><p>{html.escape(w.sentence())}</p></article>"
        exp["short_urls"].append(add("short", w, title, main))
    for i in range(plan["spam"]):
        title, main = _spam(i % 4, rng)
        exp["spam_urls"].append(add("spam", _Writer("en", rng), title, main, SPAM_DOMAINS[i % 4], "offers"))
    for i in range(plan["non_html"]):
        w = _Writer("en", rng)
        name, ctype, body = ("brochure", "application/pdf", _pdf(w.sentence())) if i % 2 == 0 else (
            "photo", "image/png", _png(rng))
        exp["non_html_urls"].append(f"https://{w.domain}/files/{name}-{next(uid)}.{ctype.split('/')[1]}")
        items.append(dict(kind="non_html", url=exp["non_html_urls"][-1], lang="", ctype=ctype, body=body))
    exp["languages"] = dict(sorted(Counter(it["lang"] for it in items if it["kind"] not in ("spam", "non_html")).items()))
    exp["unique_articles"] = plan["non_utf8"] + sum(v for k, v in plan.items() if k.startswith("article_"))
    exp["read_errors"] = 1
    return items, exp


class _Unchanged(io.BytesIO):
    """A file written on close only when its bytes differ from what is there: a second quickstart keeps
    the first one's files (and their modification times), so its run takes them from the prefix cache."""

    def __init__(self, path: str):
        super().__init__()
        self.path = path

    def __exit__(self, *exc):
        data = self.getvalue()
        if not exc[0] and not (os.path.isfile(self.path) and _read(self.path) == data):
            with open(self.path, "wb") as fh:
                fh.write(data)
        return super().__exit__(*exc)


def _read(path: str) -> bytes:
    with open(path, "rb") as fh:
        return fh.read()


def write_corpus(out_dir: str, seed: int = 7, pages: int = 300, files: int = 2) -> dict:
    """Write ``files`` WARC files holding ``pages`` readable responses plus a truncated one; return the manifest.

    ``expected`` in the manifest lists what a reader and the filters should find: duplicate pairs (original, copy),
    spam/short/non-HTML URLs, non-UTF-8 URLs with their charset, languages, unique_articles (good articles), read_errors.
    """
    if pages < 40 or files < 1:
        raise ValueError("need pages >= 40 and files >= 1")
    rng = random.Random(seed)
    items, expected = _build(rng, pages)
    rng.shuffle(items)
    requested, numbers = set(rng.sample(range(len(items)), max(3, pages // 40))), iter(range(10 ** 7))
    names, counts = [f"quickstart-{f:05d}.warc.gz" for f in range(files)], Counter(it["kind"] for it in items)
    os.makedirs(out_dir, exist_ok=True)

    def record(writer, rec_type, url, body=b"", mime="", http=None, **warc_headers):
        """The next record, with a date and id fixed by the seed (mime: the HTTP Content-Type of a response)."""
        k = next(numbers)
        when = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(days=seed % 360, seconds=37 * k)
        if rec_type == "response":
            http = StatusAndHeaders("200 OK", [("Date", format_datetime(when, usegmt=True)), ("Server", "nginx"),
                                               ("Content-Type", mime), ("Content-Length", str(len(body)))],
                                    protocol="HTTP/1.1")
            mime, warc_headers["WARC-IP-Address"] = "", f"192.0.2.{1 + sum(map(ord, url.split('/')[2])) % 254}"
        headers = {"WARC-Record-ID": f"<urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, f'thresher-quickstart/{seed}/{k}')}>",
                   "WARC-Date": when.strftime("%Y-%m-%dT%H:%M:%SZ"), **warc_headers}
        return writer.create_warc_record(url, rec_type, payload=io.BytesIO(body), length=len(body), http_headers=http,
                                         warc_headers_dict=headers, warc_content_type=mime)

    for f, name in enumerate(names):
        with _Unchanged(os.path.join(out_dir, name)) as fh:
            writer = WARCWriter(fh, gzip=True)
            info = f"software: thresher quickstart_corpus\r\nformat: WARC File Format 1.0\r\nseed: {seed}\r\n".encode()
            writer.write_record(record(writer, "warcinfo", "", info, "application/warc-fields", **{"WARC-Filename": name}))
            counts["warcinfo"] += 1
            for i in range(f * len(items) // files, (f + 1) * len(items) // files):
                url = items[i]["url"]
                rec = record(writer, "response", url, items[i]["body"], items[i]["ctype"])
                if i in requested:  # a crawler's request record, which readers skip
                    get = StatusAndHeaders(f"GET /{url.split('/', 3)[3]} HTTP/1.1", [
                        ("Host", url.split("/")[2]), ("User-Agent", "ThresherQuickstart/1.0"), ("Accept", "*/*")],
                        is_http_request=True)
                    writer.write_record(record(writer, "request", url, http=get, **{
                        "WARC-Concurrent-To": rec.rec_headers.get_header("WARC-Record-ID"),
                        "WARC-Date": rec.rec_headers.get_header("WARC-Date")}))
                    counts["request"] += 1
                writer.write_record(rec)
            if f == files - 1:  # the first half of one more gzip member: a truncated record
                w = _Writer("en", rng, "gardening")
                title, paras = w.article()
                url = expected["truncated_url"] = f"https://{w.domain}/2024/12/{_slug(title)}-truncated.html"
                body = _page(w.domain, "en", title, _article(title, paras, " "), [(2024, w.title())]).encode()
                buf = io.BytesIO()
                WARCWriter(buf, gzip=True).write_record(record(writer, "response", url, body, "text/html; charset=utf-8"))
                fh.write(buf.getvalue()[: len(buf.getvalue()) // 2])
                counts["truncated"] += 1
    expected["skipped_records"] = counts["warcinfo"] + counts["request"]
    manifest = {"seed": seed, "files": names, "records": dict(sorted(counts.items())), "response_records": len(items),
                "expected": expected}
    with open(os.path.join(out_dir, "manifest.json"), "w", encoding="utf-8") as fh:
        json.dump(manifest, fh, indent=2, ensure_ascii=False, sort_keys=True)
    return manifest


def main(argv=None) -> int:
    """``python -m thresher.pipelines.commands.quickstart_corpus OUT_DIR [--seed N] [--pages N] [--files N]``."""
    ap = argparse.ArgumentParser(prog="python -m thresher.pipelines.commands.quickstart_corpus", description=__doc__.splitlines()[0])
    ap.add_argument("out_dir")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--pages", type=int, default=300)
    ap.add_argument("--files", type=int, default=2)
    args = ap.parse_args(argv)
    manifest = write_corpus(args.out_dir, args.seed, args.pages, args.files)
    print(json.dumps({k: manifest[k] for k in ("files", "records", "response_records")}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
