"""Throughput and memory of MinHash signatures and of the whole ``minhash_dedup`` step.

Synthetic short documents: 100 words drawn from a 50,000-word vocabulary,
one in ten an edited copy (1 word replaced: Jaccard about 0.9) of the one before, generated inside the
pipeline (no Create of the whole corpus). Each configuration runs in its own
process on the FnApiRunner, 1 worker (in_memory) or 2 (multi_processing), end to
end from generation to counting; memory is the peak resident set of the runner
process (``RUSAGE_SELF``; with 1 worker it is also the worker) and of the largest
worker process (``RUSAGE_CHILDREN``).

* signatures: generation, ``shingle_hashes`` + ``signature`` + ``band_keys``;
* minhash_dedup: the default step (5-grams, 14 x 8, verify on at 0.8, 12
  clustering rounds, 3 verify rounds);
* ``--long``: signatures of 2,000-word real pages in a plain loop, one core.

Measured on the 2-core build machine, idle but for the benchmark:

=================  =========  =======  =======  ======  =========  ============  ========================
what               docs       workers  seconds  docs/s  runner MB  largest       result
                                                                   worker MB
=================  =========  =======  =======  ======  =========  ============  ========================
signatures 2000w   2,000      1        1.5      1,317   147        147           real pages, 1% pure ASCII
signatures         10,000     1        3.5      2,865   216        216
signatures         10,000     2        4.9      2,042   213        220
signatures         100,000    1        33.0     3,032   217        217
signatures         100,000    2        18.2     5,492   213        222
signatures         1,000,000  1        281      3,555   218        218
signatures         1,000,000  2        138      7,274   212        221
minhash_dedup      10,000     1        10.6     939     346        346           kept 9,000, rejected 1,000
minhash_dedup      10,000     2        12.5     801     372        333           same
minhash_dedup      100,000    1        78.7     1,270   956        956           kept 90,001, rejected 9,999
minhash_dedup      100,000    2        52.8     1,895   1,012      739           same
minhash_dedup      1,000,000  1        729      1,372   6,996      6,996         kept 900,031, rejected 99,969
minhash_dedup      1,000,000  2        515      1,943   6,214      2,635         same
=================  =========  =======  =======  ======  =========  ============  ========================

Every run converged and balanced. Copies kept: 1 at 100k and 31 at 1M, none
of them an LSH candidate (9,999 and 99,969 candidate edges, all verified), as
the S-curve expects (100,000 copies x P(miss at Jaccard 0.90) 0.0004 = 40).
Cost grows
linearly: docs/s do not fall from 10k to 1M (fixed costs, about 70 small
stages of 0.1-0.3 s each, weigh most at 10k; the same configuration varies
by up to 15% from run to run on this machine). Signatures run in constant
memory and scale 2.05x on 2 workers. The whole step's memory grows with the
corpus because of the local runner, not the step: the FnApiRunner keeps every
shuffled PCollection in the runner process (about 7 KB a 100-word document),
and hands each worker a stage's input as one bundle of 1/workers of it
(``ParallelBundleManager``: ``input.partition(num_workers)``), so a worker's
peak follows the largest shuffle. On Flink or Dataflow shuffles spill to disk
or the shuffle service and bundles are bounded.

Shuffles without documents (issue #17): only documents with a candidate edge
send a shingle set, only clustered nodes their priority, and the decisions
reach the documents as a side input (a sorted table) instead of a join.
Before (``main`` at 469a109) and after, same day, same machine (shared with
other sessions: wall times vary by up to 30%), 2 workers; bytes per document
across the step's shuffles from its report (``shuffle_bytes_per_doc``, 1
record in 64 measured); CPU is the runner's and its workers' user + system:

=========  ======  =======  =====  =========  ============  ========  ==============
docs       run     seconds  CPU s  runner MB  largest       shuffle   decision table
                                              worker MB     B/doc     bytes
=========  ======  =======  =====  =========  ============  ========  ==============
100,000    before  38.1     --     1,079      755           2,050     --
100,000    after   40.3     39.5   891        650           866       619,946
1,000,000  before  222      325    6,099      2,707         (2,050)   --
1,000,000  after   255      315    5,473      2,567         858       6,198,086
1,000,000  again   200      319    5,535      2,658         858       6,198,086
=========  ======  =======  =====  =========  ============  ========  ==============

Same kept and rejected documents (90,001 / 9,999 and 900,031 / 99,969); the
two runs after the change at 1M bracket the one before (wall time is noise
here, CPU is not). The
bytes fall by 58%: the final join shipped each document (840 B/doc) and every
document sent its set (387 B/doc; now 82, the 20% with an edge). The runner's
memory falls by 10-17% only: the local runner still holds every document in
its process until the decision table is ready (a stage's buffered input, as it
held the join's input), and the band keys (297 B/doc) are the largest shuffle
left. Recomputing the sets of documents with an edge costs about 125 us each
(CPU about equal overall, the join's encoding gone); the decision table is 31
bytes a clustered document here. Per shuffle: ``MinHashDedup``'s docstring.

Runner bugs: without ``fix_local_runner`` (pipelines/run/local_runner_fix.py) three 2-worker runs
of 1,000,000 documents lost 17,000-29,000 documents and half the duplicate
decisions, differently each time (set THRESHER_NO_RUNNER_FIX=1 to see it).

Usage: python benchmarks/minhash_scale.py [--sizes 10000 100000] [--million]
"""
from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import peak_rss_mb  # noqa: E402
from thresher.pipelines.run.local_runner_fix import fix_local_runner  # noqa: E402

