"""Faults: retried bundles never duplicate or lose documents; a killed run never looks complete."""
from __future__ import annotations

import json
import os
import pathlib
import signal
import subprocess
import sys

import pyarrow.parquet as pq
import pytest

from tests.bundle_retry import run_with_retries
from tests.conftest import PROJECT_ROOT
from thresher.transforms.base import REJECTED, DocumentStep, DocumentStepFn
from thresher.transforms.document import Document
from thresher.transforms.io.ordered_sink import _CleanUp, _SortKey, _WriteShard, shard_of
from thresher.transforms.io.sinks import _FinalizeFiles, _WriteFilesFn, _doc_id, _doc_size, document_writer, temp_dir_of


class DropShort(DocumentStep):
    """Drops documents under 20 characters."""

    name = "drop_short"

    def process(self, doc):
        return doc if len(doc.text) >= 20 else "too_short"


def _docs(n):
    return [Document(id=f"d{i:04d}", text=("word " * (i % 9))) for i in range(n)]


def _bundles(items, size):
    return [items[i:i + size] for i in range(0, len(items), size)]


def _read_ids(directory: pathlib.Path):
    return sorted(i for f in sorted(directory.glob("*.parquet")) for i in pq.read_table(f).column("id").to_pylist())


def test_retried_step_and_sink_bundles_neither_duplicate_nor_lose(tmp_path):
    docs = _docs(300)
    expected_kept = sorted(d.id for d in docs if len(d.text) >= 20)

    # the step: bundle 1 dies half way, bundle 2 after finishing (before its commit), bundle 4 twice
    def step_fails(b, attempt, position):
        return ((b == 1 and attempt == 0 and position == 25) or (b == 2 and attempt == 0 and position == 50)
                or (b == 4 and attempt < 2 and position == 10))
    out = run_with_retries(DocumentStepFn(DropShort()), _bundles(docs, 50), step_fails)
    kept = out["main"]
    assert sorted(d.id for d in kept) == expected_kept
    assert len(out[REJECTED]) == len(docs) - len(expected_kept)

    # the sink: files roll every ~2 KB; failed attempts leave whole and partial temporary files behind
    directory = tmp_path / "data"
    temp = temp_dir_of(str(directory))
    ext, opener = document_writer("parquet", {}, 1000)
    write = _WriteFilesFn(temp, opener, _doc_id, _doc_size, shard_bytes=2048)

    def sink_fails(b, attempt, position):
        return attempt == 0 and (b % 2 == 0) and position in (7, 40)
    infos = run_with_retries(write, _bundles(kept, 40), sink_fails)["main"]
    assert len(list(pathlib.Path(temp).iterdir())) > len(infos)  # the failed attempts' files are there
    files = list(_FinalizeFiles(str(directory), temp, "part", ext, opener).process(None, infos))
    assert sum(f["rows"] for f in files) == len(expected_kept)
    assert _read_ids(directory) == expected_kept  # each kept document exactly once
    assert not pathlib.Path(temp).exists()


def test_retried_ordered_shards_replace_what_the_failed_attempt_renamed(tmp_path):
    docs = [d for d in _docs(120) if d.text]
    key = _SortKey("shuffle", 3, "", False)
    shards = 3
    grouped = {}
    for d in docs:
        grouped.setdefault(shard_of(key(d), shards, []), []).append(d)
    directory = tmp_path / "data"
    ext, opener = document_writer("parquet", {}, 1000)
    # each shard dies after its file was renamed into place, then runs again
    infos = run_with_retries(_WriteShard(str(directory), ext, opener, key), [[kv] for kv in sorted(grouped.items())],
                             lambda b, attempt, position: attempt == 0 and position == 1, side_inputs=(shards,))["main"]
    files = list(_CleanUp(str(directory)).process(None, infos))
    assert [pathlib.Path(f["path"]).name for f in files] == [f"part-{i:05d}-of-00003.parquet" for i in range(3)]
    assert _read_ids(directory) == sorted(d.id for d in docs)
    read_in_order = [i for f in sorted(directory.glob("*.parquet")) for i in pq.read_table(f).column("id").to_pylist()]
    assert read_in_order == [d.id for d in sorted(docs, key=key)]


def _thresher(*args, **kwargs):
    return subprocess.Popen([sys.executable, "-m", "thresher.pipelines.commands.cli", *args], cwd=PROJECT_ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True, **kwargs)


def test_a_killed_run_never_looks_complete_and_a_rerun_replaces_it(tmp_path):
    from thresher.pipelines.commands.quickstart_corpus import write_corpus
    corpus = tmp_path / "corpus"
    write_corpus(str(corpus), pages=400, files=2)  # a second file of ~5 s on one worker: time to kill it
    recipe = PROJECT_ROOT / "recipes" / "quickstart.yaml"
    out = tmp_path / "out"
    args = ["run", str(recipe), "--input", str(corpus / "*.warc.gz"), "--output", str(out), "--workers", "1"]

    run = _thresher(*args, env={**os.environ, "THRESHER_PROGRESS_INTERVAL": "0.2"})
    for line in run.stdout:  # the first of the two input files is through the pipeline: kill it now
        if b" 1/2 files" in line:
            break
    else:
        pytest.fail("the run ended before the first of its two files was reported done")
    os.killpg(run.pid, signal.SIGKILL)
    run.wait(timeout=30)
    assert run.returncode == -signal.SIGKILL
    assert (out / "recipe.lock.yaml").exists()  # it had started
    assert not (out / "_SUCCESS").exists() and not (out / "stats.json").exists()

    again = _thresher(*args)  # no --overwrite needed: the directory holds no finished run
    text = again.communicate(timeout=300)[0].decode()
    assert again.returncode == 0, text
    assert f"replacing what an unfinished run left in {out}" in text
    assert (out / "_SUCCESS").exists()
    stats = json.loads((out / "stats.json").read_text())
    assert stats["balanced"] and not (out / "_temporary").exists()
    assert len(_read_ids(out / "data")) == stats["output"]["documents"]
    # the same documents as a run into a fresh directory: nothing of the killed run is left
    fresh = tmp_path / "fresh"
    clean = _thresher(*args[:-4], "--output", str(fresh), "--workers", "1")
    assert clean.communicate(timeout=300)[0] is not None and clean.returncode == 0
    assert _read_ids(out / "data") == _read_ids(fresh / "data")
