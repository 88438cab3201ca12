"""Throughput and memory of MinHash signatures and of the whole ``minhash_dedup`` step.

Synthetic short documents: 100 words drawn from a 50,000-word vocabulary,
one in ten an edited copy (1 word replaced: Jaccard about 0.9) of the one before, generated inside the
pipeline (no Create of the whole corpus). Each configuration runs in its own
process; peak memory is the largest resident set of that process or of any
worker process it started (``resource.getrusage``).

* signatures: ``shingle_hashes`` + ``signature`` + ``band_keys`` in a plain
  loop, one core;
* step: the default recipe parameters (5-grams, 14 x 8, verify on, 12 rounds)
  on the FnApiRunner, 1 worker (in_memory) or 2 (multi_processing), end to
  end from generation to counting the kept and rejected documents.

Measured on the 2-core build machine (shared with other jobs, so +-20%):

==============  =========  =======  =======  ======  =======  ============================
what            docs       workers  seconds  docs/s  peak MB  result
==============  =========  =======  =======  ======  =======  ============================
signatures      100,000    1        17.4     5,737   309
minhash_dedup   10,000     1        9.9      1,007   326      kept 9,000, rejected 1,000
minhash_dedup   10,000     2        19.2     522     417      same
minhash_dedup   100,000    1        75.5     1,325   909      kept 90,000, rejected 10,000
minhash_dedup   100,000    2        64.5     1,550   1,123    same
minhash_dedup   1,000,000  1        548      1,823   6,701    kept 900,037, rejected 99,963
minhash_dedup   1,000,000  2        482      2,076   ~6,400   same (with the runner fix below)
==============  =========  =======  =======  ======  =======  ============================

Every run converged. Signatures are about a quarter of the step's time; the
rest is Beam's shuffles (14 band keys a document, the shingle sets, the
final join of documents) and about 70 small stages of clustering rounds,
which cost 0.1-0.3 s each whatever the data. Two workers pay worker start-up
and inter-process transfer: slower at 10,000 documents, 12-17% faster from
100,000. The FnApiRunner keeps every shuffled PCollection in the runner
process: memory grows with the corpus (about 6.5 KB a 100-word document).

Runner bugs: without ``fix_local_runner`` (pipelines/local_runner_fix.py) three 2-worker runs
of 1,000,000 documents lost 17,000-29,000 documents and half the duplicate
decisions, differently each time (set THRESHER_NO_RUNNER_FIX=1 to see it).

Usage: python benchmarks/minhash_scale.py [--sizes 10000 100000] [--million]
"""
from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipelines.local_runner_fix import fix_local_runner  # noqa: E402

VOCAB_SIZE = 50_000
WORDS = 100
SHARD = 5_000


def _vocab():
    rnd = random.Random(12345)
    letters = "abcdefghijklmnopqrstuvwxyz"
    return ["".join(rnd.choice(letters) for _ in range(rnd.randint(3, 9))) for _ in range(VOCAB_SIZE)]


def shard_docs(shard: int, size: int):
    """Documents shard*SHARD .. : one in ten copies the previous document with 1 word replaced."""
    from transforms.document import Document

    vocab = _vocab()
    rnd = random.Random(shard)
    prev = None
    for i in range(shard * SHARD, min(size, (shard + 1) * SHARD)):
        if prev is not None and i % 10 == 9:
            words = list(prev)
            words[rnd.randrange(WORDS)] = rnd.choice(vocab)
        else:
            words = [rnd.choice(vocab) for _ in range(WORDS)]
        prev = words
        yield Document(f"doc-{i:08d}", " ".join(words))


def peak_mb() -> float:
    return max(runner_mb(), worker_mb())


