"""MinHash dedup at workstation scale: Thresher's ``minhash_dedup`` beside datatrove's four MinHash stages.

    python benchmarks/dedup_scale.py --docs 100000 1000000 [--workers 2] [--settings default fineweb]
        [--datatrove-python /tmp/datatrove-venv/bin/python] [--datatrove-max 200000]

For each ``--docs`` size N:

1. Corpus: ``../shared/tools/make_scale_corpus.py DIR/corpus-N N 16 0.1`` (N documents of three ~70-word
   chunks of the real texts, 16 JSONL files of ``{"id", "text"}``, 10% near-copies of earlier documents);
   made once per N under ``--dir`` and reused (``DONE`` marks a finished one).
2. Thresher, per ``--settings``: a recipe with the JSONL input, the single step ``minhash_dedup`` and
   Parquet output; ``default`` is the step's defaults (verified), ``fineweb`` is recipes/fineweb.yaml's
   (5-grams, 14 x 8, ``verify: false``). Run as ``python -m thresher.pipelines.commands.cli run RECIPE
   --workers W --overwrite --quiet --cache DIR`` with a fresh cache DIR (the cold run is measured).
   From its stats.json: documents in and out, dropped, balanced, and the step report's
   ``shuffle_bytes_per_doc`` / ``shuffle_bytes`` ("-" when the step does not report them).
3. datatrove (N <= ``--datatrove-max``): JsonlReader -> MinhashDedupSignature, MinhashDedupBuckets,
   MinhashDedupCluster, MinhashDedupFilter -> JsonlWriter on the same 16 files, MinhashConfig(5-grams,
   14 buckets x 8 hashes, 64-bit hashes) as FineWeb, LocalPipelineExecutor with 16 tasks (1 for the
   cluster stage, 14 for the buckets) and the same worker count, the stages run one after the other.
   It runs in its own interpreter (``--datatrove-python``; datatrove cannot live in Thresher's
   environment):
       python3.11 -m venv /tmp/datatrove-venv
       /tmp/datatrove-venv/bin/pip install datatrove==0.10.1 regex 'xxhash<4' tokenizers spacy orjson
   (regex, xxhash and tokenizers are imported by ``datatrove.pipeline.dedup``; spaCy is its English
   word tokenizer, a blank pipeline: no model download.)

Each run is a subprocess; its wall time is the subprocess's (interpreter start-up and imports count on
both sides). Every 0.2 s the resident memory (VmRSS) of every process of its tree (the CLI and the
Beam workers it starts; datatrove's driver, forkserver and workers) is read from /proc: "peak MB all"
is the highest sum over the tree in one sample (pages shared after a fork count once per process),
"peak MB largest" the highest VmHWM (peak resident memory) of any one process of the tree. The table
ends with Thresher's speed over datatrove's per size and setting (docs/s ratio) and how Thresher's peak memory
grows from one size to the next. ``--json PATH`` also writes every row.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import PROJECT_ROOT  # noqa: E402
from benchmarks.datatrove_peer import _hwm_mb  # noqa: E402  (VmHWM of a process, MB)
from benchmarks.soak import _tree  # noqa: E402  (VmRSS per process of a tree, from /proc)

MAKE_CORPUS = PROJECT_ROOT.parent / "shared" / "tools" / "make_scale_corpus.py"
FILES, DUP_SHARE = 16, 0.1
SETTINGS = {
    "default": {},
    "fineweb": {"ngram": 5, "bands": 14, "rows": 8, "verify": False},
}

RECIPE = """\
# Written by benchmarks/dedup_scale.py
version: 1
name: dedup-scale-{setting}
inputs:
  docs:
    paths: ["{corpus}/*.jsonl"]
    format: jsonl
    text_field: text
    id_field: id
steps:
  - step: minhash_dedup
{params}output:
  path: {output}
  format: parquet
