"""Read -> (no-op) -> write throughput: the Beam pipeline vs a plain Python loop.

Reads ``bench/real-pages.warc.gz`` split into 4 files (``--copies N`` repeats
those files N times, so fixed start-up costs weigh less), writes Parquet, and
prints docs/s and MB/s (compressed input) for: a single-process Python loop
calling the same reader and Parquet writer, and ``thresher run`` with a recipe
of no steps on the local runner with 1 and 2 workers. Prints the ratio
Beam(2 workers) / loop. Usage: python benchmarks/io_bench.py [--copies 8]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import REAL_PAGES, split_warc  # noqa: E402

RECIPE = """
version: 1
inputs:
  web: {{paths: ["{glob}"], format: warc}}
steps: []
output: {{path: "{out}", format: parquet}}
"""


def plain_loop(paths, out_dir: Path) -> int:
    from thresher.transforms.io.sinks import _ParquetShardWriter
    from thresher.transforms.io.sources import read_file
    from thresher.pipelines.run.columns import SOURCE_ANNOTATIONS
    from thresher.transforms.io.sources.common import ReadError

    writer = _ParquetShardWriter(str(out_dir / "loop.parquet"), SOURCE_ANNOTATIONS, 10_000)
    n = 0
    for path in paths:
        for item in read_file(path, "web"):
            if not isinstance(item, ReadError):
                writer.write(item)
                n += 1
    writer.close()
    return n


def beam_run(glob: str, out: Path, workers: int) -> float:
    recipe = out.parent / f"noop-{workers}.yaml"
    recipe.write_text(RECIPE.format(glob=glob, out=out))
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "thresher.pipelines.commands.cli", "run", str(recipe), "--workers", str(workers),
                    "--quiet", "--overwrite"], check=True, stdout=subprocess.DEVNULL)
    elapsed = time.perf_counter() - start
    stats = json.loads((out / "stats.json").read_text())
    assert stats["balanced"], stats
    return elapsed, stats["output"]["documents"]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--copies", type=int, default=8)
    copies = parser.parse_args().copies
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        parts = split_warc(REAL_PAGES, 4, tmp / "split")
        (tmp / "in").mkdir()
        paths = []
        for i in range(copies):
            for part in parts:
                target = tmp / "in" / f"copy{i}-{Path(part).name}"
                shutil.copyfile(part, target)
                paths.append(str(target))
        megabytes = sum(os.path.getsize(p) for p in paths) / 1e6
        start = time.perf_counter()
        docs = plain_loop(paths, tmp)
        loop_s = time.perf_counter() - start
        print(f"plain loop (1 process): {docs} docs in {loop_s:.2f} s: {docs / loop_s:.0f} docs/s, "
              f"{megabytes / loop_s:.1f} MB/s")
        results = {}
        for workers in (1, 2):
            elapsed, n = beam_run(str(tmp / "in" / "*.warc.gz"), tmp / f"out{workers}", workers)
            results[workers] = elapsed
            print(f"beam local, {workers} worker(s): {n} docs in {elapsed:.2f} s (whole CLI run, start-up "
                  f"included): {n / elapsed:.0f} docs/s, {megabytes / elapsed:.1f} MB/s")
        print(f"ratio beam(2 workers) / loop docs/s: {loop_s / results[2]:.2f}")


if __name__ == "__main__":
    main()
