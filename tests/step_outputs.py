"""Run a step over documents in a local pipeline and collect what reached each of its outputs."""
from __future__ import annotations

from typing import Dict, Iterable, List, Sequence

import apache_beam as beam
from apache_beam.testing.util import assert_that

from tests.conftest import local_pipeline
from thresher.transforms.base import ERRORS, KEPT, REJECTED, SUMMARY

_FOUND: Dict[str, List] = {}


class _Collect:
    """assert_that's check, storing what reached it (the runner works on a pickled copy of it, in this process)."""

    def __init__(self, name: str):
        self.name = name

    def __call__(self, items):
        _FOUND[self.name] = list(items)


def collect_outputs(step, docs: Iterable, tags: Sequence[str] = (KEPT, REJECTED, ERRORS, SUMMARY)) -> Dict[str, List]:
    """``{tag: elements}`` of ``step`` applied to ``docs`` (a local pipeline, run to its end)."""
    _FOUND.clear()
    with local_pipeline() as p:
        out = p | beam.Create(list(docs)) | step
        for name in tags:
            assert_that(out[name], _Collect(name), label=f"collect {name}")
    return dict(_FOUND)
