"""Determinism and the portable path (what Flink uses): Beam's job service + an EXTERNAL worker pool on 127.0.0.1.

The same recipe, with sampling (mix, upsampling by hash) and minhash_dedup, gives the same documents in the
same order (a seeded global shuffle of the output) on two local runs, with 1 and 2 workers, and on the
portable runner."""
from __future__ import annotations

import json

import pyarrow.dataset as ds

from thresher.pipelines.commands.cli import main
from tests.portable_services import all_on_loopback, job_service_and_worker_pool, listening_addresses

RECIPE = """
version: 1
inputs:
  web: {{paths: ["{corpus}/*.warc.gz"], format: warc}}
steps:                      # models loaded in setup, side inputs, multi-stage shuffles
  - step: extract
  - step: language
    languages: [en, de, fr, es]
  - step: gopher_quality
    min_stop_words: null
  - step: minhash_dedup
  - step: mix
    weights: {{web: 1}}
    budget_documents: 60    # more than the filters leave: some documents twice, chosen by hash
    seed: 3
output: {{path: "{out}", order: shuffle, seed: 5}}
"""


def output_docs(out):
    """(id, text) in the order a trainer reads them: files by name, rows in order."""
    files = sorted(str(p) for p in (out / "data").glob("*.parquet"))
    table = ds.dataset(files, format="parquet").to_table()
    return list(zip(table.column("id").to_pylist(), table.column("text").to_pylist()))


def test_same_documents_in_the_same_order_on_every_run_and_runner(tmp_path):
    from thresher.pipelines.commands.quickstart_corpus import write_corpus
    from thresher.transforms.assets import fetch_lid_model
    fetch_lid_model()
    corpus = tmp_path / "corpus"
    write_corpus(str(corpus), pages=60, files=2)
    results = {}
    runs = {"local-2": ("local", 2), "local-2-again": ("local", 2), "local-1": ("local", 1),
            "portable": ("portable", None)}
    with job_service_and_worker_pool() as (job_endpoint, pool, pids):
        for name, (runner, workers) in runs.items():
            out = tmp_path / name
            recipe = tmp_path / f"{name}.yaml"
            recipe.write_text(RECIPE.format(corpus=corpus, out=out))
            args = ["run", str(recipe), "--runner", runner, "--quiet"]
            if runner == "portable":
                args += ["--job-endpoint", job_endpoint, "--environment-type", "EXTERNAL",
                         "--environment-config", pool]
            else:
                args += ["--workers", str(workers)]
            assert main(args) == 0
            stats = json.loads((out / "stats.json").read_text())
            assert stats["balanced"]
            results[name] = (output_docs(out), stats["steps"], stats["input"])
        listening = listening_addresses(pids)
        assert len(listening) >= 2 and all_on_loopback(listening), listening
    for name in runs:
        assert results[name] == results["local-2"], name
    docs, steps, _ = results["local-2"]
    assert abs(len(docs) - 60) <= 6 and len({i for i, _ in docs}) == len(docs)  # the budget, by hash
    assert [i for i, _ in docs] != sorted(i for i, _ in docs)  # shuffled, not in id order
    steps = {s["step"]: s for s in steps}
    assert steps["minhash_dedup"]["dropped"].get("minhash_duplicate", 0) >= 1
    assert steps["minhash_dedup"]["report"]["converged"] == 1
    assert steps["mix"]["added"] >= 1 and any("#" in i for i, _ in docs)  # copies, with their own ids
