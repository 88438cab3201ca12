"""What ``output.tokens`` costs: tokenizer throughput, the FineWeb chain with and without token
shards, and a scale corpus written as text only vs text + tokens.

a. ``encode`` per document in a loop vs ``encode_batch`` (in batches of the sink's ``BATCH`` and
   all at once) on the FineWeb output texts of the real pages, with ``RAYON_NUM_THREADS=1`` and
   with the default thread count: tokens/s and tokens/s per core.
b. ``recipes/fineweb.yaml`` as ``benchmarks/fineweb_bench.py`` runs it (no minhash_dedup unless
   ``--dedup``, empty URL lists) on ``bench/real-pages.warc.gz`` split into 4 files, without and
   with ``output.tokens`` (a tokenizer trained by ``thresher train-tokenizer`` on a first run's
   output), on 1 and 2 workers, ``--repeats`` times each, alternating which goes first: medians
   and the overhead ratio.
c. ``--docs`` documents of ``../shared/tools/make_scale_corpus.py`` through a recipe with no steps,
   text only vs text + tokens (``shard_tokens`` = 50 x documents: several shards) on 2 workers: wall
   time, the time inside the sink's transforms (Beam's per-transform execution time, summed over
   workers: tokenization vs the shuffle-and-shard part), and peak memory of the runner process and
   of the largest worker process. The default million documents take about 7 minutes on 2 cores
   and about 8 GB in the local runner's process, which holds the grouped token ids; ``--docs
   200000`` for a quicker run.
Every pipeline runs in a fresh child process, so peak memory and caches are its own. With
``/tmp/megatron-venv`` (see ``benchmarks/megatron_check.py``) the first tokens run of b and c is
read back with Megatron-LM's ``IndexedDataset``. Prints figures, asserts nothing.
Usage: python benchmarks/token_bench.py [--parts a b c] [--repeats 3] [--docs 1000000] [--workers 1 2]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import PROJECT_ROOT, REAL_PAGES, cpu_count, peak_rss_mb, split_warc  # noqa: E402

MEGATRON_PYTHON = Path("/tmp/megatron-venv/bin/python")
RESULT = "TOKEN_BENCH_RESULT "  # prefix of the child's result line
LIST_FILES = ("ut1/adult/domains", "ut1/adult/urls", "datatrove/banned_words.txt",
              "datatrove/soft_banned_words.txt", "datatrove/banned_subwords.txt")


# ---- child processes ---------------------------------------------------------------------------

def child_run(recipe_path: str, workers: int) -> None:
    """Runs one recipe in this process; prints wall time, peak memory and per-transform times."""
    import apache_beam as beam

    from thresher.pipelines.recipe.model import load_recipe
    from thresher.pipelines.recipe.registry import STEPS
    from thresher.pipelines.report.stats import read_stats
    from thresher.pipelines.run.builder import build
    from thresher.pipelines.run.runners import RunnerConfig, make_runner_and_options

    recipe = load_recipe(recipe_path, STEPS)
    runner, options = make_runner_and_options(RunnerConfig(workers=workers))
    pipeline = beam.Pipeline(runner=runner, options=options)
    build(pipeline, recipe)
    started = time.perf_counter()
    result = pipeline.run()
    result.wait_until_finish()
    wall = time.perf_counter() - started
    msecs: Dict[str, int] = {}
    for counter in result.monitoring_metrics().query()["counters"]:
        if counter.key.metric.name.endswith("ptransform_execution_time:total_msecs:v1"):
            msecs[counter.key.step] = msecs.get(counter.key.step, 0) + int(counter.committed or 0)
    stats = read_stats(recipe.output.path)
    print(RESULT + json.dumps({
        "wall": wall, "runner_mb": peak_rss_mb(), "worker_mb": peak_rss_mb(children=True),
        "msecs": msecs, "output": stats.get("output", {}).get("documents"), "tokens": stats.get("tokens")}),
        flush=True)


def child_throughput(tokenizer_path: str, texts_path: str, batch: int, seconds: float) -> None:
    """tokens/s of encode in a loop, encode_batch in batches of ``batch`` and all at once."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(tokenizer_path)
    texts = json.loads(Path(texts_path).read_text(encoding="utf-8"))

    def loop():
        return sum(len(tok.encode(t, add_special_tokens=False).ids) for t in texts)

    def batched():
        return sum(len(e.ids) for i in range(0, len(texts), batch)
                   for e in tok.encode_batch(texts[i:i + batch], add_special_tokens=False))

    def whole():
        return sum(len(e.ids) for e in tok.encode_batch(texts, add_special_tokens=False))

    rates = {}
    for name, fn in (("encode loop", loop), (f"encode_batch x{batch}", batched), ("encode_batch all", whole)):
        fn()  # warm up
        tokens = runs = 0
        started = time.perf_counter()
        while time.perf_counter() - started < seconds or runs == 0:
            tokens += fn()
            runs += 1
        rates[name] = tokens / (time.perf_counter() - started)
    cpu = time.process_time()
    print(RESULT + json.dumps({"rates": rates, "cpu": cpu, "tokens": loop(),
                               "bytes": sum(len(t.encode("utf-8")) for t in texts)}), flush=True)


