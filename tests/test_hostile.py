"""Hostile inputs end to end (issue #7): broken and adversarial files through the real CLI.

The corpus (``tests/hostile_corpus.py``) and the real broken samples in
``../shared/data/warc-samples/warcio`` run through extract -> language ->
Gopher -> FineWeb -> minhash_dedup with the local runner and 2 worker
processes. The job must finish, balance, and account for every record (output,
rejected with a reason, or an error naming file, offset and exception), within
bounded time and memory. Run with ``pytest -s`` to see the memory table.
"""
from __future__ import annotations

import glob
import gzip
import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pyarrow.dataset as ds
import pytest
import yaml

from tests.conftest import PROJECT_ROOT, SHARED_DATA, require_lid_model
from tests.hostile_corpus import write_hostile_corpus
from thresher.transforms.document import Document
from thresher.transforms.extract.html import Extract
from thresher.transforms.io.sources import read_file
from thresher.transforms.io.sources.common import ReadError

WORKERS = 2
RUN_TIMEOUT_S = 170  # the whole test must end well under 3 minutes
MAX_RUN_S = 150
MAX_RSS_BYTES = 1536 << 20  # per process: generous, but a leak of the big pages would cross it
SAMPLES = SHARED_DATA / "warc-samples" / "warcio"
STEPS = ["extract", "language", "gopher_repetition", "gopher_quality", "fineweb_quality", "minhash_dedup"]




# --- process-tree memory ---------------------------------------------------------

def _children(pid: int) -> list:
    kids = []
    for task in glob.glob(f"/proc/{pid}/task/*/children"):
        try:
            kids += [int(k) for k in Path(task).read_text().split()]
        except OSError:
            pass
    return kids


def _tree(pid: int) -> list:
    todo, seen = [pid], []
    while todo:
        p = todo.pop()
        seen.append(p)
        todo += _children(p)
    return seen


def _status(pid: int) -> dict:
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return {}
    fields = dict(line.split(":", 1) for line in lines if ":" in line)
    kib = lambda key: int(fields.get(key, "0 kB").split()[0]) * 1024
    return {"hwm": kib("VmHWM"), "rss": kib("VmRSS"), "cmd": cmd}


def run_and_watch(args: list, log_path: Path, timeout_s: float) -> tuple:
    """Run the CLI (``thresher.pipelines.commands.cli.main``) in a subprocess; every 0.2 s record the peak RSS (VmHWM)
    of it and its descendants (the SDK worker processes). Returns (exit code, wall s, peaks)."""
    code = "import sys; from thresher.pipelines.commands.cli import main; sys.exit(main(sys.argv[1:]))"
    started = time.monotonic()
    with open(log_path, "w") as log:
        proc = subprocess.Popen([sys.executable, "-c", code, *args], cwd=PROJECT_ROOT, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
        peaks = {}
        try:
            while proc.poll() is None:
                for pid in _tree(proc.pid):
                    info = _status(pid)
                    if info and info["hwm"] >= peaks.get(pid, {}).get("hwm", -1):
                        peaks[pid] = info
                if time.monotonic() - started > timeout_s:
                    os.killpg(proc.pid, 9)  # our own process group only
                    proc.wait()
                    pytest.fail(f"the run did not finish in {timeout_s} s:\n{log_path.read_text()[-3000:]}")
                time.sleep(0.2)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, 9)
    return proc.returncode, time.monotonic() - started, peaks


# --- the run -----------------------------------------------------------------------

def _sample_paths() -> list:
    return sorted(str(p) for p in SAMPLES.iterdir() if p.is_file() and p.name not in ("LICENSE", "SOURCE.txt"))


def _read_directly(path: str, fmt: str = "auto") -> tuple:
    """(documents, read errors) of one file by the project's reader, as the Beam read counts them."""
    try:
        items = list(read_file(path, "direct", fmt))
    except Exception:  # an unknown format: one error for the file
        return 0, 1
    errors = sum(isinstance(i, ReadError) for i in items)
    return len(items) - errors, errors


@pytest.fixture(scope="module")
def hostile_corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    started = time.monotonic()
    manifest = write_hostile_corpus(str(root / "corpus"))
    assert manifest["bytes"] < 200 << 20
    return dict(root=root, corpus=root / "corpus", manifest=manifest, written_s=time.monotonic() - started)


