"""Thresher's FineWeb chain (no dedup) against the peer datatrove 0.10.1: same pages, same machine, same time.

``bench/real-pages.warc.gz`` is split into 4 files with ``benchmarks.common.split_warc``.
For each worker count, back to back:

* datatrove: a driver script (written from this file to a temporary file) runs in
  datatrove's own interpreter (``--datatrove-python``, a separate venv: datatrove pins
  trafilatura < 1.12 and cannot live in Thresher's environment). Its pipeline is
  WarcReader -> URLFilter -> Trafilatura(favour_precision=True, datatrove's default
  1 s time-out, deduplicate=True) -> LanguageFilter(en, 0.65) -> GopherRepetitionFilter
  -> GopherQualityFilter -> C4QualityFilter(filter_no_terminal_punct=False) ->
  FineWebQualityFilter -> PIIFormatter -> JsonlWriter, on LocalPipelineExecutor(tasks=4,
  workers=N). The time is that of ``executor.run()``.
* Thresher: ``benchmarks/fineweb_bench.py``'s ``run`` (``recipes/fineweb.yaml``) on the same
  4 files with the same worker count, called in a child process of this script so that
  each run's memory is measured on its own. The time is the one ``run`` measures
  (``pipeline.run()`` until it finishes).

Both are timed from the start of the run to its end inside an interpreter that has
already imported its framework; worker start-up, model loading and lazy imports inside
the run count on both sides. Each side's "largest process" is the highest VmHWM (peak
resident memory) of any process of its tree, sampled from /proc every 0.1 s by this
script; each side also reports getrusage of its main process and of its waited-for
children.

Datatrove is kept offline without editing its files: its LanguageFilter gets a FT176LID
subclass that loads the local lid.176.ftz (``~/.cache/thresher/lid.176.ftz``, the file
Thresher uses; datatrove would download ``lid.176.bin``), and URLFilter's tldextract is
given its bundled public-suffix snapshot instead of fetching the list.

URL lists (``--url-lists``): ``empty`` (default) gives both sides empty lists (datatrove:
``use_integrated_lists=False``; Thresher: empty files, as fineweb_bench does).
``datatrove`` gives both sides datatrove's own lists from its venv: datatrove uses its
integrated lists (the UT1 adult ``domains``/``urls`` in its assets tarball and its three
banned-word files) and Thresher gets copies of the same files.

Differences in work that remain:
* trafilatura: datatrove pins 1.11.0, Thresher uses its own environment's trafilatura
  (2.x); datatrove calls it in a sandbox subprocess per task (one pipe round trip per
  page) with a 1 s time-out per page, Thresher in-process with a 10 s budget and a 5 MB
  HTML cap.
* reading: datatrove's WarcReader (warcio) keeps only response records whose payload
  type is HTML and decodes UTF-8 or cchardet's guess; Thresher reads with its own reader.
  The input counts of both are printed.
* words and sentences: datatrove 0.10.1 splits English with spaCy (blank "en" +
  sentencizer) for Gopher, C4 and FineWeb; Thresher uses its own NLTK-compatible splitter
  and NLTK's Punkt English model for C4's sentence count.
* outputs: datatrove writes JSONL (gzip), Thresher writes Parquet plus stats.json.
Kept counts of both sides are printed; they need not match exactly.

The peer's venv (PyPI only; spaCy is datatrove 0.10.1's English word/sentence splitter,
warcio, faust-cchardet and python-magic are what its WarcReader imports, orjson its JsonlWriter;
lxml_html_clean is named because Python 3.11's bundled pip 23.2 does not install justext's
``lxml[html_clean]`` extra, and without it ``import trafilatura`` fails inside datatrove's
extractor sandbox, which then reports every page as a time-out):
    python3 -m venv /tmp/dtvenv
    /tmp/dtvenv/bin/pip install 'datatrove[processing]==0.10.1' warcio faust-cchardet python-magic orjson spacy lxml_html_clean

Usage: python benchmarks/datatrove_peer.py --datatrove-python /tmp/dtvenv/bin/python
       [--workers 1 2] [--url-lists empty|datatrove] [--repeat 1] [--wait-idle 600]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import PROJECT_ROOT, REAL_PAGES, split_warc  # noqa: E402

LID_MODEL = Path.home() / ".cache" / "thresher" / "lid.176.ftz"
BLOCKLIST_FILES = {  # Thresher's layout -> name in datatrove's assets ("tar:" = inside the URL tarball)
    "ut1/adult/domains": "tar:domains",
    "ut1/adult/urls": "tar:urls",
    "datatrove/banned_words.txt": "banned_words.txt",
    "datatrove/soft_banned_words.txt": "soft_banned_words.txt",
    "datatrove/banned_subwords.txt": "banned_subwords.txt",
}

# Runs in datatrove's interpreter. Module-level code must stay import-safe: the forkserver
# that LocalPipelineExecutor starts for workers > 1 imports this file again.
DATATROVE_DRIVER = r'''
import glob
import gzip
import json
import resource
import sys
import time

from datatrove.utils.lid import FT176LID


class LocalFT176LID(FT176LID):
    """datatrove's fastText lid.176 wrapper, reading a local model file instead of downloading."""

    def __init__(self, languages, model_path):
        super().__init__(languages)
        self.model_path = model_path

    @property
    def model(self):
        if self._model is None:
            from fasttext.FastText import _FastText

            self._model = _FastText(self.model_path)
        return self._model


