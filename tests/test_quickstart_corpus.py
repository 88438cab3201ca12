"""Tests for the quickstart corpus generator (pipelines/commands/quickstart_corpus.py)."""
from __future__ import annotations

import gzip
import json
import random
import re
from collections import Counter

import pytest
import trafilatura
from warcio.archiveiterator import ArchiveIterator

from thresher.pipelines.commands.quickstart_corpus import main, write_corpus
from thresher.pipelines.commands.quickstart_pages import jaccard
from tests.conftest import require_lid_model
from thresher.transforms.document import Document
from thresher.transforms.extract.html import Extract
from thresher.transforms.filters.gopher import GopherQuality
from thresher.transforms.filters.gopher_repetition import GopherRepetition
from thresher.transforms.filters.language import LanguageFilter

GOPHER_STOP_WORDS = {"the", "be", "to", "of", "and", "that", "have", "with"}


def _read(out, manifest) -> tuple:
    """Read every file with warcio: complete responses by URL, record types, problems found."""
    pages, types, problems = {}, Counter(), []
    for name in manifest["files"]:
        try:
            with open(out / name, "rb") as fh:
                for rec in ArchiveIterator(fh):
                    types[rec.rec_type] += 1
                    if rec.rec_type != "response":
                        continue
                    url, body = rec.rec_headers.get_header("WARC-Target-URI"), rec.content_stream().read()
                    if len(body) < int(rec.http_headers.get_header("Content-Length")):  # warcio ends silently
                        problems.append((name, url))
                    else:
                        pages[url] = (rec.http_headers.get_header("Content-Type"), body)
        except Exception as exc:  # or warcio raises at the broken tail
            problems.append((name, repr(exc)))
    return pages, types, problems


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    out = tmp_path_factory.mktemp("quickstart")
    manifest = write_corpus(str(out))
    pages, types, problems = _read(out, manifest)
    return dict(out=out, manifest=manifest, pages=pages, types=types, problems=problems)


def _text(corpus, url: str) -> str:
    ctype, body = corpus["pages"][url]
    html = body.decode(ctype.split("charset=")[1])
    return trafilatura.extract(html, favor_precision=True, include_comments=False) or ""


@pytest.fixture(scope="module")
def extracted(corpus) -> dict:
    """URL -> the extract step's output (FineWeb's trafilatura settings) for every HTML page of the corpus."""
    step = Extract()
    return {url: step.process(Document(id=url, text=body.decode(ctype.split("charset=")[1]), url=url))
            for url, (ctype, body) in corpus["pages"].items() if ctype.startswith("text/html")}


def _kinds(corpus, extracted) -> dict:
    """URL -> "good" (articles, their exact and near copies, non-UTF-8 articles), "short", "spam", "link_farm"."""
    expected = corpus["manifest"]["expected"]
    kinds = dict.fromkeys(extracted, "good")
    kinds.update(dict.fromkeys(expected["short_urls"], "short"))
    for url in expected["spam_urls"]:
        kinds[url] = "link_farm" if corpus["pages"][url][1].count(b"<li><a href=") >= 40 else "spam"
    return kinds


def test_gopher_filters_keep_articles_and_drop_spam_and_short_pages(corpus, extracted):
    """The quickstart recipe's Gopher steps: every good page passes both, spam (bar link farms, and lorem ipsum,
    which the language step drops) fails one, short pages are too short."""
    repetition, quality = GopherRepetition(), GopherQuality(min_stop_words=None)  # as recipes/quickstart.yaml
    kinds, failed, langs = _kinds(corpus, extracted), [], Counter()

    def reasons(url):
        doc = extracted[url]
        assert isinstance(doc, Document), (url, doc)
        return repetition.decide(repetition.score(doc)), quality.decide(quality.score(doc))

    for url, kind in sorted(kinds.items()):
        if kind == "good":
            failed += [(url, r) for r in reasons(url) if r]
            langs[re.search(rb'<html lang="(\w+)">', corpus["pages"][url][1]).group(1).decode()] += 1
        elif kind == "short":
            assert reasons(url)[1] == "gopher_short_doc", url
        elif kind == "spam" and b"Lorem ipsum dolor" not in corpus["pages"][url][1]:
            assert any(reasons(url)), url
    assert failed == []
    assert set(langs) == {"en", "de", "fr", "es", "zh"} and min(langs.values()) >= 5, langs
    assert sum(langs.values()) == corpus["manifest"]["response_records"] - sum(
        len(corpus["manifest"]["expected"][k]) for k in ("spam_urls", "short_urls", "non_html_urls"))


