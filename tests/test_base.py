"""The step contract: kept / rejected / errors routing, annotate and dry_run, the coder."""
from __future__ import annotations

from typing import Dict, Optional

import apache_beam as beam
from apache_beam.testing.util import assert_that, equal_to

from thresher.pipelines.recipe.params import step_params
from tests.conftest import local_pipeline
from thresher.transforms.base import ERRORS, KEPT, REJECTED, DocumentStep, FilterStep
from thresher.transforms.document import Document, DocumentCoder


class MinLength(FilterStep):
    """Drops documents shorter than ``min_chars``; strips trailing spaces."""

    name = "min_length"

    def __init__(self, min_chars: int = 5, **common):
        super().__init__(**common)
        self.min_chars = min_chars

    def clean(self, doc):
        text = doc.text.rstrip()
        return text, {"chars": len(text)}

    def decide(self, stats: Dict[str, float]) -> Optional[str]:
        if stats["chars"] < self.min_chars:
            return "min_length_short"
        return None


class Explodes(DocumentStep):
    name = "explodes"

    def process(self, doc):
        if doc.text == "boom":
            raise RuntimeError("bad record")
        return doc


def run_step(step, docs, kept, rejected, errors):
    """Run ``step`` on ``docs`` and check each of its three outputs."""
    with local_pipeline() as p:
        out = p | beam.Create(docs) | step
        assert_that(out[KEPT] | "k" >> beam.Map(lambda d: (d.id, d.text, d.annotations)),
                    equal_to(kept), label="kept")
        assert_that(out[REJECTED] | "r" >> beam.Map(
            lambda d: (d.id, d.annotations["drop_step"], d.annotations["drop_reason"])),
            equal_to(rejected), label="rejected")
        assert_that(out[ERRORS] | "e" >> beam.Map(lambda e: (e["step"], e["id"], e["error"])),
                    equal_to(errors), label="errors")


DOCS = [Document("a", "long enough   "), Document("b", "tiny"), Document("c", "12345")]


def test_filter_keeps_cleans_and_drops_at_the_boundary():
    run_step(MinLength(min_chars=5), DOCS,
             kept=[("a", "long enough", {}), ("c", "12345", {})],  # 5 chars == min_chars: kept
             rejected=[("b", "min_length", "min_length_short")],
             errors=[])


def test_annotate_stores_statistics():
    run_step(MinLength(annotate=True), DOCS,
             kept=[("a", "long enough", {"min_length_chars": 11}), ("c", "12345", {"min_length_chars": 5})],
             rejected=[("b", "min_length", "min_length_short")],
             errors=[])


def test_dry_run_drops_nothing_and_rewrites_nothing():
    run_step(MinLength(dry_run=True), DOCS,
             kept=[("a", "long enough   ", {"min_length_chars": 11}),
                   ("b", "tiny", {"min_length_chars": 4, "min_length_drop": "min_length_short"}),
                   ("c", "12345", {"min_length_chars": 5})],
             rejected=[],
             errors=[])


def test_a_record_that_raises_goes_to_errors_and_the_rest_goes_on():
    run_step(Explodes(), [Document("a", "fine"), Document("b", "boom")],
             kept=[("a", "fine", {})],
             rejected=[],
             errors=[("explodes", "b", "RuntimeError: bad record")])


def test_forwarded_parameters_are_part_of_the_step():
    params = step_params(MinLength)
    assert list(params) == ["min_chars", "annotate", "dry_run"]
    assert params["dry_run"].default is False


def test_document_coder_round_trip_and_determinism():
    coder = DocumentCoder()
    doc = Document("id\ud800", "text é 中文", "u", "s", "2024", {"b": 1.5, "a": True, "c": "x"})
    assert coder.decode(coder.encode(doc)) == doc
    same = Document("id\ud800", "text é 中文", "u", "s", "2024", {"c": "x", "a": True, "b": 1.5})
    assert coder.encode(same) == coder.encode(doc)
    assert coder.decode(coder.encode(Document("x", ""))) == Document("x", "")