VOCAB_SIZE = 50_000
WORDS = 100
SHARD = 5_000


def _vocab():
    rnd = random.Random(12345)
    letters = "abcdefghijklmnopqrstuvwxyz"
    return ["".join(rnd.choice(letters) for _ in range(rnd.randint(3, 9))) for _ in range(VOCAB_SIZE)]


def shard_docs(shard: int, size: int):
    """Documents shard*SHARD .. : one in ten copies the previous document with 1 word replaced."""
    from thresher.transforms.document import Document

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
    """The larger of the runner's peak (this process; with 1 worker, in_memory, also the worker) and
    the largest worker process's (multi_processing)."""
    return max(peak_rss_mb(), peak_rss_mb(children=True))


def cpu_seconds() -> float:
    """User + system CPU of this process and its reaped children (the workers): less sensitive than
    wall time to other work on the machine."""
    import resource

    return sum(u.ru_utime + u.ru_stime for u in (resource.getrusage(resource.RUSAGE_SELF),
                                                 resource.getrusage(resource.RUSAGE_CHILDREN)))


def long_documents(count: int, words: int = 2000):
    """``count`` documents of ``words`` words cut from the real extracted pages (60% German, 35% English),
    punctuation and all: the length the issue's signature goal names."""
    import gzip

    path = Path(__file__).resolve().parents[2] / "shared" / "data" / "bench" / "real-pages.texts.jsonl.gz"
    with gzip.open(path, "rt", encoding="utf-8") as f:
        stream = [w for line in f for w in json.loads(line)["text"].split()]
    return [" ".join(stream[(i * words) % (len(stream) - words):][:words]) for i in range(count)]


def bench_long_signatures(count: int, words: int = 2000) -> dict:
    from thresher.transforms.dedup.minhash.signatures import band_keys, shingle_hashes, signature

    texts = long_documents(count, words)
    ascii_share = sum(t.isascii() for t in texts) / len(texts)
    shingle_hashes("é")  # the per-process lookup tables (about 1 s), paid once per worker
    start = time.perf_counter()
    for text in texts:
        band_keys(signature(shingle_hashes(text)))
    seconds = time.perf_counter() - start
    return {"what": f"signatures {words}w", "docs": count, "workers": 1, "seconds": seconds,
            "docs_per_s": count / seconds, "peak_mb": peak_mb(), "ascii_share": ascii_share}


def _signature_keys(doc) -> int:
    from thresher.transforms.dedup.minhash.signatures import band_keys, shingle_hashes, signature

    sig = signature(shingle_hashes(doc.text))
    return len(band_keys(sig)) if sig is not None else 0