@pytest.fixture(scope="module")
def hostile_run(hostile_corpus):
    require_lid_model()  # skips without it; fails in CI
    root, corpus, manifest, written_s = (hostile_corpus[k] for k in ("root", "corpus", "manifest", "written_s"))
    out = root / "out"
    recipe = {
        "version": 1, "name": "hostile",
        "inputs": {
            "web": {"paths": [str(corpus / "web" / "*")], "format": "auto"},
            "jsonl": {"paths": [str(corpus / "jsonl" / "*")], "format": "jsonl"},
            "parquet": {"paths": [str(corpus / "parquet" / "*")], "format": "parquet"},
            "samples": {"paths": _sample_paths(), "format": "auto"},
        },
        "steps": [{"step": s} for s in STEPS],
        "output": {"path": str(out), "rejected": True},
    }
    recipe_path = root / "recipe.yaml"
    recipe_path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    log = root / "run.log"
    code, wall_s, peaks = run_and_watch(["run", str(recipe_path), "--workers", str(WORKERS)], log, RUN_TIMEOUT_S)
    print(f"\nhostile corpus: {len(manifest['files'])} files, {manifest['bytes'] / 1e6:.1f} MB written in "
          f"{written_s:.1f} s; run: {wall_s:.1f} s, exit {code}")
    lines = log.read_text().splitlines()
    table = next((i for i, line in enumerate(lines) if line.startswith("step ")), len(lines) - 20)
    print("\n".join(lines[table:]))  # the summary table (the workers' log lines before it are noise)
    print("peak RSS per process (VmHWM):")
    for pid, info in sorted(peaks.items(), key=lambda kv: -kv[1]["hwm"]):
        print(f"  {info['hwm'] / 2**20:7.0f} MB  pid {pid}  {info['cmd'][:110]}")
    return dict(corpus=corpus, manifest=manifest, out=out, code=code, wall_s=wall_s, peaks=peaks, log=log)


def _table(directory: Path, columns: list) -> list:
    if not directory.is_dir() or not any(directory.glob("*.parquet")):
        return []
    table = ds.dataset(str(directory), format="parquet").to_table(columns=columns)
    return table.to_pylist()


