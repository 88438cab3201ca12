"""The prefix cache (``run --cache``) on the FineWeb recipe with MinHash dedup, real pages.

``bench/real-pages.warc.gz`` split into 8 files (``--copies N``: each page N times, 8 N files, copies
with their own record id and URL: a corpus large enough that Beam's start-up of a few seconds is
not most of a cached run); ``recipes/fineweb.yaml`` with empty block lists; the local runner. Prints the wall time of: a cold run (empty cache), a rerun with a changed dedup
threshold (every file from the cache), a resumed run after half the files were done (the cache
holds the entries of 4 of the 8 files, as a run killed at half leaves it), a run without the
cache for reference; and the cache's size against the input's.
Usage: python benchmarks/cache_bench.py [--workers 2] [--copies 1]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import PROJECT_ROOT, REAL_PAGES, split_warc  # noqa: E402


def run(inputs, out: Path, blocklists: Path, workers: int, cache=None, threshold=None, min_words=None):
    from thresher.pipelines.recipe.model import load_recipe
    from thresher.pipelines.recipe.registry import STEPS
    from thresher.pipelines.run.execute import apply_overrides, run_recipe
    from thresher.pipelines.run.runners import RunnerConfig

    recipe = load_recipe(str(PROJECT_ROOT / "recipes" / "fineweb.yaml"), STEPS, params={"blocklists": str(blocklists)})
    recipe = apply_overrides(recipe, inputs, str(out))
    if threshold is not None:
        for spec in recipe.steps:
            if spec.step == "minhash_dedup":
                spec.params["threshold"] = threshold
    if min_words is not None:
        for spec in recipe.steps:
            if spec.step == "gopher_quality":
                spec.params["min_doc_words"] = min_words
    started = time.perf_counter()
    stats = run_recipe(recipe, RunnerConfig(workers=workers), overwrite=True, verbose=False, cache=cache)
    return time.perf_counter() - started, stats


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--copies", type=int, default=1, help="each real page this many times, in 8 x this many files")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        parts = 8 * args.copies
        files = split_warc(REAL_PAGES, parts, tmp / "in", copies=args.copies)
        blocklists = tmp / "lists"
        for rel in ("ut1/adult/domains", "ut1/adult/urls", "datatrove/banned_words.txt",
                    "datatrove/soft_banned_words.txt", "datatrove/banned_subwords.txt"):
            (blocklists / rel).parent.mkdir(parents=True, exist_ok=True)
            (blocklists / rel).write_text("")
        every = [str(tmp / "in" / "*.warc.gz")]
        w = args.workers
        plain, stats = run(every, tmp / "plain", blocklists, w)
        cold, cold_stats = run(every, tmp / "cold", blocklists, w, tmp / "cache")
        dedup, dedup_stats = run(every, tmp / "dedup", blocklists, w, tmp / "cache", threshold=0.7)
        words, words_stats = run(every, tmp / "words", blocklists, w, tmp / "cache", min_words=100)
        run(files[:parts // 2], tmp / "half", blocklists, w, tmp / "cache2")  # what a run killed at half leaves
        resumed, resumed_stats = run(every, tmp / "resumed", blocklists, w, tmp / "cache2")
        size = sum(p.stat().st_size for p in (tmp / "cache").rglob("*") if p.is_file())
        in_size = sum(Path(f).stat().st_size for f in files)
        print(f"{stats['input']['total']} pages in {parts} files, {w} worker(s)")
        print(f"without the cache:            {plain:6.1f} s")
        print(f"cold, writing the cache:      {cold:6.1f} s  {cold_stats['cache']}")
        print(f"dedup threshold 0.8 -> 0.7:   {dedup:6.1f} s  {dedup_stats['cache']}  ({cold / dedup:.1f}x faster)")
        print(f"gopher min_doc_words 50->100: {words:6.1f} s  {words_stats['cache']}  ({cold / words:.1f}x faster)")
        print(f"resumed after half the files: {resumed:6.1f} s  {resumed_stats['cache']}  ({resumed / cold:.2f} of cold)")
        print(f"cache {size / 2**20:.1f} MiB for {in_size / 2**20:.1f} MiB of input ({size / in_size:.1%})")
        assert cold_stats["balanced"] and dedup_stats["balanced"] and resumed_stats["balanced"]
        assert [s["out"] for s in resumed_stats["steps"]] == [s["out"] for s in stats["steps"]]


if __name__ == "__main__":
    main()
