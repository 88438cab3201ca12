"""What live progress costs: the same ``thresher run`` with progress on and off, alternating.

Two cases, each on the local runner with 2 workers, as ``thresher run`` subprocesses:
``pages`` (bench/real-pages.warc.gz split into 4 files, extract) and ``jsonl`` (N short
documents of the scale corpus in 16 JSONL files, normalize: reading dominates, so the readers'
progress hook is called most often per second). Progress on polls every 0.5 s (as on a
terminal); off is ``--quiet``. Prints each run's wall time and the medians, and the readers'
hook cost alone: time per call when it only checks the clock, time per file write.
Usage: python benchmarks/progress_cost.py [--repeats 3] [--docs 100000] [--cases pages jsonl]
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import PROJECT_ROOT, REAL_PAGES, split_warc  # noqa: E402

RECIPE = """
version: 1
inputs:
  web: {{paths: ["{inputs}"], format: {format}}}
steps:
  - step: {step}
output: {{path: "{out}"}}
"""


def corpus(case: str, work: Path, docs: int):
    """(input glob, format, step) of a case, written under ``work``."""
    if case == "pages":
        split_warc(REAL_PAGES, 4, work / "pages")
        return f"{work / 'pages'}/*.warc.gz", "warc", "extract"
    tool = PROJECT_ROOT.parent / "shared" / "tools" / "make_scale_corpus.py"
    subprocess.run([sys.executable, str(tool), str(work / "jsonl"), str(docs), "16"], check=True,
                   stdout=subprocess.DEVNULL)
    return f"{work / 'jsonl'}/*.jsonl", "jsonl", "normalize"


def one_run(recipe: Path, progress: bool) -> float:
    thresher = Path(sys.executable).parent / "thresher"
    args = [str(thresher), "run", str(recipe), "--workers", "2", "--overwrite"] + ([] if progress else ["--quiet"])
    env = {**os.environ, "THRESHER_PROGRESS_INTERVAL": "0.5"}
    started = time.perf_counter()
    done = subprocess.run(args, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"run failed ({done.returncode}):\n{done.stderr[-2000:]}")
    if progress and "files" not in done.stderr:
        raise SystemExit("progress on printed no progress line")
    return wall


def hook_cost(work: Path, calls: int = 1_000_000) -> None:
    """Time of one ``ProgressFiles`` call that writes nothing (the clock check) and of one that writes."""
    from thresher.pipelines.run.progress import ProgressFiles

    hook = ProgressFiles(str(work / "hook"))
    hook(0, 0, 0, force=True)
    started = time.perf_counter()
    for i in range(calls):
        hook(0, i, 0)
    check = (time.perf_counter() - started) / calls
    started = time.perf_counter()
    for i in range(1000):
        hook(0, i, 0, force=True)
    write = (time.perf_counter() - started) / 1000
    print(f"hook: {check * 1e9:.0f} ns per call without a write (readers call it every 64 documents), "
          f"{write * 1e6:.0f} us per write (at most one a second per reader, and one per file)", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument("--cases", nargs="+", default=["pages", "jsonl"], choices=["pages", "jsonl"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        hook_cost(work)
        for case in args.cases:
            inputs, fmt, step = corpus(case, work, args.docs)
            recipe = work / f"{case}.yaml"
            recipe.write_text(RECIPE.format(inputs=inputs, format=fmt, step=step, out=work / f"out-{case}"))
            times = {True: [], False: []}
            for i in range(args.repeats):
                order = (True, False) if i % 2 == 0 else (False, True)  # alternate which goes first
                for progress in order:
                    wall = one_run(recipe, progress)
                    times[progress].append(wall)
                    print(f"{case} run {i + 1} progress {'on ' if progress else 'off'}: {wall:.2f} s", flush=True)
            on, off = statistics.median(times[True]), statistics.median(times[False])
            print(f"{case}: median progress on {on:.2f} s, off {off:.2f} s, difference {on - off:+.2f} s "
                  f"({(on - off) / off:+.1%}); runs {' '.join(f'{t:.1f}' for t in times[True])} on, "
                  f"{' '.join(f'{t:.1f}' for t in times[False])} off", flush=True)


if __name__ == "__main__":
    main()