"""

# Runs in datatrove's interpreter. Import-safe at module level: LocalPipelineExecutor's forkserver
# imports this file again in its workers.
DATATROVE_DRIVER = r'''
import glob
import gzip
import json
import sys
import time


def main():
    cfg = json.loads(sys.argv[1])
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.dedup.minhash import (MinhashConfig, MinhashDedupBuckets, MinhashDedupCluster,
                                                  MinhashDedupFilter, MinhashDedupSignature)
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.writers.jsonl import JsonlWriter
    from datatrove.utils.hashing import HashConfig

    mh = MinhashConfig(n_grams=5, num_buckets=14, hashes_per_bucket=8, hash_config=HashConfig(precision=64))
    work, tasks, workers = cfg["work"], cfg["tasks"], cfg["workers"]

    def reader():
        return JsonlReader(cfg["inputs"], glob_pattern="*.jsonl", text_key="text", id_key="id")

    stages = [
        ("signature", [reader(), MinhashDedupSignature(output_folder=f"{work}/signatures", config=mh)], tasks),
        ("buckets", [MinhashDedupBuckets(input_folder=f"{work}/signatures", output_folder=f"{work}/buckets",
                                         config=mh)], mh.num_buckets),
        ("cluster", [MinhashDedupCluster(input_folder=f"{work}/buckets", output_folder=f"{work}/remove_ids",
                                         config=mh)], 1),
        ("filter", [reader(), MinhashDedupFilter(input_folder=f"{work}/remove_ids",
                                                 exclusion_writer=JsonlWriter(f"{work}/removed")),
                    JsonlWriter(f"{work}/output")], tasks),
    ]
    seconds = {}
    for name, pipeline, n in stages:
        started = time.perf_counter()
        LocalPipelineExecutor(pipeline=pipeline, tasks=n, workers=min(workers, n), logging_dir=f"{work}/logs/{name}",
                              skip_completed=False).run()
        seconds[name] = round(time.perf_counter() - started, 2)
    kept = removed = 0
    for path in glob.glob(f"{work}/output/*.jsonl.gz"):
        with gzip.open(path, "rt", encoding="utf-8") as f:
            kept += sum(1 for _ in f)
    for path in glob.glob(f"{work}/removed/*.jsonl.gz"):
        with gzip.open(path, "rt", encoding="utf-8") as f:
            removed += sum(1 for _ in f)
    print("RESULT " + json.dumps({"kept": kept, "removed": removed, "stages": seconds}), flush=True)


if __name__ == "__main__":
    main()
'''


class TreeMemory(threading.Thread):
    """Samples every process under ``root`` each ``interval`` s: the peak of their VmRSS sum, and the
    largest VmHWM (a process's own peak, exact between samples)."""

    def __init__(self, root: int, interval: float = 0.2):
        super().__init__(daemon=True)
        self.root, self.interval = root, interval
        self.peak_sum_kb, self.peak_one_mb = 0, 0.0
        self.processes: set = set()
        self._halt = threading.Event()

    def run(self):
        while not self._halt.is_set():
            rss = _tree(self.root)[0]
            self.processes.update(rss)
            self.peak_sum_kb = max(self.peak_sum_kb, sum(rss.values()))
            self.peak_one_mb = max([self.peak_one_mb] + [_hwm_mb(pid) for pid in rss])
            self._halt.wait(self.interval)

    def stop(self) -> dict:
        self._halt.set()
        self.join()
        return {"peak_sum_mb": self.peak_sum_kb / 1024, "peak_one_mb": self.peak_one_mb,
                "processes": len(self.processes)}


def measured(cmd, cwd: Path, env=None) -> dict:
    """Run ``cmd`` (stdout/stderr to files in ``cwd``); exit code, wall seconds and the tree's memory."""
    with open(cwd / "stdout.log", "w") as out, open(cwd / "stderr.log", "w") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=str(cwd), stdout=out, stderr=err, env=env)
        sampler = TreeMemory(proc.pid)
        sampler.start()
        code = proc.wait()
        wall = time.perf_counter() - started
    return dict(sampler.stop(), code=code, wall=wall)