@pytest.fixture(scope="module")
def outcome(hostile_run):
    """Every record of the run: data rows, rejected rows and error records."""
    out = hostile_run["out"]
    assert hostile_run["code"] == 0, hostile_run["log"].read_text()[-4000:]
    data = _table(out / "data", ["id", "url", "text", "file", "offset"])
    rejected = _table(out / "rejected", ["id", "url", "file", "offset", "drop_step", "drop_reason"])
    errors = []
    for path in sorted((out / "errors").glob("*.jsonl.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as f:
            errors += [json.loads(line) for line in f if line.strip()]
    stats = json.loads((out / "stats.json").read_text())
    return dict(data=data, rejected=rejected, errors=errors, stats=stats)


def test_job_completes_and_balances(hostile_run, outcome):
    stats = outcome["stats"]
    assert (hostile_run["out"] / "_SUCCESS").exists()
    assert stats["balanced"] is True
    assert [s["step"] for s in stats["steps"]] == STEPS
    for step in stats["steps"]:
        assert step["balanced"] is True, step
        assert all(reason for reason in step["dropped"]), step  # every drop has a reason
    # the files hold exactly what stats.json counts
    assert len(outcome["data"]) == stats["output"]["documents"]
    assert len(outcome["rejected"]) == stats["rejected_written"] == stats["dropped_total"]
    assert len(outcome["errors"]) == stats["errors_written"] == stats["errors_total"]
    assert len(outcome["data"]) + len(outcome["rejected"]) + len(outcome["errors"]) == stats["input"]["total"]
    assert stats["output"]["documents"] > 10  # the good pages made it
    assert hostile_run["wall_s"] < MAX_RUN_S


def test_every_error_names_file_offset_and_exception(outcome):
    errors = outcome["errors"]
    assert errors
    for error in errors:
        assert error["file"] and error["error"] and error["step"], error
        if error["step"] != "read" or not error["file"].endswith(".bad"):  # .bad: format unknown, no record read
            assert error["offset"] is not None, error
    unknown_format = [e for e in errors if e["file"].endswith(".bad")]
    assert len(unknown_format) == 1 and "cannot tell the format" in unknown_format[0]["error"]


def _per_file(outcome) -> tuple:
    """file -> documents read (output + rejected + step errors), file -> read errors."""
    documents, read_errors = Counter(), Counter()
    for row in outcome["data"] + outcome["rejected"]:
        documents[row["file"]] += 1
    for error in outcome["errors"]:
        (read_errors if error["step"] == "read" else documents)[error["file"]] += 1
    return documents, read_errors


def test_counts_per_file_match_the_manifest(hostile_run, outcome):
    corpus, manifest = hostile_run["corpus"], hostile_run["manifest"]
    documents, read_errors = _per_file(outcome)
    offsets = {}
    for error in outcome["errors"]:
        if error["step"] == "read":
            offsets.setdefault(error["file"], []).append(error["offset"])
    for rel, spec in manifest["files"].items():
        path = str(corpus / rel)
        assert (documents[path], read_errors[path]) == (spec["documents"], spec["read_errors"]), rel
        if "read_error_offsets" in spec:
            assert sorted(offsets.get(path, [])) == spec["read_error_offsets"], rel
    # the real broken samples: what the project's reader finds in each, no more, no less
    for path in _sample_paths():
        assert (documents[path], read_errors[path]) == _read_directly(path), path
    known = {str(corpus / rel) for rel in manifest["files"]} | set(_sample_paths())
    assert set(documents) | set(read_errors) <= known


def test_records_passed_over_are_counted_by_type(hostile_run, outcome):
    """stats.json counts the records the readers passed over (requests, warcinfo, ARC filedesc, blank
    JSONL lines) per input exactly as the reader does file by file."""
    corpus, stats = hostile_run["corpus"], outcome["stats"]
    inputs = {"web": sorted(str(p) for p in (corpus / "web").iterdir()), "samples": _sample_paths(),
              "jsonl": sorted(str(p) for p in (corpus / "jsonl").iterdir())}
    total = Counter()
    for name, paths in inputs.items():
        skipped = Counter()
        for path in paths:
            try:
                list(read_file(path, "direct", "jsonl" if name == "jsonl" else "auto", skipped=skipped))
            except ValueError:  # an unknown format: nothing read
                pass
        assert stats["input"]["by_source"][name]["skipped"] == dict(skipped), name
        total += skipped
    assert stats["input"]["skipped"] == dict(total)
    assert total["request"] >= 8 and total["blank-line"] == 1 and total["filedesc"] >= 2


def test_each_record_meets_its_expectation(hostile_run, outcome):
    manifest = hostile_run["manifest"]
    fates = {}
    for row in outcome["data"]:
        fates.setdefault(row["url"], []).append(("output", row))
    for row in outcome["rejected"]:
        fates.setdefault(row["url"], []).append((f"drop:{row['drop_reason']}", row))
    for error in outcome["errors"]:
        if error["step"] != "read":
            fates.setdefault(error["url"], []).append((f"error:{error['step']}", error))
    seen = Counter()
    for url, spec in manifest["records"].items():
        assert len(fates.get(url, [])) == 1, (url, spec, fates.get(url))
        fate, row = fates[url][0]
        seen[(spec["case"], fate)] += 1
        expect = spec["expect"]
        if expect == "output":
            assert fate == "output", (url, spec, fate)
            for part in spec.get("contains", []):
                assert part in row["text"], (url, part, row["text"][:300])
        elif expect.startswith("drop:"):
            assert fate == expect, (url, spec, fate)
        elif expect == "dropped":
            assert fate.startswith("drop:"), (url, spec, fate)
        elif expect == "dropped_or_error":
            assert fate.startswith(("drop:", "error:")), (url, spec, fate)
        elif expect == "output_or_dropped":
            assert fate == "output" or fate.startswith("drop:"), (url, spec, fate)
        else:
            assert expect == "near_duplicate", spec
    for group in manifest["near_duplicates"]:
        group_fates = sorted(fates[url][0][0] for url in group)
        assert group_fates == ["drop:minhash_duplicate"] * (len(group) - 1) + ["output"], group
    print("\noutcome per case:")
    for (case, fate), n in sorted(seen.items()):
        print(f"  {n:3d}  {case:60s} {fate}")


def test_big_and_deep_pages_are_dropped_with_a_clear_reason(hostile_run, outcome):
    by_url = {row["url"]: row for row in outcome["rejected"]}
    records = hostile_run["manifest"]["records"]
    big = [url for url, spec in records.items() if spec.get("html_bytes", 0) > 5_000_000]
    assert len(big) == 3  # 50 MB page, 10 MB line, 20 MB JSON text
    for url in big:
        assert by_url[url]["drop_reason"] == "extract_too_large" and by_url[url]["drop_step"] == "extract"
    deep = [url for url, spec in records.items() if spec["case"].startswith("HTML nested")]
    assert [by_url[url]["drop_reason"] for url in deep] == ["extract_no_text"]  # lxml stops at its depth limit


def test_peak_memory_per_process_is_bounded(hostile_run):
    peaks = hostile_run["peaks"]
    workers = [p for p in peaks.values() if "sdk_worker_main" in p["cmd"] and not p["cmd"].startswith("/bin/sh")]
    assert len(workers) == WORKERS, peaks  # the run really used its worker processes, and they were measured
    largest = max(p["hwm"] for p in peaks.values())
    print(f"\nlargest peak RSS: {largest / 2**20:.0f} MB over {len(peaks)} processes ({len(workers)} SDK workers)")
    for info in peaks.values():
        assert info["hwm"] < MAX_RSS_BYTES, info


def test_extract_stays_within_its_time_budget_on_the_worst_pages(hostile_corpus):
    """The pages that could stall extraction, timed one by one in this process."""
    corpus, manifest = hostile_corpus["corpus"], hostile_corpus["manifest"]
    step = Extract()
    step.setup()
    worst = {url for url, spec in manifest["records"].items()
             if spec["case"].startswith(("HTML nested", "a page that is one", "a 50 MB page"))}
    timed = {}
    for rel in ("web/deep-nesting.warc.gz", "web/one-line.warc.gz", "web/huge-page.warc.gz"):
        for doc in read_file(str(corpus / rel), "web"):
            assert isinstance(doc, Document) and doc.url in worst
            started = time.perf_counter()
            result = step.process(doc)
            timed[manifest["records"][doc.url]["case"]] = (time.perf_counter() - started,
                                                           result if isinstance(result, str) else "kept")
    print("\nextract time per page:", {case: f"{s:.2f} s ({r})" for case, (s, r) in timed.items()})
    assert len(timed) == 4
    for case, (seconds, result) in timed.items():
        assert seconds < step.timeout_s and result != "extract_timeout", (case, seconds, result)
