"""Shared test helpers: the real-data folder and a pipeline that never downloads Prism."""
from __future__ import annotations

import pathlib

import pytest
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from apache_beam.testing.test_pipeline import TestPipeline

from pipelines.local_runner_fix import serialise_buffer_creation

serialise_buffer_creation()  # tests run the FnApiRunner with 2 workers too: never lose data

PROJECT_ROOT = pathlib.Path(__file__).resolve().parents[1]
SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data"


def local_pipeline() -> TestPipeline:
    """A TestPipeline on the FnApiRunner (the DirectRunner would try to download Prism)."""
    return TestPipeline(runner=FnApiRunner())


@pytest.fixture
def shared_data() -> pathlib.Path:
    if not SHARED_DATA.is_dir():
        pytest.fail(f"real data folder missing: {SHARED_DATA}")
    return SHARED_DATA