def _tail(path: Path, chars: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return ""


def corpus(root: Path, docs: int) -> Path:
    """The corpus of ``docs`` documents under ``root``, made if missing."""
    path = root / f"corpus-{docs}"
    if (path / "DONE").exists():
        return path
    tmp = root / f"corpus-{docs}.partial"
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.rmtree(path, ignore_errors=True)
    print(f"making {path} ...", flush=True)
    subprocess.run([sys.executable, str(MAKE_CORPUS), str(tmp), str(docs), str(FILES), str(DUP_SHARE)], check=True)
    (tmp / "DONE").write_text("")
    tmp.rename(path)
    return path


def fresh(path: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def run_thresher(src: Path, work: Path, setting: str, workers: int, keep: bool) -> dict:
    params = "".join(f"    {k}: {json.dumps(v)}\n" for k, v in SETTINGS[setting].items())
    recipe = work / "recipe.yaml"
    recipe.write_text(RECIPE.format(setting=setting, corpus=src, params=params, output=work / "out"))
    cmd = [sys.executable, "-m", "thresher.pipelines.commands.cli", "run", str(recipe), "--workers", str(workers),
           "--overwrite", "--quiet", "--cache", str(work / "cache")]
    row = {"tool": "thresher", "setting": setting, **measured(cmd, work)}
    if row["code"] == 0:
        stats = json.loads((work / "out" / "stats.json").read_text())
        step = stats["steps"][0]
        report = step.get("report", {})
        row.update(docs_in=stats["input"]["documents"], kept=stats["output"]["documents"],
                   dropped=stats["dropped_total"], balanced=stats["balanced"],
                   shuffle_bytes=report.get("shuffle_bytes"), shuffle_per_doc=report.get("shuffle_bytes_per_doc"))
    else:
        print(_tail(work / "stderr.log"), file=sys.stderr)
    if not keep:
        for name in ("cache", "out/data"):
            shutil.rmtree(work / name, ignore_errors=True)
    return row


def run_datatrove(python: str, src: Path, work: Path, workers: int, keep: bool) -> dict:
    driver = work / "driver.py"
    driver.write_text(DATATROVE_DRIVER)
    cfg = {"inputs": str(src), "work": str(work / "dt"), "tasks": FILES, "workers": workers}
    env = dict(os.environ, HF_HUB_OFFLINE="1", TQDM_DISABLE="1")
    row = {"tool": "datatrove", "setting": "fineweb", **measured([python, str(driver), json.dumps(cfg)], work, env)}
    result = next((json.loads(line[len("RESULT "):]) for line in (work / "stdout.log").read_text().splitlines()
                   if line.startswith("RESULT ")), None)
    if row["code"] == 0 and result:
        row.update(kept=result["kept"], dropped=result["removed"], stages=result["stages"])
    else:
        row["code"] = row["code"] or 1
        print(_tail(work / "stderr.log"), file=sys.stderr)
    if not keep:
        shutil.rmtree(work / "dt", ignore_errors=True)
    return row


def _fmt(value, spec: str = "") -> str:
    return "-" if value is None else format(value, spec)


HEADER = (f"{'docs':>9s} {'tool':9s} {'setting':8s} {'wall s':>7s} {'docs/s':>7s} {'peak MB all':>11s} "
          f"{'peak MB largest':>15s} {'kept':>9s} {'dropped':>8s} {'shuffle B/doc':>13s} {'balanced':>8s}")


def line(row: dict) -> str:
    if row["code"]:
        return f"{row['docs']:9d} {row['tool']:9s} {row['setting']:8s} FAILED (exit code {row['code']})"
    return (f"{row['docs']:9d} {row['tool']:9s} {row['setting']:8s} {row['wall']:7.1f} "
            f"{row['docs'] / row['wall']:7.0f} {row['peak_sum_mb']:11.0f} {row['peak_one_mb']:15.0f} "
            f"{_fmt(row.get('kept')):>9s} {_fmt(row.get('dropped')):>8s} {_fmt(row.get('shuffle_per_doc')):>13s} "
            f"{_fmt(row.get('balanced')):>8s}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, nargs="+", default=[100_000])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--settings", nargs="+", choices=sorted(SETTINGS), default=["default", "fineweb"])
    parser.add_argument("--datatrove-python", default="/tmp/datatrove-venv/bin/python",
                        help="datatrove's interpreter (skipped when it does not exist)")
    parser.add_argument("--datatrove-max", type=int, default=200_000, help="larger sizes skip datatrove")
    parser.add_argument("--dir", type=Path, default=Path("/tmp/thresher-dedup-scale"))
    parser.add_argument("--keep", action="store_true", help="keep each run's output and cache")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    datatrove = Path(args.datatrove_python).exists()
    if not datatrove:
        print(f"no {args.datatrove_python}: datatrove skipped")
    with open("/proc/meminfo") as f:
        total_mb = int(f.readline().split()[1]) // 1024
    head = subprocess.run(["git", "log", "-1", "--format=%h %cI"], cwd=str(PROJECT_ROOT), capture_output=True,
                          text=True, check=False).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--", "transforms", "pipelines"], cwd=str(PROJECT_ROOT),
                           capture_output=True, text=True, check=False).stdout.split("\n")
    dirty = [d for d in dirty if d.strip()]
    head += f" + {len(dirty)} uncommitted file(s) in transforms/, pipelines/" if dirty else ""
    print(f"Thresher {head or '?'}; {os.cpu_count()} CPUs, {total_mb} MB memory, {args.workers} workers; "
          f"load {os.getloadavg()[0]:.2f}")
    rows = []
    for docs in args.docs:
        src = corpus(args.dir, docs)
        plan = [("thresher", s) for s in args.settings]
        plan += [("datatrove", "fineweb")] if datatrove and docs <= args.datatrove_max else []
        for tool, setting in plan:
            work = fresh(args.dir / f"run-{docs}-{tool}-{setting}")
            load = os.getloadavg()[0]
            if tool == "thresher":
                row = run_thresher(src, work, setting, args.workers, args.keep)
            else:
                row = run_datatrove(args.datatrove_python, src, work, args.workers, args.keep)
            row.update(docs=docs, load_before=load)
            rows.append(row)
            extra = f"   ({row.get('processes', 0)} processes)"
            extra += f"   datatrove stages s: {row['stages']}" if row.get("stages") else ""
            print(f"[load {load:.2f}] " + line(row) + extra, flush=True)
    print("\n" + HEADER)
    for row in rows:
        print(line(row))
    for row in rows:
        if row["tool"] == "thresher" and row.get("docs_in") not in (None, row["docs"]):
            print(f"note: {row['docs']} {row['setting']}: Thresher read {row['docs_in']} documents")
        if row.get("shuffle_bytes") is not None:
            print(f"{row['docs']:9d} thresher {row['setting']:8s} shuffle bytes in all: {row['shuffle_bytes']:,}")
    for docs in args.docs:
        dt = next((r for r in rows if r["docs"] == docs and r["tool"] == "datatrove" and not r["code"]), None)
        if dt:
            ratios = [f"{r['setting']} {dt['wall'] / r['wall']:.2f}x" for r in rows
                      if r["docs"] == docs and r["tool"] == "thresher" and not r["code"]]
            print(f"{docs:9d} speed Thresher/datatrove (docs/s): " + ", ".join(ratios))
    for setting in args.settings:  # how memory grows with the corpus (goal: 3M at most 2x 1M)
        done = [r for r in rows if r["tool"] == "thresher" and r["setting"] == setting and not r["code"]]
        for small, large in zip(done, done[1:]):
            print(f"thresher {setting:8s} peak memory of all processes {large['docs']:,} / {small['docs']:,} "
                  f"documents: {large['peak_sum_mb'] / small['peak_sum_mb']:.2f}x")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
