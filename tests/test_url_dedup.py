"""url_dedup: URL normalisation table, newest-wins keep-one, empty URLs pass through."""
from __future__ import annotations

import apache_beam as beam
import pytest
from apache_beam.testing.util import assert_that, equal_to

from thresher.pipelines.recipe.params import step_params
from tests.conftest import local_pipeline
from thresher.transforms.base import ERRORS, KEPT, REJECTED
from thresher.transforms.document import Document
from thresher.transforms.dedup.url_dedup import UrlDedup, normalize_url, url_key

# id hashes (xxh64): z 327173387797980296 < x 6665539201184043299 < b 8666379929374662555
#   < c 11806979466381907949 < y 13923454618160480178 < a 15154266338359012955


@pytest.mark.parametrize("url, normalized", [
    ("https://www.Example.COM/Path/?utm_source=x&id=3#frag", "example.com/Path?id=3"),
    ("HTTPS://WWW.EXAMPLE.COM", "example.com"),
    ("http://example.com:80/a", "example.com/a"),              # http's default port
    ("https://example.com:443/a", "example.com/a"),            # https's default port
    ("http://example.com:443/a", "example.com:443/a"),         # not http's default: kept
    ("https://example.com:8443/a/", "example.com:8443/a"),
    ("https://example.com:/a", "example.com/a"),               # empty port
    ("https://example.com/?", "example.com"),                  # empty query
    ("https://example.com#top", "example.com"),
    ("https://example.com/p?b=2&a=1", "example.com/p?b=2&a=1"),  # order kept
    ("https://example.com/p?fbclid=abc&b=2&gclid=1&UTM_Medium=m&a=", "example.com/p?b=2&a="),
    ("https://example.com/p?b=2&&a=1&", "example.com/p?b=2&a=1"),
    ("https://example.com/p?utm=1&ref=home", "example.com/p?utm=1&ref=home"),  # utm_* only; ref is content
    ("example.com/a/", "example.com/a"),                       # no scheme
    ("//www.example.com/a", "example.com/a"),
    ("https://sub.www.example.com/", "sub.www.example.com"),   # only a leading www.
    ("https://www2.example.com/", "www2.example.com"),
    ("https://example.com./a//", "example.com/a"),             # trailing dot, every trailing slash
    ("https://user:Pw@WWW.Example.com:443/x", "user:Pw@example.com/x"),
    ("http://[2001:DB8::1]:80/a", "[2001:db8::1]/a"),
    ("https://example.com/A%2Fb/", "example.com/A%2Fb"),       # path case and escapes kept
    ("http://[::1/a#x", "http://[::1/a"),                      # unparsable: as written, without fragment
    ("", ""),
    ("   ", ""),
])
def test_normalisation_table(url, normalized):
    assert normalize_url(url) == normalized


def test_custom_tracking_list_and_keys():
    assert normalize_url("https://a.test/?Ref=x&session_id=1&utm_source=y", ["ref", "session*"]) == \
        "a.test?utm_source=y"
    assert url_key(Document("1", "", url=""), ["utm_*"]) is None
    assert url_key(Document("1", "", url="https://"), ["utm_*"]) is None  # normalises to nothing
    assert url_key(Document("1", "", url="http://www.a.test/"), ["utm_*"]) == \
        url_key(Document("2", "", url="https://a.test"), ["utm_*"])
    assert len(url_key(Document("1", "", url="a.test"), [])) == 16


def dup(doc_id):
    return (doc_id, "url_dedup", "url_duplicate")


def test_newest_wins_ties_break_by_id_hash_and_empty_urls_pass():
    docs = [Document("a", "1", url="https://www.news.test/story?utm_source=tw", date="2024-03-01"),
            Document("b", "2", url="http://news.test/story/", date="2024-05-01"),
            Document("c", "3", url="https://news.test/story#comments"),            # undated: loses
            Document("x", "4", url="https://news.test/other", date="2024-01-01"),  # alone
            Document("y", "5", url="https://t.test/", date="2024-01-01"),
            Document("z", "6", url="https://t.test", date="2024-01-01"),           # tie: z's hash < y's
            Document("n1", "same", url=""), Document("n2", "same", url="")]        # no URL: untouched
    with local_pipeline() as p:
        inputs = p | beam.Create(docs)
        newest = inputs | "newest" >> UrlDedup()
        by_id = inputs | "by id" >> UrlDedup(priority="id_hash")
        assert_that(newest[KEPT] | "k" >> beam.Map(lambda d: (d.id, d.annotations)),
                    equal_to([("b", {"url_copies": 3}), ("x", {"url_copies": 1}),
                              ("z", {"url_copies": 2}), ("n1", {}), ("n2", {})]), label="kept")
        assert_that(newest[REJECTED] | "r" >> beam.Map(
            lambda d: (d.id, d.annotations["drop_step"], d.annotations["drop_reason"])),
            equal_to([dup("a"), dup("c"), dup("y")]), label="rejected")
        assert_that(newest[ERRORS], equal_to([]), label="errors")
        assert_that(by_id[KEPT] | "k2" >> beam.Map(lambda d: d.id),
                    equal_to(["b", "x", "z", "n1", "n2"]), label="kept by id hash")  # b < c < a


def test_parameters_are_checked_and_typed():
    with pytest.raises(ValueError, match="valid: newest, annotation, id_hash"):
        UrlDedup(priority="oldest")
    with pytest.raises(ValueError, match="tracking_params"):
        UrlDedup(tracking_params=["*"])
    params = step_params(UrlDedup)
    assert list(params) == ["priority", "priority_annotation", "tracking_params"]
    assert params["priority"].default == "newest"
    assert UrlDedup.name == "url_dedup" and UrlDedup.ANNOTATIONS == {"url_copies": "int64"}