def build_pipeline(cfg):
    from tldextract import TLDExtract

    from datatrove.pipeline.extractors import Trafilatura
    from datatrove.pipeline.filters import (C4QualityFilter, FineWebQualityFilter, GopherQualityFilter,
                                            GopherRepetitionFilter, LanguageFilter, URLFilter)
    from datatrove.pipeline.formatters import PIIFormatter
    from datatrove.pipeline.readers import WarcReader
    from datatrove.pipeline.writers.jsonl import JsonlWriter

    url_filter = URLFilter(extra_domains=[], extra_urls=[], banned_words=[], banned_subwords=[],
                           soft_banned_words=[], use_integrated_lists=cfg["integrated_lists"])
    url_filter.tldextractor = TLDExtract(suffix_list_urls=())  # bundled snapshot, no fetch
    language = LanguageFilter(languages=["en"], language_threshold=0.65)
    language.model = LocalFT176LID(["en"], cfg["lid_model"])
    return [
        WarcReader(cfg["inputs"], glob_pattern="*.warc.gz"),
        url_filter,
        Trafilatura(favour_precision=True),
        language,
        GopherRepetitionFilter(),
        GopherQualityFilter(),
        C4QualityFilter(filter_no_terminal_punct=False),
        FineWebQualityFilter(),
        PIIFormatter(),
        JsonlWriter(cfg["output"]),
    ]


def main():
    cfg = json.loads(sys.argv[1])
    from datatrove.executor import LocalPipelineExecutor

    executor = LocalPipelineExecutor(pipeline=build_pipeline(cfg), tasks=cfg["tasks"], workers=cfg["workers"],
                                     logging_dir=cfg["logs"], skip_completed=False)
    started = time.perf_counter()
    executor.run()
    elapsed = time.perf_counter() - started
    kept = 0
    for path in glob.glob(cfg["output"] + "/*.jsonl.gz"):
        with gzip.open(path, "rt", encoding="utf-8") as f:
            kept += sum(1 for _ in f)
    with open(cfg["logs"] + "/stats.json") as f:
        steps = json.load(f)
    print("RESULT " + json.dumps({
        "elapsed": elapsed, "kept": kept, "steps": steps,
        "self_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "children_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
    }), flush=True)


if __name__ == "__main__":
    main()