def child(args: List[str], env: Optional[Dict[str, str]] = None) -> dict:
    """Runs this script with ``args`` in a fresh process and returns its result line as a dict."""
    done = subprocess.run([sys.executable, __file__] + args, capture_output=True, text=True,
                          env={**os.environ, **(env or {})})
    for line in done.stdout.splitlines():
        if line.startswith(RESULT):
            return json.loads(line[len(RESULT):])
    raise SystemExit(f"child {args} failed ({done.returncode}):\n{done.stderr[-3000:]}")


# ---- recipes -----------------------------------------------------------------------------------

def tokens_block(tokenizer: str, shard_tokens: int) -> dict:
    return {"tokenizer": tokenizer, "format": "megatron", "shard_tokens": shard_tokens, "eos": True,
            "validation_fraction": 0.001, "seed": 0}


def fineweb_recipe(path: Path, inputs: str, lists: Path, out: Path, tokens: Optional[dict], dedup: bool) -> str:
    import yaml

    recipe = yaml.safe_load((PROJECT_ROOT / "recipes" / "fineweb.yaml").read_text())
    recipe["params"]["blocklists"] = str(lists)
    next(iter(recipe["inputs"].values()))["paths"] = [inputs]
    if not dedup:
        recipe["steps"] = [s for s in recipe["steps"] if s["step"] != "minhash_dedup"]
    recipe["output"]["path"] = str(out)
    if tokens:
        recipe["output"]["tokens"] = tokens
    path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    return str(path)


def scale_recipe(path: Path, inputs: str, out: Path, tokens: Optional[dict]) -> str:
    import yaml

    recipe = {"version": 1, "name": "scale", "inputs": {"scale": {"paths": [inputs], "format": "jsonl"}},
              "steps": [], "output": {"path": str(out), "format": "parquet"}}
    if tokens:
        recipe["output"]["tokens"] = tokens
    path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    return str(path)


def megatron_check(out: Path, text: bool) -> None:
    """Megatron-LM's reader on a run's shards (when the scratch venv exists): its last line."""
    if not MEGATRON_PYTHON.exists():
        print(f"  megatron check skipped: no {MEGATRON_PYTHON}", flush=True)
        return
    started = time.perf_counter()
    done = subprocess.run([str(MEGATRON_PYTHON), str(PROJECT_ROOT / "benchmarks" / "megatron_check.py"), str(out)]
                          + ([] if text else ["--no-text"]), capture_output=True, text=True)
    lines = done.stdout.strip().splitlines() or [done.stderr.strip()[-500:]]
    failed = [line for line in lines if line.startswith("FAIL")]
    print(f"  megatron check (exit {done.returncode}, {time.perf_counter() - started:.0f} s): {lines[-1]}"
          + "".join(f"\n    {line}" for line in failed[:5]), flush=True)


def sink_msecs(msecs: Dict[str, int], label: str) -> Dict[str, float]:
    """Seconds inside the transforms under ``label`` (summed over workers), by sub-transform."""
    parts: Dict[str, float] = {}
    for step, ms in msecs.items():
        if step.startswith(label + "/"):
            name = step[len(label) + 1:].split("/")[0]
            parts[name] = parts.get(name, 0) + ms / 1000
    return parts


def memory(r: dict, workers: int) -> str:
    worker = f"{r['worker_mb']:.0f} MB" if workers > 1 else "(1 worker: in the runner process)"
    return f"peak memory runner {r['runner_mb']:.0f} MB, largest worker {worker}"


def load() -> str:
    return "load average " + " ".join(f"{x:.1f}" for x in os.getloadavg())


def describe_tokens(t: Optional[dict]) -> str:
    if not t:
        return "no tokens section in stats.json"
    splits = t.get("splits", {})
    return (f"{t.get('documents')} documents, {t.get('tokens')} tokens ({t.get('dtype')}), shards "
            + ", ".join(f"{s} {v.get('shards')}" for s, v in splits.items()) + f", balanced {t.get('balanced')}")


# ---- the parts ---------------------------------------------------------------------------------

