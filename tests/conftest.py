"""Shared test helpers: the real-data folder, fetched assets, and a pipeline that never downloads Prism."""
from __future__ import annotations

import os
import pathlib
from typing import Dict, NoReturn

import pytest
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from apache_beam.testing.test_pipeline import TestPipeline

from thresher.pipelines.run.local_runner_fix import fix_local_runner
from thresher.pipelines.run.local_runner_memory import limit_local_runner_memory

fix_local_runner()  # tests run the FnApiRunner with 2 workers too: never lose data
limit_local_runner_memory()  # as the local preset does

PROJECT_ROOT = pathlib.Path(__file__).resolve().parents[1]
SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data"


def real_pages_with_datatrove_reference():
    """[(page, datatrove 0.2.0's recorded outcome)] for the real texts (tests/data, keyed by id hash)."""
    import gzip
    import hashlib
    import json

    pages_path = SHARED_DATA / "bench" / "real-pages.texts.jsonl.gz"
    if not pages_path.exists():
        pytest.fail(f"real data missing: {pages_path}")
    with gzip.open(pages_path, "rt", encoding="utf-8") as f:
        pages = [json.loads(line) for line in f]
    with gzip.open(pathlib.Path(__file__).parent / "data" / "datatrove_0.2.0_real_pages.json.gz",
                   "rt", encoding="utf-8") as f:
        reference = json.load(f)["documents"]
    return [(page, reference[hashlib.sha1(page["id"].encode()).hexdigest()[:12]]) for page in pages]


def local_pipeline() -> TestPipeline:
    """A TestPipeline on the FnApiRunner (the DirectRunner would try to download Prism)."""
    return TestPipeline(runner=FnApiRunner())


@pytest.fixture(autouse=True)
def own_prefix_cache(tmp_path_factory, monkeypatch) -> pathlib.Path:
    """Each test's own default prefix cache (``run`` uses one unless ``--no-cache``): no test takes
    another's entries, and none writes to the user's ``~/.cache``."""
    folder = tmp_path_factory.mktemp("prefix-cache")
    monkeypatch.setenv("THRESHER_CACHE_DIR", str(folder))
    return folder


@pytest.fixture
def shared_data() -> pathlib.Path:
    if not SHARED_DATA.is_dir():
        pytest.fail(f"real data folder missing: {SHARED_DATA}")
    return SHARED_DATA


def missing_asset(what: str) -> NoReturn:
    """Skip a test whose fetched asset is missing; fail it in CI (``CI=true``), where
    ``.ci/run`` fetches every asset with ``thresher assets`` first."""
    message = f"{what}: not in the cache; run `thresher assets`"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message} (CI=true: a missing asset fails the test)")
    pytest.skip(message)


def require_asset(path, what: str) -> str:
    """``path`` as a string when it exists, else ``missing_asset(what)``."""
    if not os.path.exists(path):
        missing_asset(f"{what} ({path})")
    return str(path)


def require_lid_model() -> str:
    """The lid.176 model the language step finds, else ``missing_asset``."""
    from thresher.transforms.assets import find_lid_model

    try:
        return find_lid_model()
    except FileNotFoundError:
        missing_asset("lid.176")


def require_fineweb_lists() -> Dict[str, str]:
    """``thresher.transforms.assets.fineweb_list_paths()`` when the lists are in the cache, else ``missing_asset``."""
    from thresher.transforms.assets import cached_fineweb_lists, fineweb_list_paths, fineweb_lists_dir

    if not cached_fineweb_lists():
        missing_asset(f"FineWeb's URL lists ({fineweb_lists_dir()})")
    return fineweb_list_paths()
