"""exact_dedup throughput on the local runner, 1 and 2 workers.

Generates 100,000 short documents (about 30 words) inside the pipeline, 10%
of them copies of another document's text (case and spacing changed), and
runs ``ExactDedup`` on the FnApiRunner. For each worker count it prints the
wall time and docs/s of the whole pipeline and of a baseline pipeline that
only generates and counts the documents, then the dedup's own rate (net of
the baseline), and checks the kept and rejected counts. Each run is a fresh
child process, so peak memory (of the runner process, which holds shuffled
data) is per run.
Usage: python benchmarks/dedup_exact_bench.py [--docs N] [--workers 1 2]
"""
from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SHARDS = 20
WORDS = ("data pipeline corpus token model web page text filter quality language crawl shard "
         "worker beam duplicate hash key line sentence word document record index score").split()


def make_docs(shard: int, n: int):
    """Documents shard::SHARDS of n: every tenth is a copy of the previous one's text."""
    from thresher.transforms.document import Document

    def text(i: int) -> str:
        rng = random.Random(i)
        return " ".join(rng.choice(WORDS) for _ in range(30)) + f" {i}."

    for i in range(shard, n, SHARDS):
        if i % 10 == 9:  # 10% duplicates, with case and spacing that lower_whitespace removes
            yield Document(f"doc-{i:07d}", "  " + text(i - 1).upper().replace(" ", "   "))
        else:
            yield Document(f"doc-{i:07d}", text(i))


def run_once(n: int, workers: int, dedup: bool) -> dict:
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions
    from apache_beam.runners.portability.fn_api_runner import FnApiRunner

    from thresher.transforms.base import KEPT, REJECTED
    from thresher.transforms.dedup.exact_dedup import ExactDedup

    options = PipelineOptions([f"--direct_num_workers={workers}", "--direct_running_mode=multi_processing"]
                              if workers > 1 else [])
    counts = {}
    start = time.perf_counter()
    with beam.Pipeline(runner=FnApiRunner(), options=options) as p:
        docs = p | beam.Create(range(SHARDS)) | beam.Reshuffle() | beam.FlatMap(make_docs, n)
        outputs = {"kept": docs}
        if dedup:
            out = docs | ExactDedup()
            outputs = {"kept": out[KEPT], "rejected": out[REJECTED]}
        for name, pcoll in outputs.items():
            (pcoll | f"count {name}" >> beam.combiners.Count.Globally()
             | f"report {name}" >> beam.Map(lambda c, name=name: print(json.dumps({name: c}), flush=True)))
    counts["seconds"] = time.perf_counter() - start
    counts["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return counts


def child(n: int, workers: int, dedup: bool) -> dict:
    """Run one configuration in a fresh process; its counts, time and peak memory."""
    cmd = [sys.executable, __file__, "--child", f"--docs={n}", f"--workers={workers}"] + (["--dedup"] if dedup else [])
    proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
    result = {}
    for line in proc.stdout.splitlines():
        if line.startswith("{"):
            result.update(json.loads(line))
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--dedup", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_once(args.docs, args.workers[0], args.dedup)), flush=True)
        return
    n = args.docs
    print(f"exact_dedup on {n:,} generated documents, {n // 10:,} of them duplicates")
    for workers in args.workers:
        base = child(n, workers, dedup=False)
        run = child(n, workers, dedup=True)
        assert base["kept"] == n and run["kept"] == n - n // 10 and run["rejected"] == n // 10, run
        net = run["seconds"] - base["seconds"]
        print(f"{workers} worker(s): pipeline {run['seconds']:.1f} s ({n / run['seconds']:,.0f} docs/s), "
              f"baseline generate+count {base['seconds']:.1f} s, dedup alone {net:.1f} s "
              f"({n / net:,.0f} docs/s); runner process peak memory {run['peak_rss_mb']:.0f} MB "
              f"(baseline {base['peak_rss_mb']:.0f} MB)")


if __name__ == "__main__":
    main()
