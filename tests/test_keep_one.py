"""The keep-one machinery shared by exact_dedup and url_dedup: combiner, join, errors, scale, workers."""
from __future__ import annotations

import apache_beam as beam
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from apache_beam.testing import test_pipeline
from apache_beam.testing.util import assert_that, equal_to

from tests.conftest import local_pipeline
from thresher.transforms.base import ERRORS, KEPT, REJECTED
from thresher.transforms.document import Document
from thresher.transforms.dedup.exact_dedup import ExactDedup
from thresher.transforms.dedup.keep_one import KeepOnePerKey, _BestAndCount
from thresher.transforms.dedup.priority import priority_key
from thresher.transforms.dedup.url_dedup import UrlDedup

# id hashes (xxh64): x 6665539201184043299 < b 8666379929374662555 < a 15154266338359012955


def test_combiner_keeps_the_smallest_candidate_and_counts():
    fn = _BestAndCount()
    acc1 = fn.add_input(fn.add_input(fn.create_accumulator(), ((5,), "e")), ((2,), "b"))
    acc2 = fn.add_input(fn.create_accumulator(), ((3,), "c"))
    assert acc1 == (((2,), "b"), 2)
    assert fn.extract_output(fn.merge_accumulators([fn.create_accumulator(), acc2, acc1])) == (((2,), "b"), 3)
    assert fn.merge_accumulators([fn.create_accumulator()]) == (None, 0)


def first_letter_key(doc):
    if doc.text == "boom":
        raise RuntimeError("bad record")
    return doc.text[:1].encode() if doc.text else None  # empty text: no key, passes through


def test_unkeyed_pass_errors_route_and_same_id_copies_keep_one():
    docs = [Document("a", "apple"), Document("b", "avocado"), Document("x", "banana"),
            Document("n", ""), Document("e", "boom"),
            # same key and same id: the newest is kept, once, however many copies
            Document("s", "cherry", date="2024"), Document("s", "cherry", date="2025"),
            Document("s", "cherry", date="2025")]
    with local_pipeline() as p:
        out = p | beam.Create(docs) | KeepOnePerKey("t", "t_dup", first_letter_key, "newest",
                                                    count_annotation="n")
        assert_that(out[KEPT] | "k" >> beam.Map(lambda d: (d.id, d.date, d.annotations.get("n"))),
                    equal_to([("b", "", 2), ("x", "", 1), ("n", "", None), ("s", "2025", 3)]), label="kept")
        assert_that(out[REJECTED] | "r" >> beam.Map(lambda d: (d.id, d.date, d.annotations["drop_reason"])),
                    equal_to([("a", "", "t_dup"), ("s", "2024", "t_dup"), ("s", "2025", "t_dup")]),
                    label="rejected")
        assert_that(out[ERRORS] | "e" >> beam.Map(lambda e: (e["step"], e["id"], e["error"])),
                    equal_to([("t", "e", "RuntimeError: bad record")]), label="errors")


def _copy(i: int) -> Document:
    return Document(f"copy-{i:05d}", "The same short text, again and again.", date=f"2024-01-{1 + i % 28:02d}")


def test_a_key_with_20000_copies_never_forms_a_group():
    n = 20_000
    winner = min((_copy(i) for i in range(n)), key=lambda d: priority_key(d, "newest"))
    p = local_pipeline()
    out = (p | beam.Create(range(n)) | beam.Map(_copy)
           | ExactDedup(priority="newest"))
    assert_that(out[KEPT] | "k" >> beam.Map(lambda d: (d.id, d.annotations["exact_copies"])),
                equal_to([(winner.id, n)]), label="kept")
    assert_that(out[REJECTED] | "count r" >> beam.combiners.Count.Globally(), equal_to([n - 1]), label="rejected")
    result = p.run()
    result.wait_until_finish()
    sizes = result.metrics().query(MetricsFilter().with_name("exact_dedup.join_group_size"))["distributions"]
    dist = sizes[0].committed
    assert (dist.count, dist.max) == (n, 2)  # one group per document; the winner's holds its record too


DOCS = [Document(f"d{i:03d}", f"text {i % 9}", url=f"https://www.site{i % 5}.test/p/?utm_source=x",
                 date=f"2024-02-{1 + i % 7:02d}") for i in range(80)]


def expected(rule, key):
    groups = {}
    for d in DOCS:
        groups.setdefault(key(d), []).append(d)
    return sorted(min(g, key=lambda d: priority_key(d, rule)).id for g in groups.values())


def run_both(options=None):
    p = test_pipeline.TestPipeline(runner=FnApiRunner(), options=options) if options else local_pipeline()
    with p:
        docs = p | beam.Create(DOCS)
        exact = docs | "exact" >> ExactDedup()
        url = docs | "url" >> UrlDedup()
        assert_that(exact[KEPT] | "ek" >> beam.Map(lambda d: d.id),
                    equal_to(expected("id_hash", lambda d: d.text)), label="exact")
        assert_that(url[KEPT] | "uk" >> beam.Map(lambda d: d.id),
                    equal_to(expected("newest", lambda d: d.url)), label="url")


def test_same_kept_ids_on_one_and_two_workers():
    run_both()
    run_both(PipelineOptions(["--direct_num_workers=2", "--direct_running_mode=multi_processing"]))
