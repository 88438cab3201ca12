"""The FineWeb chain without dedup on the real pages: docs/s, per-step figures, peak memory.

Runs ``recipes/fineweb.yaml`` without its minhash_dedup step (URL filter with
empty lists, extract, language, Gopher repetition and quality, C4, FineWeb
quality, PII) on
``bench/real-pages.warc.gz`` split into 4 files, on the local runner with 1 and
2 workers, in this process, and prints per step in / out / dropped by reason
and time inside the step (docs/s per step), end-to-end docs/s, the peak memory
of the runner process and of the largest worker process, and the ratio to the
peer datatrove's figures (FACTS.md: 41.5 s on 1 worker, 22.3 s on 2).
Usage: python benchmarks/fineweb_bench.py [--workers 1 2]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import PROJECT_ROOT, REAL_PAGES, peak_rss_mb, split_warc  # noqa: E402

# FACTS.md's datatrove figures, measured at another time; benchmarks/datatrove_peer.py re-measures
# the peer on the same machine at the same time (74.5 s / 36.3 s when last run).
DATATROVE_S = {1: 41.5, 2: 22.3}


def run(workers: int, inputs: str, blocklists: Path, out: Path):
    from apache_beam.metrics.metric import MetricsFilter

    from thresher.pipelines.recipe.model import load_recipe
    from thresher.pipelines.recipe.registry import STEPS
    from thresher.pipelines.run.execute import apply_overrides
    from thresher.pipelines.run.runners import RunnerConfig, make_runner_and_options
    from thresher.pipelines.run.builder import build
    from thresher.pipelines.report.stats import read_stats
    import apache_beam as beam

    recipe = load_recipe(str(PROJECT_ROOT / "recipes" / "fineweb.yaml"), STEPS,
                         params={"blocklists": str(blocklists)})
    recipe = apply_overrides(recipe, [inputs], str(out))
    recipe.steps = [s for s in recipe.steps if s.step != "minhash_dedup"]  # the chain without dedup
    runner, options = make_runner_and_options(RunnerConfig(workers=workers))
    pipeline = beam.Pipeline(runner=runner, options=options)
    build(pipeline, recipe)
    started = time.perf_counter()
    result = pipeline.run()
    result.wait_until_finish()
    elapsed = time.perf_counter() - started
    busy = {r.key.metric.name[:-len(".busy_us")]: r.committed
            for r in result.metrics().query(MetricsFilter().with_namespace("thresher"))["counters"]
            if r.key.metric.name.endswith(".busy_us")}
    return elapsed, read_stats(str(out)), busy


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        split_warc(REAL_PAGES, 4, tmp / "in")
        blocklists = tmp / "lists"
        for rel in ("ut1/adult/domains", "ut1/adult/urls", "datatrove/banned_words.txt",
                    "datatrove/soft_banned_words.txt", "datatrove/banned_subwords.txt"):
            (blocklists / rel).parent.mkdir(parents=True, exist_ok=True)
            (blocklists / rel).write_text("")
        for workers in args.workers:
            elapsed, stats, busy = run(workers, str(tmp / "in" / "*.warc.gz"), blocklists, tmp / f"out{workers}")
            total = stats["input"]["total"]
            print(f"\n== {workers} worker(s): {total} pages in {elapsed:.1f} s = {total / elapsed:.1f} docs/s; "
                  f"datatrove {DATATROVE_S[workers]} s = {total / DATATROVE_S[workers]:.1f} docs/s; "
                  f"ratio {DATATROVE_S[workers] / elapsed:.2f}x; balanced {stats['balanced']}")
            print(f"{'step':20s} {'in':>6s} {'out':>6s} {'ms/doc':>7s} {'docs/s':>8s}  dropped")
            for s in stats["steps"]:
                us = busy.get(s["step"], 0)
                per_doc = us / 1000 / max(1, s["in"])
                rate = s["in"] / (us / 1e6) if us else float("inf")
                print(f"{s['step']:20s} {s['in']:6d} {s['out']:6d} {per_doc:7.2f} {rate:8.0f}  {s['dropped']}")
        print(f"\npeak memory: runner process {peak_rss_mb():.0f} MB, largest worker process "
              f"{peak_rss_mb(children=True):.0f} MB")


if __name__ == "__main__":
    main()
