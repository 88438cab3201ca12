"""Soak benchmark: many generated documents through the full text recipe, throughput and memory over time.

    python -m benchmarks.soak [--documents 200000] [--files 100] [--workers 2] [--dir /tmp/thresher-soak]

1. Generates ``--documents`` English prose documents as JSONL.gz files, ``--near-dup`` of them (default
   10%) near-duplicates of distinct others: a few words replaced (at least 5 words apart), word-5-gram
   Jaccard on minhash_dedup's own shingles at least 0.85 (aimed at 0.86-0.95). Sentences and titles come
   from the quickstart corpus's writer (pipelines/commands/quickstart_pages.py); a document (170-700 words, one
   line per paragraph) is drawn from a bank of them per topic, skipping sentences that would repeat a
   5-gram of the document (Gopher's repetition rules): about 0.35 ms a document, 45 s for 200,000 on
   2 cores. Document k is a pure function of (seed, k): any process can rebuild the original of a copy.
2. Writes a recipe: language (en) -> gopher_repetition -> gopher_quality -> c4 (no terminal-punctuation
   rule, as FineWeb) -> fineweb_quality -> exact_dedup -> minhash_dedup -> pii, parquet output plus the
   rejected documents (to tell which planted copies minhash_dedup removed).
3. Runs ``python -m thresher.pipelines.commands.cli run RECIPE --workers N --overwrite`` in a subprocess, timestamps its
   stderr lines ("thresher: read FILE: N documents, E errors" when an input file has been through the
   fused first stage) and samples the resident memory (VmRSS) of every process of its tree each second.
   (This run found a second data-loss race in Beam 2.77's local runner; the local preset works around it:
   ``pipelines/local_runner_fix.disable_timed_data_flush``.)
4. Prints wall time, docs/s per tenth of the input files and per time window, peak memory per process and
   in total, the accounting from stats.json, and minhash_dedup's recall on the planted pairs next to the
   recall the 14 x 8 S-curve predicts for their Jaccard values.
"""
from __future__ import annotations

import argparse
import gzip
import json
import multiprocessing
import os
import pathlib
import random
import re
import subprocess
import sys
import threading
import time
from typing import Dict, List, Optional, Tuple

from thresher.pipelines.commands.quickstart_grammar import VOCAB
from thresher.pipelines.commands.quickstart_pages import _Writer

PROJECT_ROOT = pathlib.Path(__file__).resolve().parents[1]
TOPICS = sorted(VOCAB["en"])
BANK_SENTENCES = 3000  # per topic: two 25-sentence documents share 0.2 sentences on average
BANK_TITLES = 300
MIN_JACCARD, MAX_JACCARD = 0.85, 0.95  # planted near-duplicates
EMAIL_SHARE = 0.05  # documents ending with a contact address (work for the pii step)
_TOKEN = re.compile(r"\w+|[^\w\s]")
_READ = re.compile(r"thresher: read (\S+): (\d+) documents, (\d+) errors")

_banks: Dict[Tuple[int, str], tuple] = {}  # per process: (seed, topic) -> (writer, sentences, grams, titles)


# ---------------------------------------------------------------------------------------------- generation
def _bank(seed: int, topic: str) -> tuple:
    """Sentences of one topic with their word-5-gram hashes, and titles; built once per process."""
    key = (seed, topic)
    if key not in _banks:
        w = _Writer("en", random.Random(f"{seed}:{topic}"), topic)
        sentences, grams = [], []
        for _ in range(BANK_SENTENCES):
            w.seen = set()
            s = w.sentence()
            words = _TOKEN.findall(s)
            sentences.append(s)
            grams.append(frozenset(hash(g) for g in zip(*(words[i:] for i in range(5)))))
        _banks[key] = (w, sentences, grams, [w.title() for _ in range(BANK_TITLES)])
    return _banks[key]


