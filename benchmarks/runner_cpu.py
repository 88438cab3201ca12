"""Is the local runner's own process the bottleneck with many workers? Its CPU time per document.

The local preset runs Beam's FnApiRunner with one worker process per core: the runner process
(the one that calls ``pipeline.run()``) holds the shuffled data and hands bundles to the workers,
so its CPU time grows with the documents and shuffles, and perhaps with the workers. This script
runs a recipe in a child process per configuration and reads ``getrusage``: the child's own CPU
time (the runner, its gRPC and progress threads) and its children's (the worker processes). From
the runner's CPU per document ``c_r`` and the workers' ``c_w`` it predicts how many cores the runner
needs when N workers are busy: ``N * c_r / c_w`` (bottleneck above 1). Both include fixed costs
(start-up, pipeline construction, the report): the last lines use the marginal cost per document
between the smallest and the largest corpus, which is what a long run pays.

Recipes, JSONL from ``../shared/tools/make_scale_corpus.py`` (16 files, 10% near-copies):
``dedup``: exact_dedup -> minhash_dedup (FineWeb's settings, no verification), the cheapest work
per document and the most shuffling, so the runner's worst case (``minhash_dedup`` second: light
documents cross its shuffles); ``minhash``: ``minhash_dedup`` alone, first after the cached prefix, so
it reads its documents from the cache entries (the path of ``dedup_scale.py``); ``filters``: gopher_repetition ->
gopher_quality -> c4 -> fineweb_quality -> exact_dedup -> minhash_dedup (a FineWeb run after
extraction). With the prefix cache (a fresh one per run, as a first run).
Usage: python benchmarks/runner_cpu.py [--docs 20000 40000] [--workers 2 4] [--recipes dedup filters]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import PROJECT_ROOT  # noqa: E402

MAKE_CORPUS = PROJECT_ROOT.parent / "shared" / "tools" / "make_scale_corpus.py"
STEPS = {
    "dedup": ["exact_dedup", "minhash_dedup\n    verify: false"],
    "minhash": ["minhash_dedup\n    verify: false"],
    "filters": ["gopher_repetition", "gopher_quality", "c4\n    filter_no_terminal_punct: false", "fineweb_quality",
                "exact_dedup", "minhash_dedup\n    verify: false"],
}
CHILD = """
import json, resource, sys, time
from thresher.pipelines.recipe.model import load_recipe
from thresher.pipelines.recipe.registry import STEPS
from thresher.pipelines.run.execute import run_recipe
from thresher.pipelines.run.runners import RunnerConfig
recipe, workers, cache = sys.argv[1], int(sys.argv[2]), sys.argv[3]
started = time.perf_counter()
stats = run_recipe(load_recipe(recipe, STEPS), RunnerConfig(workers=workers), overwrite=True, verbose=False, cache=cache)
wall = time.perf_counter() - started
me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"wall": wall, "runner": me.ru_utime + me.ru_stime, "workers": kids.ru_utime + kids.ru_stime,
                  "docs": stats["input"]["documents"], "balanced": stats["balanced"]}))
"""


def recipe_text(corpus: Path, out: Path, steps) -> str:
    body = "".join(f"  - step: {s}\n" for s in steps)
    return (f"version: 1\nname: runner-cpu\ninputs:\n  web: {{paths: ['{corpus}/*.jsonl'], format: jsonl}}\n"
            f"steps:\n{body}output:\n  path: {out}\n")


def measure(corpus: Path, steps, workers: int, tmp: Path) -> dict:
    recipe = tmp / "recipe.yaml"
    recipe.write_text(recipe_text(corpus, tmp / "out", steps))
    cache = tempfile.mkdtemp(dir=tmp)
    done = subprocess.run([sys.executable, "-c", CHILD, str(recipe), str(workers), cache],
                          capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"run failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--docs", type=int, nargs="+", default=[20000, 40000])
    parser.add_argument("--workers", type=int, nargs="+", default=[2, 4])
    parser.add_argument("--recipes", nargs="+", default=list(STEPS), choices=list(STEPS))
    args = parser.parse_args()
    print(f"{'recipe':8} {'docs':>7} {'workers':>7} {'wall s':>7} {'runner s':>8} {'workers s':>9} "
          f"{'runner µs/doc':>13} {'workers µs/doc':>14} {'cores the runner needs at 16 / 64 workers':>42}")
    found = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for n in args.docs:
            corpus = tmp / f"corpus-{n}"
            subprocess.run([sys.executable, str(MAKE_CORPUS), str(corpus), str(n), "16", "0.1"], check=True,
                           capture_output=True)
            for name in args.recipes:
                for w in args.workers:
                    got = found[name, w, n] = measure(corpus, STEPS[name], w, tmp)
                    assert got["balanced"] and got["docs"] == n, got
                    c_r, c_w = got["runner"] / n, got["workers"] / n
                    print(f"{name:8} {n:7d} {w:7d} {got['wall']:7.1f} {got['runner']:8.1f} {got['workers']:9.1f} "
                          f"{c_r * 1e6:13.0f} {c_w * 1e6:14.0f} {16 * c_r / c_w:20.2f} / {64 * c_r / c_w:.2f}")
    small, large = min(args.docs), max(args.docs)
    if small == large:
        return
    print(f"marginal cost per document, {small} -> {large} documents:")
    for name in args.recipes:
        for w in args.workers:
            a, b = found[name, w, small], found[name, w, large]
            c_r = (b["runner"] - a["runner"]) / (large - small)
            c_w = (b["workers"] - a["workers"]) / (large - small)
            print(f"{name:8} {w} workers: runner {c_r * 1e6:.0f} µs/doc, workers {c_w * 1e6:.0f} µs/doc: "
                  f"the runner needs {16 * c_r / c_w:.2f} cores at 16 workers, {64 * c_r / c_w:.2f} at 64")

if __name__ == "__main__":
    main()