def part_a(work: Path, tokenizer: str, texts: List[str]) -> None:
    from thresher.transforms.io.token_shards import BATCH

    texts_path = work / "texts.json"
    texts_path.write_text(json.dumps(texts), encoding="utf-8")
    cores = cpu_count()
    print(f"\n== a. tokenizer throughput: {len(texts)} FineWeb output texts, "
          f"{sum(len(t.encode('utf-8')) for t in texts) / 1e6:.1f} MB, {cores} cores, {load()}", flush=True)
    for threads in ("1", None):
        env = {"RAYON_NUM_THREADS": threads} if threads else {}
        if not threads:
            os.environ.pop("RAYON_NUM_THREADS", None)
        r = child(["--throughput", tokenizer, str(texts_path), str(BATCH), "3"], env)
        used = 1 if threads else cores
        print(f"RAYON_NUM_THREADS={threads or 'default'} ({r['tokens']} tokens, "
              f"{r['bytes'] / r['tokens']:.2f} bytes/token):", flush=True)
        for name, rate in r["rates"].items():
            per_core = rate if name == "encode loop" else rate / used
            print(f"  {name:22s} {rate / 1e6:6.2f} M tokens/s  {per_core / 1e6:6.2f} M tokens/s per core", flush=True)


def train_tokenizer(data_glob: str, out: Path, vocab: int) -> str:
    thresher = Path(sys.executable).parent / "thresher"
    done = subprocess.run([str(thresher), "train-tokenizer", "--input", data_glob, "--vocab-size", str(vocab),
                           "--out", str(out)], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"train-tokenizer failed: {done.stderr[-2000:]}")
    print("train-tokenizer: " + "; ".join(done.stdout.strip().splitlines()[:3]), flush=True)
    return str(out)


def fineweb_texts(out: Path) -> List[str]:
    import pyarrow.parquet as pq

    return [t for f in sorted((out / "data").glob("*.parquet")) for t in pq.read_table(f, columns=["text"])
            .column("text").to_pylist()]


def part_b(work: Path, args, tokenizer: Optional[str]) -> str:
    """Returns the tokenizer (trained here on a first run's output when none is given)."""
    inputs = work / "pages"
    split_warc(REAL_PAGES, 4, inputs)
    lists = work / "lists"
    for rel in LIST_FILES:
        (lists / rel).parent.mkdir(parents=True, exist_ok=True)
        (lists / rel).write_text("")
    glob = f"{inputs}/*.warc.gz"
    first = work / "fw-first"
    r = child(["--run", fineweb_recipe(work / "fw-first.yaml", glob, lists, first, None, args.dedup),
               "--workers", str(max(args.workers))])
    print(f"\n== b. FineWeb chain{' with' if args.dedup else ' without'} minhash_dedup on the real pages: "
          f"first run {r['wall']:.1f} s, {r['output']} documents out ({load()})", flush=True)
    if tokenizer is None:
        tokenizer = train_tokenizer(f"{first}/data/*.parquet", work / "tokenizer.json", args.vocab_size)
    if "a" in args.parts:
        part_a(work, tokenizer, fineweb_texts(first))
    if "b" not in args.parts:
        return tokenizer
    tokens = tokens_block(tokenizer, args.shard_tokens_fineweb)
    times: Dict[tuple, List[float]] = {}
    checked = False
    for rep in range(args.repeats):
        for workers in args.workers:
            order = (False, True) if rep % 2 == 0 else (True, False)
            for with_tokens in order:
                out = work / f"fw-{workers}-{int(with_tokens)}"
                recipe = fineweb_recipe(work / "fw.yaml", glob, lists, out, tokens if with_tokens else None, args.dedup)
                subprocess.run(["rm", "-rf", str(out)], check=True)
                r = child(["--run", recipe, "--workers", str(workers)])
                times.setdefault((workers, with_tokens), []).append(r["wall"])
                extra = ""
                if with_tokens:
                    parts = sink_msecs(r["msecs"], "write tokens")
                    extra = (f"; {describe_tokens(r['tokens'])}; in the token sink {sum(parts.values()):.2f} s "
                             f"(Encode {parts.get('Encode', 0):.2f} s)")
                print(f"  run {rep + 1}, {workers} worker(s), {'text + tokens' if with_tokens else 'text only   '}: "
                      f"{r['wall']:.2f} s, {memory(r, workers)}" + extra, flush=True)
                if with_tokens and not checked:
                    megatron_check(out, text=True)
                    checked = True
    for workers in args.workers:
        off, on = statistics.median(times[(workers, False)]), statistics.median(times[(workers, True)])
        print(f"FineWeb, {workers} worker(s): median text only {off:.2f} s, text + tokens {on:.2f} s, "
              f"overhead {on - off:+.2f} s ({(on - off) / off:+.1%}); runs "
              f"{' '.join(f'{t:.1f}' for t in times[(workers, False)])} / "
              f"{' '.join(f'{t:.1f}' for t in times[(workers, True)])} ({load()})", flush=True)
    return tokenizer