def document(seed: int, k: int) -> Tuple[str, dict]:
    """Original document number ``k``: (topic, JSON record). 170-700 words, 3+ paragraphs."""
    rng = random.Random(seed * 1_000_003 + k)
    topic = rng.choice(TOPICS)
    w, sentences, grams, titles = _bank(seed, topic)
    target, paras, words, seen = rng.randint(170, 700), [], 0, set()
    while len(paras) < 3 or words < target:
        para = []
        for _ in range(rng.randint(3, 6)):
            best = None
            for _ in range(20):  # the sentence repeating the fewest 5-grams of the document so far
                i = rng.randrange(len(sentences))
                overlap = len(grams[i] & seen) if seen else 0
                if best is None or overlap < best[0]:
                    best = (overlap, i)
                if not overlap:
                    break
            i = best[1]
            seen |= grams[i]
            para.append(sentences[i])
            words += sentences[i].count(" ") + 1
        paras.append(" ".join(para))
    if rng.random() < EMAIL_SHARE:
        paras[-1] += f" Questions and corrections are welcome at editor{k}@{w.domain}."
    title = rng.choice(titles)
    text = title + "\n" + "\n".join(paras)  # one newline, as extracted text (blank lines count as repeats)
    date = f"20{rng.randint(16, 24)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    return topic, {"id": f"soak-{k:07d}", "text": text, "url": f"https://{w.domain}/{date[:4]}/post-{k}.html",
                   "date": date}


def shingle_jaccard(a: str, b: str) -> float:
    """Jaccard of the two texts' word-5-gram sets as minhash_dedup shingles them."""
    from thresher.transforms.dedup.minhash.signatures import exact_jaccard, shingle_hashes

    return exact_jaccard(shingle_hashes(a, 5), shingle_hashes(b, 5))


def near_duplicate(seed: int, k: int, src: int) -> Tuple[dict, float]:
    """Document ``k``: a copy of original ``src`` with a few words replaced; (record, Jaccard to it)."""
    topic, orig = document(seed, src)
    w = _bank(seed, topic)[0]
    rng = random.Random(seed * 1_000_003 + k)
    vocab = sorted({x.split()[0] for x in w.words["a"] + w.words["n"]})
    title, _, body = orig["text"].partition("\n")
    tokens = body.split(" ")
    # one replaced word changes 5 of the S shingles: J = (S - 5e) / (S + 5e)
    target = rng.uniform(MIN_JACCARD + 0.01, MAX_JACCARD)
    edits = max(1, round(len(tokens) * (1 - target) / (5 * (1 + target))))
    eligible = [i for i in range(1, len(tokens) - 1) if tokens[i].isalpha() and tokens[i].islower()]
    spots = []  # words at least 5 apart: each edit changes its own 5 shingles
    for i in rng.sample(eligible, len(eligible)):
        if len(spots) == edits:
            break
        if all(abs(i - j) >= 5 for j in spots):
            spots.append(i)
    for n in range(len(spots), 0, -1):
        copy = list(tokens)
        for i in spots[:n]:
            copy[i] = rng.choice([v for v in vocab if v != copy[i]])
        text = title + "\n" + " ".join(copy)
        sim = shingle_jaccard(orig["text"], text)
        if sim >= MIN_JACCARD:  # else fewer edits
            break
    record = dict(orig, id=f"soak-{k:07d}", text=text, url=orig["url"].replace("/post-", "/copy-") + f"?k={k}")
    return record, sim


def plan(documents: int, near_dup: float, seed: int) -> Dict[int, int]:
    """Copy index -> original index: ``near_dup`` of all indices are copies of distinct originals."""
    rng = random.Random(seed)
    copies = round(documents * near_dup)
    order = rng.sample(range(documents), documents)
    return dict(zip(order[:copies], order[copies:2 * copies]))


def _write_file(task: tuple) -> List[list]:
    path, seed, items = task  # items: (k, src or -1) in file order
    pairs = []
    with gzip.open(path, "wt", encoding="utf-8", compresslevel=3) as out:
        for k, src in items:
            if src < 0:
                record = document(seed, k)[1]
            else:
                record, sim = near_duplicate(seed, k, src)
                pairs.append([record["id"], f"soak-{src:07d}", round(sim, 4)])
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
    return pairs