def test_language_step_keeps_articles_and_drops_lorem_ipsum(corpus, extracted):
    require_lid_model()  # skips without it; fails in CI
    step = LanguageFilter(languages=["en", "de", "fr", "es", "zh"], min_score=0.65)  # as recipes/quickstart.yaml
    repetition, quality = GopherRepetition(), GopherQuality(min_stop_words=None)
    for url, kind in sorted(_kinds(corpus, extracted).items()):
        doc = extracted[url]
        if kind == "good":
            assert isinstance(step.process(doc), Document), url
        elif kind == "spam":  # every spam page fails a Gopher rule or the language step
            kept = isinstance(step.process(doc), Document)
            assert not kept or any((repetition.decide(repetition.score(doc)), quality.decide(quality.score(doc)))), url


def test_same_seed_gives_same_bytes(corpus, tmp_path):
    manifest = write_corpus(str(tmp_path))
    assert manifest == corpus["manifest"]
    for name in manifest["files"] + ["manifest.json"]:
        assert (tmp_path / name).read_bytes() == (corpus["out"] / name).read_bytes(), name
    data = (tmp_path / manifest["files"][0]).read_bytes()
    assert data[:2] == b"\x1f\x8b" and data[4:8] == b"\0\0\0\0"  # gzip header without a timestamp
    other = write_corpus(str(tmp_path / "seed8"), seed=8, pages=40, files=1)
    assert (tmp_path / "seed8" / other["files"][0]).read_bytes() != data


def test_manifest_written_and_counts(corpus):
    manifest = corpus["manifest"]
    assert json.loads((corpus["out"] / "manifest.json").read_text(encoding="utf-8")) == manifest
    assert manifest["files"] == ["quickstart-00000.warc.gz", "quickstart-00001.warc.gz"]
    records = manifest["records"]
    for kind in ("article_en", "article_de", "article_fr", "article_es", "article_zh", "exact_dup", "near_dup",
                 "spam", "short", "non_utf8", "non_html", "truncated", "warcinfo", "request"):
        assert records[kind] >= 1, kind
    assert records["article_en"] > sum(records[f"article_{lang}"] for lang in ("de", "fr", "es", "zh"))
    response_kinds = sum(v for k, v in records.items() if k not in ("warcinfo", "request", "truncated"))
    assert manifest["response_records"] == response_kinds == 300


def test_warcio_reads_every_response(corpus):
    manifest, types = corpus["manifest"], corpus["types"]
    assert len(corpus["pages"]) == manifest["response_records"]
    assert types["warcinfo"] == len(manifest["files"]) and types["request"] == manifest["records"]["request"]
    assert types["warcinfo"] + types["request"] == manifest["expected"]["skipped_records"]
    for ctype, body in corpus["pages"].values():
        assert ctype.startswith(("text/html; charset=", "application/pdf", "image/png"))


def test_truncated_tail_is_detected(corpus):
    manifest, problems = corpus["manifest"], corpus["problems"]
    assert len(problems) == manifest["expected"]["read_errors"] == 1
    assert problems[0][0] == manifest["files"][-1]
    assert manifest["expected"]["truncated_url"] not in corpus["pages"]
    gzip.decompress((corpus["out"] / manifest["files"][0]).read_bytes())  # the first file is whole
    with pytest.raises(EOFError):
        gzip.decompress((corpus["out"] / manifest["files"][-1]).read_bytes())