def bench_step(size: int, workers: int, what: str = "minhash_dedup") -> dict:
    """One pipeline: generate ``size`` documents, then the whole step or only their signatures."""
    import apache_beam as beam
    from apache_beam.metrics.metric import MetricsFilter
    from apache_beam.options.pipeline_options import PipelineOptions
    from apache_beam.runners.portability.fn_api_runner import FnApiRunner

    from thresher.transforms.dedup.minhash.step import MinHashDedup
    from thresher.transforms.dedup.shuffle_bytes import per_label

    if workers > 1 and not os.environ.get("THRESHER_NO_RUNNER_FIX"):
        fix_local_runner()
    mode = "multi_processing" if workers > 1 else "in_memory"
    options = PipelineOptions([f"--direct_num_workers={workers}", f"--direct_running_mode={mode}"])
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        p = beam.Pipeline(runner=FnApiRunner(), options=options)
        docs = (p | beam.Create(list(range((size + SHARD - 1) // SHARD)))
                | beam.Reshuffle()
                | beam.FlatMap(shard_docs, size))
        if what == "signatures":
            counted = [docs | "signatures" >> beam.Map(_signature_keys)
                       | "count signed" >> beam.combiners.Count.Globally()
                       | "n" >> beam.Map(lambda n: ("signed", n))]
        else:
            out = docs | MinHashDedup()
            counted = [out[name] | f"count {name}" >> beam.combiners.Count.Globally()
                       | f"{name} count" >> beam.Map(lambda n, name=name: (name, n))
                       for name in ("kept", "rejected", "errors")]
            counted.append(out["report"])
        (tuple(counted) | beam.Flatten() | beam.Map(json.dumps)
         | beam.io.WriteToText(os.path.join(tmp, "counts")))
        result = p.run()
        result.wait_until_finish()
        seconds = time.perf_counter() - start
        counters = {c.key.metric.name: c.committed for c in result.metrics().query(
            MetricsFilter().with_namespace("thresher"))["counters"]}
        counts = dict(json.loads(line) for name in os.listdir(tmp) for line in open(os.path.join(tmp, name)))
    return {"what": what, "docs": size, "workers": workers, "seconds": seconds,
            "docs_per_s": size / seconds, "peak_mb": peak_mb(), "runner_mb": peak_rss_mb(),
            "worker_mb": peak_rss_mb(children=workers > 1), "counts": counts,
            "shuffles": per_label(counters, "minhash_dedup"), "cpu_s": cpu_seconds()}


def _result(r: dict) -> str:
    if "ascii_share" in r:
        return f"{r['ascii_share']:.0%} pure ASCII"
    c = r["counts"]
    memory = f"runner {r['runner_mb']:.0f} MB, largest worker {r['worker_mb']:.0f} MB"
    if r["what"] == "signatures":
        return f"{c.get('signed')} signed, {memory}"
    text = f"kept {c.get('kept')}, rejected {c.get('rejected')}, converged {c.get('converged')}, {memory}"
    if "shuffle_bytes_per_doc" in c:
        text += f", shuffles {c['shuffle_bytes_per_doc']} B/doc"
    lost = r["docs"] - c.get("kept", 0) - c.get("rejected", 0) - c.get("errors", 0)
    return text + (f" -- LOST {lost} documents" if lost else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--million", action="store_true", help="also 1,000,000 documents")
    parser.add_argument("--one", nargs=3, metavar=("WHAT", "DOCS", "WORKERS"), help=argparse.SUPPRESS)
    parser.add_argument("--long", type=int, metavar="DOCS", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.long:
        print(json.dumps(bench_long_signatures(args.long)))
        return
    if args.one:
        print(json.dumps(bench_step(int(args.one[1]), int(args.one[2]), args.one[0])))
        return
    sizes = args.sizes + ([1_000_000] if args.million else [])
    runs = [["--long", "2000"]]
    runs += [["--one", what, str(n), str(w)] for n in sizes for what in ("signatures", "minhash_dedup")
             for w in (1, 2)]
    print(f"{'what':16s} {'docs':>9s} {'workers':>7s} {'seconds':>8s} {'docs/s':>8s} {'peak MB':>8s}  result")
    for extra in runs:
        proc = subprocess.run([sys.executable, __file__] + extra, capture_output=True, text=True)
        if proc.returncode:
            print(proc.stderr[-3000:])
            continue
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        print(f"{r['what']:16s} {r['docs']:9d} {r['workers']:7d} {r['seconds']:8.1f} {r['docs_per_s']:8.0f} "
              f"{r['peak_mb']:8.0f}  {_result(r)}", flush=True)


if __name__ == "__main__":
    main()