def generate(out_dir: str, documents: int = 200_000, files: int = 100, near_dup: float = 0.1, seed: int = 1,
             processes: Optional[int] = None) -> dict:
    """Write ``files`` JSONL.gz files (document k in file k % files) and ``manifest.json``; return the manifest:
    ``pairs`` = [copy id, original id, Jaccard], ``files``, ``documents``."""
    os.makedirs(out_dir, exist_ok=True)
    copies = plan(documents, near_dup, seed)
    tasks = [(os.path.join(out_dir, f"part-{f:05d}.jsonl.gz"), seed,
              [(k, copies.get(k, -1)) for k in range(f, documents, files)]) for f in range(files)]
    processes = processes or os.cpu_count() or 1
    if processes > 1:
        with multiprocessing.get_context("fork").Pool(processes) as pool:
            results = pool.map(_write_file, tasks, chunksize=1)
    else:
        results = [_write_file(t) for t in tasks]
    manifest = {"documents": documents, "files": [t[0] for t in tasks], "seed": seed,
                "pairs": sorted(p for r in results for p in r)}
    with open(os.path.join(out_dir, "manifest.json"), "w") as f:
        json.dump(manifest, f)
    return manifest


# ---------------------------------------------------------------------------------------------- the run
RECIPE = """\
# Written by benchmarks/soak.py: FineWeb's chain without HTML extraction, on generated text.
version: 1
name: soak
inputs:
  docs:
    paths: ["{inputs}/*.jsonl.gz"]
    format: jsonl
steps:
  - step: language
    languages: [en]
  - step: gopher_repetition
  - step: gopher_quality
  - step: c4
    filter_no_terminal_punct: false
  - step: fineweb_quality
  - step: exact_dedup
  - step: minhash_dedup
    verify: {verify}
  - step: pii
output:
  path: {output}
  format: parquet
  rejected: true
"""


def write_recipe(scratch: str, verify: bool) -> str:
    path = os.path.join(scratch, "soak.yaml")
    with open(path, "w") as f:
        f.write(RECIPE.format(inputs=os.path.join(scratch, "input"), output=os.path.join(scratch, "output"),
                              verify="true" if verify else "false"))
    return path