def test_exact_duplicates_extract_identically(corpus):
    pairs = corpus["manifest"]["expected"]["exact_dup_pairs"]
    assert len(pairs) == corpus["manifest"]["records"]["exact_dup"]
    for original, copy in pairs:
        assert original != copy and corpus["pages"][original][1] != corpus["pages"][copy][1]  # other boilerplate
        text = _text(corpus, original)
        assert text and text == _text(corpus, copy), (original, copy)


def test_near_duplicates_are_close_but_not_equal(corpus):
    pairs = corpus["manifest"]["expected"]["near_dup_pairs"]
    assert len(pairs) == corpus["manifest"]["records"]["near_dup"]
    for original, copy in pairs:
        assert 0.75 <= jaccard(_text(corpus, original), _text(corpus, copy)) <= 0.97, (original, copy)


def test_english_articles_extract_to_real_text(corpus):
    expected = corpus["manifest"]["expected"]
    special = {u for key in ("spam_urls", "short_urls", "non_html_urls") for u in expected[key]}
    special |= {u for pair in expected["exact_dup_pairs"] + expected["near_dup_pairs"] for u in pair}
    english = sorted(u for u, (ctype, body) in corpus["pages"].items()
                     if u not in special and b'<html lang="en">' in body)
    assert len(english) >= 100
    for url in random.Random(0).sample(english, 10):
        text = _text(corpus, url)
        words = text.split()
        assert 100 <= len(words) <= 850, url
        assert len(GOPHER_STOP_WORDS & {w.lower() for w in words}) >= 4, url
        assert 3 <= sum(map(len, words)) / len(words) <= 10, url
        assert all(line.rstrip()[-1] in ".!?" for line in text.splitlines() if line.strip() and len(line.split()) > 12)


def test_non_utf8_pages_decode_with_declared_charset(corpus):
    legacy = corpus["manifest"]["expected"]["non_utf8"]
    assert {"windows-1252", "iso-8859-1"} <= set(legacy.values())
    for url, charset in legacy.items():
        ctype, body = corpus["pages"][url]
        assert ctype == f"text/html; charset={charset}"
        with pytest.raises(UnicodeDecodeError):
            body.decode("utf-8")
        html = body.decode(charset)
        assert f'<meta charset="{charset}">' in html and "\ufffd" not in html
        assert re.search("[äöüßÄÖÜéèêàçô]", _text(corpus, url)), url


def test_other_kinds(corpus):
    pages, expected = corpus["pages"], corpus["manifest"]["expected"]
    kinds = Counter(pages[u][0].split(";")[0] for u in expected["non_html_urls"])
    assert kinds["application/pdf"] >= 1 and kinds["image/png"] >= 1
    for url in expected["non_html_urls"]:
        assert pages[url][1].startswith((b"%PDF-", b"\x89PNG\r\n\x1a\n"))
    spam = [pages[u][1] for u in expected["spam_urls"]]
    for marker in (b"Lorem ipsum dolor", b"BUY NOW!!!", b"cheap "):
        assert any(marker in page for page in spam), marker
    assert any(page.count(b"<li><a href=") >= 40 for page in spam)  # a link farm
    for url in expected["short_urls"]:  # a title and one sentence
        assert re.search(rb"<article><h1>[^<]+</h1><p>[^<]+</p></article>", pages[url][1]), url
    chinese = [body.decode("utf-8") for _, body in pages.values() if b'<html lang="zh">' in body]
    assert chinese and all(re.search("[\u4e00-\u9fff]{20}", page) for page in chinese)


def test_cli_writes_a_small_corpus(tmp_path, capsys):
    assert main([str(tmp_path), "--pages", "40", "--files", "1", "--seed", "3"]) == 0
    manifest = json.loads((tmp_path / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["response_records"] == 40 and manifest["files"] == ["quickstart-00000.warc.gz"]
    pages, _, problems = _read(tmp_path, manifest)
    assert len(pages) == 40 and len(problems) == 1
    assert '"response_records": 40' in capsys.readouterr().out