'''


# ---------------------------------------------------------------------------------------------
# Memory: the highest VmHWM of any process in a tree, sampled while it runs.

def _children_map():
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    return children


def _hwm_mb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


class TreePeak(threading.Thread):
    """Samples the peak resident memory of every process under ``root_pid``."""

    def __init__(self, root_pid, interval=0.1):
        super().__init__(daemon=True)
        self.root, self.interval = root_pid, interval
        self.peaks, self.processes = {}, set()
        self._stop_event = threading.Event()

    def run(self):
        while not self._stop_event.is_set():
            children, todo = _children_map(), [self.root]
            while todo:
                pid = todo.pop()
                self.processes.add(pid)
                self.peaks[pid] = max(self.peaks.get(pid, 0.0), _hwm_mb(pid))
                todo.extend(children.get(pid, []))
            self._stop_event.wait(self.interval)

    def stop(self):
        self._stop_event.set()
        self.join()
        return max(self.peaks.values(), default=0.0), len(self.processes)


def run_child(cmd, env=None):
    """Run ``cmd``, return (parsed RESULT line, wall seconds, largest process MB, process count)."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    sampler = TreePeak(proc.pid)
    sampler.start()
    out, err = proc.communicate()
    wall = time.perf_counter() - started
    peak, nproc = sampler.stop()
    result = next((json.loads(line[len("RESULT "):]) for line in out.splitlines() if line.startswith("RESULT ")), None)
    if proc.returncode != 0 or result is None:
        sys.stderr.write(err[-6000:])
        raise SystemExit(f"{cmd[:3]} failed with exit code {proc.returncode}")
    return result, wall, peak, nproc


# ---------------------------------------------------------------------------------------------
# Thresher side: fineweb_bench.run in a child process (python datatrove_peer.py --thresher-side CFG).

def thresher_side(cfg):
    from benchmarks.common import peak_rss_mb
    from benchmarks.fineweb_bench import run

    elapsed, stats, busy = run(cfg["workers"], cfg["inputs"], Path(cfg["blocklists"]), Path(cfg["output"]))
    steps = [{"step": s["step"], "in": s["in"], "out": s["out"], "dropped": s["dropped"],
              "ms_per_doc": busy.get(s["step"], 0) / 1000 / max(1, s["in"])} for s in stats["steps"]]
    print("RESULT " + json.dumps({
        "elapsed": elapsed, "input": stats["input"]["total"], "kept": stats["output"]["documents"],
        "balanced": stats["balanced"], "steps": steps,
        "self_mb": peak_rss_mb(), "children_mb": peak_rss_mb(children=True),
    }), flush=True)


def run_thresher(workers, inputs, blocklists, output):
    cfg = {"workers": workers, "inputs": inputs, "blocklists": str(blocklists), "output": str(output)}
    return run_child([sys.executable, str(Path(__file__).resolve()), "--thresher-side", json.dumps(cfg)])


def run_datatrove(python, driver, workers, inputs_dir, work, integrated_lists):
    cfg = {"workers": workers, "tasks": 4, "inputs": str(inputs_dir), "output": str(work / "out"),
           "logs": str(work / "logs"), "lid_model": str(LID_MODEL), "integrated_lists": integrated_lists}
    env = dict(os.environ, HF_HUB_OFFLINE="1", TQDM_DISABLE="1")
    return run_child([python, str(driver), json.dumps(cfg)], env=env)


def _count(value):
    return value.get("total", 0) if isinstance(value, dict) else (value or 0)


def _step_name(name):
    name = name.split(": ", 1)[-1]
    return name.split(" ", 1)[-1] if not name[:1].isascii() else name


def datatrove_steps(steps):
    """(name, in, out, timeouts, ms per document) per datatrove step from its stats.json."""
    rows = []
    for s in steps[1:]:
        st = s.get("stats", {})
        total = _count(st.get("total"))
        out = _count(st.get("forwarded")) if "forwarded" in st else total - _count(st.get("dropped"))
        seconds = _count(s.get("time_stats"))
        rows.append((_step_name(s.get("name", "?")), total, out, _count(st.get("timeout")),
                     seconds * 1000 / max(1, total)))
    return rows


def datatrove_input(steps):
    return _count(steps[0].get("stats", {}).get("documents"))


# ---------------------------------------------------------------------------------------------

def wait_for_idle(limit_s, threshold=1.5):
    waited = 0
    while waited < limit_s and os.getloadavg()[0] >= threshold:
        time.sleep(15)
        waited += 15
    return waited


def load_str():
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def make_blocklists(root, mode, python):
    for rel in BLOCKLIST_FILES:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text("")
    if mode == "empty":
        return
    import tarfile

    assets = subprocess.run([python, "-c", "from datatrove.utils._import_utils import ASSETS_PATH; print(ASSETS_PATH)"],
                            check=True, capture_output=True, text=True).stdout.strip()
    with tarfile.open(os.path.join(assets, "url_filterblacklistsv0_3_0.tar.gz"), "r:gz") as tar:
        for rel, name in BLOCKLIST_FILES.items():
            if name.startswith("tar:"):
                with tar.extractfile(name[4:]) as src, open(root / rel, "wb") as dst:
                    shutil.copyfileobj(src, dst)
    for rel, name in BLOCKLIST_FILES.items():
        if not name.startswith("tar:"):
            shutil.copyfile(os.path.join(assets, name), root / rel)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datatrove-python", help="python of a venv with datatrove 0.10.1 installed")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--url-lists", choices=["empty", "datatrove"], default="empty")
    parser.add_argument("--repeat", type=int, default=1, help="runs per side and worker count (median reported)")
    parser.add_argument("--wait-idle", type=float, default=600,
                        help="seconds to wait for a 1-minute load average < 1.5 before the timed runs")
    parser.add_argument("--thresher-side", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.thresher_side:
        return thresher_side(json.loads(args.thresher_side))
    if not args.datatrove_python:
        parser.error("--datatrove-python is required")
    if not LID_MODEL.exists():
        raise SystemExit(f"{LID_MODEL} is missing: run `thresher assets` first")
    # Everything the driver needs, imported up front: datatrove's extractor sandbox would turn a
    # failing `import trafilatura` into a 1 s time-out per page.
    preflight = subprocess.run([args.datatrove_python, "-c", "import trafilatura, spacy, orjson, warcio, magic, "
                                "cchardet, fasttext, tldextract, datatrove; from importlib.metadata import version as v; "
                                "print(v('datatrove'), v('trafilatura'))"], capture_output=True, text=True)
    if preflight.returncode != 0:
        raise SystemExit(f"datatrove's venv is incomplete:\n{preflight.stderr[-2000:]}")
    version = preflight.stdout.split()
    import trafilatura

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        inputs = split_warc(REAL_PAGES, 4, tmp / "in")
        driver = tmp / "datatrove_driver.py"
        driver.write_text(DATATROVE_DRIVER)
        blocklists = tmp / "lists"
        make_blocklists(blocklists, args.url_lists, args.datatrove_python)
        print(f"datatrove {version[0]} (trafilatura {version[1]}) vs Thresher (trafilatura "
              f"{trafilatura.__version__}); {len(inputs)} files from {REAL_PAGES.name}; "
              f"URL lists: {args.url_lists}; {os.cpu_count()} CPUs")
        waited = wait_for_idle(args.wait_idle)
        print(f"waited {waited} s for load < 1.5; load average now {load_str()}")
        for workers in args.workers:
            dt_runs, th_runs = [], []
            for i in range(args.repeat):
                load_before = load_str()
                work = tmp / f"dt{workers}-{i}"
                dt_runs.append(run_datatrove(args.datatrove_python, driver, workers, tmp / "in", work,
                                             args.url_lists == "datatrove"))
                th_runs.append(run_thresher(workers, str(tmp / "in" / "*.warc.gz"), blocklists,
                                            tmp / f"th{workers}-{i}"))
                print(f"  [{workers} worker(s), run {i + 1}] load before {load_before}: datatrove "
                      f"{dt_runs[-1][0]['elapsed']:.1f} s, Thresher {th_runs[-1][0]['elapsed']:.1f} s")
            report(workers, dt_runs, th_runs)


def summarize(runs):
    """Median times, highest memory of the runs; counts and per-step figures from the last run."""
    return {"result": runs[-1][0],
            "seconds": statistics.median(r[0]["elapsed"] for r in runs),
            "wall": statistics.median(r[1] for r in runs),
            "largest_mb": max(r[2] for r in runs),
            "main_mb": max(r[0]["self_mb"] for r in runs),
            "children_mb": max(r[0]["children_mb"] for r in runs),
            "processes": max(r[3] for r in runs)}


def report(workers, dt_runs, th_runs):
    dt, th = summarize(dt_runs), summarize(th_runs)
    dt["docs"], th["docs"] = datatrove_input(dt["result"]["steps"]), th["result"]["input"]
    for side in (dt, th):
        side["rate"] = side["docs"] / side["seconds"]
    print(f"\n== {workers} worker(s), 4 tasks/files: times median of {len(dt_runs)} run(s), memory the highest")
    print(f"{'':10s} {'time s':>7s} {'(wall)':>7s} {'docs in':>8s} {'docs/s':>7s} {'kept':>5s} "
          f"{'largest proc MB':>16s} {'main MB':>8s} {'children MB':>12s} {'procs':>6s}")
    for name, x in (("datatrove", dt), ("Thresher", th)):
        print(f"{name:10s} {x['seconds']:7.1f} {x['wall']:7.1f} {x['docs']:8d} {x['rate']:7.1f} "
              f"{x['result']['kept']:5d} {x['largest_mb']:16.0f} {x['main_mb']:8.0f} {x['children_mb']:12.0f} "
              f"{x['processes']:6d}")
    print(f"ratio Thresher/datatrove docs/s: {th['rate'] / dt['rate']:.2f}x   "
          f"(Thresher balanced: {th['result']['balanced']})")
    dt_steps = datatrove_steps(dt["result"]["steps"])
    timeouts = sum(row[3] for row in dt_steps)
    if timeouts > dt["docs"] // 10:
        print(f"WARNING: {timeouts} datatrove extractions timed out: check that `import trafilatura` works in its venv")
    print("per step, in -> out (time inside the step per input document, summed over workers):")
    print("  datatrove: " + "; ".join(f"{name} {i}->{o} ({ms:.1f} ms)" + (f" [{t} timeouts]" if t else "")
                                      for name, i, o, t, ms in dt_steps))
    print("  Thresher:  " + "; ".join(f"{s['step']} {s['in']}->{s['out']} ({s['ms_per_doc']:.1f} ms)"
                                      for s in th["result"]["steps"]))


if __name__ == "__main__":
    main()