_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _tree(root: int) -> Tuple[Dict[int, int], Dict[int, float]]:
    """VmRSS in kB and CPU seconds of ``root`` and each descendant (parent links from /proc/*/stat)."""
    parent, cpu = {}, {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    stat = f.read()
                fields = stat[stat.rindex(")") + 2:].split()
                parent[int(entry)], cpu[int(entry)] = int(fields[1]), int(fields[11]) + int(fields[12])
            except (OSError, ValueError, IndexError):
                pass
    tree, todo = set(), [root]
    while todo:
        pid = todo.pop()
        tree.add(pid)
        todo += [p for p, pp in parent.items() if pp == pid and p not in tree]
    rss = {}
    for pid in tree:
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        rss[pid] = int(line.split()[1])
        except OSError:
            pass
    return rss, {pid: cpu[pid] / _TICK for pid in tree if pid in cpu}


def _load() -> float:
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def _code_state() -> Tuple[str, Dict[str, float]]:
    """The git commit and the modification time of every project source file (to detect edits during a run)."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=str(PROJECT_ROOT), capture_output=True,
                              text=True, check=False).stdout.strip()
    except OSError:
        head = "?"
    sources = [p for d in ("transforms", "pipelines") for p in (PROJECT_ROOT / d).rglob("*.py")]
    return head, {str(p): p.stat().st_mtime for p in sources}


# Beam 2.77's runner flushes its data-plane output streams from a timer thread every second while the
# runner thread writes a stage's input into them, without a common lock: bytes written between the
# flush's get() and _clear() are lost (a bundle input of 300 MB lost 50-100 MB). Off = size-based only.
def run_recipe(recipe: str, workers: int, log_path: str) -> dict:
    """Run the CLI; return its exit code, wall time, read events (t, docs) and memory samples."""
    cmd = [sys.executable, "-m", "thresher.pipelines.commands.cli", "run", recipe, "--workers", str(workers), "--overwrite",
           "--verbose"]  # --verbose: the per-file "thresher: read" lines
    head, before = _code_state()
    started = time.time()
    proc = subprocess.Popen(cmd, cwd=str(PROJECT_ROOT), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    reads, lines = [], []

    def pump(stream, name):
        for line in stream:
            t = time.time() - started
            lines.append((t, name, line.rstrip("\n")))
            found = _READ.search(line)
            if found:
                reads.append((t, int(found.group(2)), int(found.group(3))))

    pumps = [threading.Thread(target=pump, args=(s, n), daemon=True) for s, n in ((proc.stdout, "out"),
                                                                               (proc.stderr, "err"))]
    for p in pumps:
        p.start()
    samples, names = [], {}  # (t, {pid: kB}, CPU seconds of the tree, load average); pid -> command line
    cpu_seen: Dict[int, float] = {}  # last CPU seconds of every process seen (processes that ended count too)
    while proc.poll() is None:
        rss, cpu_now = _tree(proc.pid)
        cpu_seen.update(cpu_now)
        cpu = sum(cpu_seen.values())
        for pid in rss:
            if pid not in names:
                names[pid] = _cmdline(pid)
        samples.append((time.time() - started, rss, cpu, _load()))
        time.sleep(1.0)
    wall = time.time() - started
    for p in pumps:
        p.join()
    with open(log_path, "w") as f:
        f.writelines(f"{t:9.2f} {n} {line}\n" for t, n, line in lines)
    after = _code_state()[1]
    changed = sorted(os.path.relpath(p, PROJECT_ROOT) for p in set(before) | set(after)
                     if before.get(p) != after.get(p))
    return {"code": proc.returncode, "wall": wall, "commit": head, "changed": changed, "reads": sorted(reads),
            "samples": samples, "names": names, "lines": lines}


# ---------------------------------------------------------------------------------------------- report
def _role(cmd: str, pid: int, root: int) -> str:
    if pid == root:
        return "cli (pipeline, runner)"
    return cmd.replace(sys.executable, "python")[:60] or "?"


def _cpu_at(samples: List[tuple], t: float) -> float:
    """CPU seconds of the process tree at time ``t`` (the last sample before it)."""
    before = [s[2] for s in samples if s[0] <= t]
    return before[-1] if before else 0.0


def throughput_by_tenth(reads: List[tuple], samples: List[tuple], skip: int = 1) -> List[tuple]:
    """(files, t_end, docs, docs/s, CPU ms/doc) per tenth of the files read, timed from the previous tenth's
    end. The first tenth is timed from the end of file ``skip`` (the workers' first files end together,
    after start-up) and does not count the documents of those first files. CPU is the whole tree's
    (runner and workers), sampled each second: it does not depend on what else runs on the machine."""
    rows, n = [], len(reads)
    skip = min(max(1, skip), max(1, n - 1))
    cuts = sorted({max(skip + 1, round(n * i / 10)) for i in range(1, 11)})
    prev_i, prev_t = skip, reads[skip - 1][0] if reads else 0.0
    for cut in cuts:
        if cut > n:
            break
        docs = sum(r[1] for r in reads[prev_i:cut])
        t = reads[cut - 1][0]
        cpu = _cpu_at(samples, t) - _cpu_at(samples, prev_t)
        rows.append((cut, t, docs, docs / (t - prev_t) if t > prev_t else float("nan"),
                     1000 * cpu / docs if docs else float("nan")))
        prev_i, prev_t = cut, t
    return rows


def timeline(run: dict, rows: int = 20) -> List[tuple]:
    """Per window: (t, docs read so far, docs/s, tree CPU cores busy, load average, max process MB, total MB);
    memory is the largest sample in the window."""
    wall, reads, samples = run["wall"], run["reads"], run["samples"]
    step = max(30.0, round(wall / rows / 10) * 10)
    out, t0 = [], 0.0
    while t0 < wall:
        t1 = min(wall, t0 + step)
        done0 = sum(r[1] for r in reads if r[0] <= t0)
        done1 = sum(r[1] for r in reads if r[0] <= t1)
        window = [s for s in samples if t0 <= s[0] < t1] or [min(samples, key=lambda s: abs(s[0] - t1))]
        max_proc = max((max(s[1].values(), default=0) for s in window), default=0) / 1024
        total = max((sum(s[1].values()) for s in window), default=0) / 1024
        cores = (_cpu_at(samples, t1) - _cpu_at(samples, t0)) / (t1 - t0)
        load = sum(s[3] for s in window) / len(window)
        out.append((t1, done1, (done1 - done0) / (t1 - t0), cores, load, max_proc, total))
        t0 = t1
    return out


def planted_recall(output_dir: str, pairs: List[list]) -> dict:
    """How the planted pairs ended: one of the two removed by minhash_dedup (caught), both output, other
    (dropped by another step, or missing: in neither the output nor the rejected documents)."""
    import glob

    import pyarrow.parquet as pq

    fate = {}
    for path in glob.glob(os.path.join(output_dir, "data", "*.parquet")):
        fate.update(dict.fromkeys(pq.read_table(path, columns=["id"]).column("id").to_pylist(), "kept"))
    for path in glob.glob(os.path.join(output_dir, "rejected", "*.parquet")):
        t = pq.read_table(path, columns=["id", "drop_step", "drop_reason"]).to_pydict()
        fate.update({i: f"{s}:{r}" for i, s, r in zip(t["id"], t["drop_step"], t["drop_reason"])})
    out = {"pairs": len(pairs), "caught": 0, "both_kept": 0, "other": 0, "other_fates": {}, "missed": []}
    for copy, orig, sim in pairs:
        a, b = fate.get(copy, "missing"), fate.get(orig, "missing")  # missing: neither output nor rejected
        if sorted((a, b)) == ["kept", "minhash_dedup:minhash_duplicate"]:
            out["caught"] += 1
        elif a == b == "kept":
            out["both_kept"] += 1
            out["missed"].append([copy, orig, sim])
        else:
            out["other"] += 1
            key = f"{b} / {a}"
            out["other_fates"][key] = out["other_fates"].get(key, 0) + 1
    reached = out["caught"] + out["both_kept"]
    out["recall"] = out["caught"] / reached if reached else float("nan")
    from thresher.transforms.dedup.minhash.signatures import s_curve

    out["expected_recall"] = sum(s_curve(14, 8, [p[2] for p in pairs])) / max(1, len(pairs))
    return out


def report(args, gen_s: float, manifest: dict, run: dict) -> None:
    root = min(run["names"]) if run["names"] else 0
    reads, docs = run["reads"], manifest["documents"]
    first_stage = reads[-1][0] if reads else float("nan")
    sims = sorted(p[2] for p in manifest["pairs"])
    print(f"\n== soak: {docs:,} documents ({len(sims):,} planted near-duplicates, Jaccard "
          f"{sims[0]:.3f}-{sims[-1]:.3f}, median {sims[len(sims) // 2]:.3f}) in {len(manifest['files'])} files, "
          f"{args.workers} workers; generated in {gen_s:.1f} s")
    print(f"code: commit {run['commit']}; "
          f"source files changed during the run: {', '.join(run['changed']) or 'none'}")
    print(f"exit code {run['code']}; wall {run['wall']:.1f} s = {docs / run['wall']:,.0f} docs/s overall; "
          f"last input file through the first stage at {first_stage:.1f} s "
          f"({len(reads)} of {len(manifest['files'])} files logged, {docs / first_stage:,.0f} docs/s), "
          f"then {run['wall'] - first_stage:.1f} s "
          f"of dedup, output and accounting")
    tenths = throughput_by_tenth(reads, run["samples"], args.workers)
    if tenths:
        print("\nfirst stage (read + filters) by tenth of the input files:")
        print(f"{'files':>6} {'at s':>8} {'docs':>8} {'docs/s':>8} {'CPU ms/doc':>11}")
        for files, t, n, rate, cpu in tenths:
            print(f"{files:>6} {t:>8.1f} {n:>8,} {rate:>8,.0f} {cpu:>11.2f}")
        print(f"last tenth / first tenth: docs/s {tenths[-1][3] / tenths[0][3]:.2f}, "
              f"CPU per document {tenths[-1][4] / tenths[0][4]:.2f}")
    print("\ntimeline (docs read: through the first stage; CPU: cores used by the tree; load: 1-min average):")
    print(f"{'t s':>7} {'docs read':>10} {'docs/s':>8} {'CPU':>5} {'load':>5} {'max proc MB':>12} {'total MB':>9}")
    for t, done, rate, cores, load, mx, total in timeline(run):
        print(f"{t:>7.0f} {done:>10,} {rate:>8,.0f} {cores:>5.2f} {load:>5.1f} {mx:>12,.0f} {total:>9,.0f}")
    peaks: Dict[int, int] = {}
    for sample in run["samples"]:
        for pid, kb in sample[1].items():
            peaks[pid] = max(peaks.get(pid, 0), kb)
    total_peak = max(run["samples"], key=lambda s: sum(s[1].values()), default=(0.0, {}))
    print("\npeak RSS per process (MB):")
    for pid, kb in sorted(peaks.items(), key=lambda p: -p[1])[:6]:
        print(f"  {pid:>7} {kb / 1024:>8,.0f}  {_role(run['names'].get(pid, ''), pid, root)}")
    print(f"peak total RSS of the tree: {sum(total_peak[1].values()) / 1024:,.0f} MB at {total_peak[0]:.0f} s; "
          f"CPU of the tree {run['samples'][-1][2] if run['samples'] else 0:,.0f} s in {run['wall']:.0f} s")
    stats_path = os.path.join(args.dir, "output", "stats.json")
    if not os.path.exists(stats_path):
        print("no stats.json: the run failed; last stderr lines:")
        for t, _, line in run["lines"][-20:]:
            print(f"  {t:8.1f} {line}")
        return
    with open(stats_path) as f:
        stats = json.load(f)
    print(f"\naccounting (stats.json): input {stats['input']['total']:,} (read errors "
          f"{stats['input']['read_errors']}), output {stats['output']['documents']:,}, dropped "
          f"{stats['dropped_total']:,}, errors {stats['errors_total']}, balanced {stats['balanced']}")
    print(f"{'step':<20} {'in':>8} {'out':>8} {'errors':>6}  dropped")
    for s in stats["steps"]:
        dropped = ", ".join(f"{r} {n:,}" for r, n in s["dropped"].items()) or "-"
        print(f"{s['step']:<20} {s['in']:>8,} {s['out']:>8,} {s['errors']:>6}  {dropped}"
              + ("" if s.get("balanced", True) else "  NOT BALANCED"))
        if s.get("report"):
            print(f"{'':<20} report: {s['report']}")
    rec = planted_recall(os.path.join(args.dir, "output"), manifest["pairs"])
    print(f"\nplanted near-duplicates: {rec['pairs']:,} pairs; one of the two removed by minhash_dedup: "
          f"{rec['caught']:,}, both output: {rec['both_kept']:,}, other fates: {rec['other']:,} "
          f"{rec['other_fates'] or ''}")
    if rec["missed"]:
        missed = "; ".join(" ".join(map(str, m)) for m in rec["missed"][:8])
        print(f"  both output (copy, original, Jaccard): {missed}")
    with open(os.path.join(args.dir, "planted.json"), "w") as f:
        json.dump(rec, f)
    print(f"recall on the planted pairs that reached minhash_dedup: {rec['recall']:.4f} "
          f"(14 x 8 S-curve at their Jaccard values predicts {rec['expected_recall']:.4f})")
    extra = stats["steps"][[s["step"] for s in stats["steps"]].index("minhash_dedup")]["dropped"].get(
        "minhash_duplicate", 0) - rec["caught"]
    print(f"minhash_duplicate drops outside the planted pairs: {extra:,}")


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--documents", type=int, default=200_000)
    parser.add_argument("--files", type=int, default=100)
    parser.add_argument("--near-dup", type=float, default=0.1, help="share of documents that are near-duplicates")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--dir", default="/tmp/thresher-soak", help="scratch directory (input, output, log)")
    parser.add_argument("--no-verify", action="store_true", help="minhash_dedup verify: false (as FineWeb)")
    parser.add_argument("--keep-input", action="store_true", help="reuse existing input with the same manifest")
    parser.add_argument("--generate-only", action="store_true", help="write the input and stop")
    args = parser.parse_args(argv)
    input_dir = os.path.join(args.dir, "input")
    manifest_path = os.path.join(input_dir, "manifest.json")
    t = time.time()
    manifest = None
    if args.keep_input and os.path.exists(manifest_path):
        with open(manifest_path) as f:
            manifest = json.load(f)
        if (manifest["documents"], len(manifest["files"]), manifest["seed"]) != (args.documents, args.files,
                                                                                   args.seed):
            manifest = None
    if manifest is None:
        if os.path.isdir(input_dir):
            for name in os.listdir(input_dir):
                os.remove(os.path.join(input_dir, name))
        manifest = generate(input_dir, args.documents, args.files, args.near_dup, args.seed)
    gen_s = time.time() - t
    print(f"input: {args.documents:,} documents in {args.files} files under {input_dir} ({gen_s:.1f} s)", flush=True)
    if args.generate_only:
        return 0
    recipe = write_recipe(args.dir, verify=not args.no_verify)
    run = run_recipe(recipe, args.workers, os.path.join(args.dir, "run.log"))
    report(args, gen_s, manifest, run)
    return run["code"]


if __name__ == "__main__":
    sys.exit(main())
