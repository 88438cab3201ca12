"""The portable path (what Flink uses): Beam's job service + an EXTERNAL worker pool on 127.0.0.1."""
from __future__ import annotations

import json

import pyarrow.dataset as ds

from pipelines.cli import main
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
output: {{path: "{out}"}}
"""


def output_docs(out):
    table = ds.dataset(str(out / "data"), format="parquet").to_table()
    return sorted(zip(table.column("id").to_pylist(), table.column("text").to_pylist()))


def test_portable_runner_matches_local(tmp_path):
    from pipelines.quickstart_corpus import write_corpus
    from transforms.assets import fetch_lid_model
    fetch_lid_model()
    corpus = tmp_path / "corpus"
    write_corpus(str(corpus), pages=60, files=2)
    results = {}
    with job_service_and_worker_pool() as (job_endpoint, pool, pids):
        for runner in ("local", "portable"):
            out = tmp_path / runner
            recipe = tmp_path / f"{runner}.yaml"
            recipe.write_text(RECIPE.format(corpus=corpus, out=out))
            args = ["run", str(recipe), "--runner", runner, "--quiet"]
            if runner == "portable":
                args += ["--job-endpoint", job_endpoint, "--environment-type", "EXTERNAL",
                         "--environment-config", pool]
            else:
                args += ["--workers", "2"]
            assert main(args) == 0
            stats = json.loads((out / "stats.json").read_text())
            assert stats["balanced"]
            results[runner] = (output_docs(out), stats["steps"], stats["input"])
        listening = listening_addresses(pids)
        assert len(listening) >= 2 and all_on_loopback(listening), listening
    assert results["portable"] == results["local"]
    assert len(results["local"][0]) > 20
    steps = {s["step"]: s for s in results["local"][1]}
    assert steps["minhash_dedup"]["dropped"].get("minhash_duplicate", 0) >= 1
    assert steps["minhash_dedup"]["report"]["converged"] == 1