def part_c(work: Path, args, tokenizer: str) -> None:
    tool = PROJECT_ROOT.parent / "shared" / "tools" / "make_scale_corpus.py"
    corpus = work / "scale"
    started = time.perf_counter()
    subprocess.run([sys.executable, str(tool), str(corpus), str(args.docs), "16"], check=True,
                   stdout=subprocess.DEVNULL)
    size = sum(f.stat().st_size for f in corpus.glob("*.jsonl"))
    print(f"\n== c. scale corpus: {args.docs} documents, {size / 1e6:.0f} MB of JSONL in 16 files "
          f"(made in {time.perf_counter() - started:.0f} s), no steps, {args.scale_workers} workers", flush=True)
    shard_tokens = args.shard_tokens_scale or max(1000, args.docs * 50)  # several shards
    glob = f"{corpus}/*.jsonl"
    results = {}
    for with_tokens in (False, True):
        out = work / f"scale-{int(with_tokens)}"
        recipe = scale_recipe(work / f"scale-{int(with_tokens)}.yaml", glob, out,
                              tokens_block(tokenizer, shard_tokens) if with_tokens else None)
        r = results[with_tokens] = child(["--run", recipe, "--workers", str(args.scale_workers)])
        print(f"{'text + tokens' if with_tokens else 'text only'}: {r['wall']:.1f} s = {args.docs / r['wall']:.0f} "
              f"docs/s; {memory(r, args.scale_workers)} ({load()})", flush=True)
        if with_tokens:
            parts = sink_msecs(r["msecs"], "write tokens")
            encode = parts.pop("Encode", 0.0)
            rest = sum(parts.values())
            print(f"  shard_tokens {shard_tokens}: {describe_tokens(r['tokens'])}", flush=True)
            print(f"  inside the token sink (s, summed over workers): Encode {encode:.1f}; shuffle and shard "
                  f"{rest:.1f} (" + ", ".join(f"{k} {v:.1f}" for k, v in sorted(parts.items(), key=lambda kv: -kv[1]))
                  + ")", flush=True)
            megatron_check(out, text=args.check_text)
        else:
            parts = sink_msecs(r["msecs"], "write data")
            print(f"  inside the text sink: {sum(parts.values()):.1f} s summed over workers", flush=True)
    off, on = results[False]["wall"], results[True]["wall"]
    tokens = (results[True]["tokens"] or {}).get("tokens") or 0
    grown = results[True]["runner_mb"] - results[False]["runner_mb"]
    if tokens:
        print(f"scale: the runner's peak memory grows by {grown:.0f} MB with tokens = "
              f"{grown * 2**20 / tokens:.1f} bytes per token (the local runner holds the grouped records)", flush=True)
    encode = sink_msecs(results[True]["msecs"], "write tokens").get("Encode", 0.0) / args.scale_workers
    print(f"scale: text + tokens costs {on - off:+.1f} s ({(on - off) / off:+.1%}) over text only; "
          f"tokenizing is {encode:.1f} s of it (Encode time / workers), the rest {on - off - encode:.1f} s "
          f"(shuffle, shard, write, the runner's grouping)", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", nargs="+", default=["a", "b", "c"], choices=["a", "b", "c"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--dedup", action="store_true", help="b: keep the recipe's minhash_dedup step")
    parser.add_argument("--vocab-size", type=int, default=32000)
    parser.add_argument("--tokenizer", help="use this tokenizer.json instead of training one")
    parser.add_argument("--shard-tokens-fineweb", type=int, default=500_000_000)
    parser.add_argument("--docs", type=int, default=1_000_000)
    parser.add_argument("--scale-workers", type=int, default=2)
    parser.add_argument("--shard-tokens-scale", type=int, default=None)
    parser.add_argument("--check-text", action="store_true", help="c: megatron check re-encodes the text too")
    parser.add_argument("--run", help=argparse.SUPPRESS)
    parser.add_argument("--throughput", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run:
        return child_run(args.run, args.workers[0])
    if args.throughput:
        tok, texts, batch, seconds = args.throughput
        return child_throughput(tok, texts, int(batch), float(seconds))
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="token-bench-") as tmp:
        work = Path(tmp)
        tokenizer = args.tokenizer
        if "a" in args.parts or "b" in args.parts or not tokenizer:
            tokenizer = part_b(work, args, tokenizer)
        if "c" in args.parts:
            part_c(work, args, tokenizer)
    print(f"\ntotal {time.perf_counter() - started:.0f} s", flush=True)


if __name__ == "__main__":
    main()