def runner_mb() -> float:
    """Peak resident set of this process: the runner, and the only worker with 1 worker (in_memory)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker_mb() -> float:
    """Peak resident set of the largest worker process this process started (multi_processing)."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def bench_signatures(size: int) -> dict:
    from transforms.minhash import band_keys, shingle_hashes, signature

    docs = [d for s in range((size + SHARD - 1) // SHARD) for d in shard_docs(s, size)]
    start = time.perf_counter()
    for d in docs:
        sig = signature(shingle_hashes(d.text))
        band_keys(sig)
    seconds = time.perf_counter() - start
    return {"what": "signatures", "docs": size, "workers": 1, "seconds": seconds,
            "docs_per_s": size / seconds, "peak_mb": peak_mb()}


def long_documents(count: int, words: int = 2000):
    """``count`` documents of ``words`` words cut from the real extracted pages (60% German, 35% English),
    punctuation and all: the length the issue's signature goal names."""
    import gzip

    path = Path(__file__).resolve().parents[2] / "shared" / "data" / "bench" / "real-pages.texts.jsonl.gz"
    with gzip.open(path, "rt", encoding="utf-8") as f:
        stream = [w for line in f for w in json.loads(line)["text"].split()]
    return [" ".join(stream[(i * words) % (len(stream) - words):][:words]) for i in range(count)]


def bench_long_signatures(count: int, words: int = 2000) -> dict:
    from transforms.minhash import band_keys, shingle_hashes, signature

    texts = long_documents(count, words)
    ascii_share = sum(t.isascii() for t in texts) / len(texts)
    shingle_hashes("é")  # the per-process lookup tables (about 1 s), paid once per worker
    start = time.perf_counter()
    for text in texts:
        band_keys(signature(shingle_hashes(text)))
    seconds = time.perf_counter() - start
    return {"what": f"signatures {words}w", "docs": count, "workers": 1, "seconds": seconds,
            "docs_per_s": count / seconds, "peak_mb": peak_mb(), "ascii_share": ascii_share}


def bench_step(size: int, workers: int) -> dict:
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions
    from apache_beam.runners.portability.fn_api_runner import FnApiRunner

    from transforms.minhash_dedup import MinHashDedup

    if workers > 1 and not os.environ.get("THRESHER_NO_RUNNER_FIX"):
        fix_local_runner()
    mode = "multi_processing" if workers > 1 else "in_memory"
    options = PipelineOptions([f"--direct_num_workers={workers}", f"--direct_running_mode={mode}"])
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        with beam.Pipeline(runner=FnApiRunner(), options=options) as p:
            docs = (p | beam.Create(list(range((size + SHARD - 1) // SHARD)))
                    | beam.Reshuffle()
                    | beam.FlatMap(shard_docs, size))
            out = docs | MinHashDedup()
            kept = out["kept"] | "count kept" >> beam.combiners.Count.Globally() | "k" >> beam.Map(
                lambda n: ("kept", n))
            dropped = out["rejected"] | "count rejected" >> beam.combiners.Count.Globally() | "r" >> beam.Map(
                lambda n: ("rejected", n))
            errors = out["errors"] | "count errors" >> beam.combiners.Count.Globally() | "e" >> beam.Map(
                lambda n: ("errors", n))
            sample = out["errors"] | "sample errors" >> beam.combiners.Sample.FixedSizeGlobally(3) | "s" >> beam.Map(
                lambda e: ("error_sample", [x.get("error") for x in e]))
            ((kept, dropped, errors, sample, out["report"]) | beam.Flatten() | beam.Map(json.dumps)
             | beam.io.WriteToText(os.path.join(tmp, "counts")))
        seconds = time.perf_counter() - start
        counts = dict(json.loads(line) for name in os.listdir(tmp) for line in open(os.path.join(tmp, name)))
    return {"what": "minhash_dedup", "docs": size, "workers": workers, "seconds": seconds,
            "docs_per_s": size / seconds, "peak_mb": peak_mb(), "runner_mb": runner_mb(),
            "worker_mb": worker_mb() if workers > 1 else runner_mb(), "kept": counts.get("kept"),
            "rejected": counts.get("rejected"), "converged": counts.get("converged"), "counts": counts}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--million", action="store_true", help="also 1,000,000 documents")
    parser.add_argument("--one", nargs=2, type=int, metavar=("DOCS", "WORKERS"), help=argparse.SUPPRESS)
    parser.add_argument("--signatures", type=int, metavar="DOCS", help=argparse.SUPPRESS)
    parser.add_argument("--long", type=int, metavar="DOCS", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.long:
        print(json.dumps(bench_long_signatures(args.long)))
        return
    if args.one:
        print(json.dumps(bench_step(*args.one)))
        return
    if args.signatures:
        print(json.dumps(bench_signatures(args.signatures)))
        return
    sizes = args.sizes + ([1_000_000] if args.million else [])
    runs = [["--long", "2000"], ["--signatures", str(sizes[-1] if sizes[-1] <= 100_000 else 100_000)]]
    runs += [["--one", str(n), str(w)] for n in sizes for w in (1, 2)]
    print(f"{'what':16s} {'docs':>9s} {'workers':>7s} {'seconds':>8s} {'docs/s':>8s} {'peak MB':>8s}  result")
    for extra in runs:
        proc = subprocess.run([sys.executable, __file__] + extra, capture_output=True, text=True)
        if proc.returncode:
            print(proc.stderr[-3000:])
            continue
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        result = f"{r['ascii_share']:.0%} pure ASCII" if "ascii_share" in r else "" if r["what"] == "signatures" else (
            f"kept {r['kept']}, rejected {r['rejected']}, converged {r['converged']}, "
            f"runner {r['runner_mb']:.0f} MB, largest worker {r['worker_mb']:.0f} MB")
        if r["what"] == "minhash_dedup" and r["kept"] + r["rejected"] + r["counts"].get("errors", 0) != r["docs"]:
            result += f" -- LOST {r['docs'] - r['kept'] - r['rejected']} documents"
        print(f"{r['what']:16s} {r['docs']:9d} {r['workers']:7d} {r['seconds']:8.1f} {r['docs_per_s']:8.0f} "
              f"{r['peak_mb']:8.0f}  {result}", flush=True)


if __name__ == "__main__":
    main()
