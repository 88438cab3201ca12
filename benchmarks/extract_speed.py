"""Speed of the ``extract`` step on real pages, and the cost of its time budget.

Reads ``../shared/data/bench/real-pages.warc.gz`` (1,171 pages) with FastWARC,
decodes each page (UTF-8, else the declared charset, else cp1252) and runs
``Extract.process`` on every page, one core, no Beam. Prints mean / median /
p99 wall-clock ms per page (and mean CPU ms of the thread, which other
load on the machine does not inflate) for trafilatura with FineWeb's settings, ``fast=True`` and,
when installed, resiliparse; the mean bag-of-words F1 on the 181 Scrapinghub
pages; and the per-document overhead of the time budget on the main thread
(SIGALRM timer) and on a worker thread (watchdog).

Run from the project root: ``python benchmarks/extract_speed.py``.
"""
import os
import re
import statistics
import sys
import threading
import time
from collections import Counter

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from thresher.transforms.document import Document  # noqa: E402
from thresher.transforms.extract.budget import call_with_budget  # noqa: E402
from thresher.transforms.extract.html import Extract  # noqa: E402

DATA = os.path.join(ROOT, "..", "shared", "data")
WARC = os.path.join(DATA, "bench", "real-pages.warc.gz")
GROUND_TRUTH = os.path.join(DATA, "extraction-scrapinghub-aeb", "ground-truth.json")
_CHARSET = re.compile(rb"""charset\s*=\s*["']?([\w.:-]+)""", re.I)


def decode(body: bytes, content_type: str) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        pass
    for match in (_CHARSET.search(content_type.encode()), _CHARSET.search(body[:4096])):
        if match:
            try:
                return body.decode(match.group(1).decode("ascii"), "replace")
            except LookupError:
                pass
    return body.decode("cp1252", "replace")


def read_pages(path: str = WARC):
    from fastwarc.warc import ArchiveIterator, WarcRecordType

    pages = []
    with open(path, "rb") as stream:
        for record in ArchiveIterator(stream, record_types=WarcRecordType.response):
            url = record.headers.get("WARC-Target-URI")
            content_type = record.http_headers.get("Content-Type", "") if record.http_headers else ""
            html = decode(record.reader.read(), content_type)
            pages.append(Document(id=url, text=html, url=url, annotations={
                "content_type": content_type.split(";")[0].strip().lower()}))
    return pages


def tokens(text: str) -> Counter:
    return Counter(re.findall(r"\w+", text.lower()))


def token_f1(predicted: str, truth: str) -> float:
    """Bag-of-words F1 of one page (lowercased \\w+ tokens, multiset overlap)."""
    pred, true = tokens(predicted), tokens(truth)
    if not pred or not true:
        return float(pred == true)
    overlap = sum((pred & true).values())
    if not overlap:
        return 0.0
    precision, recall = overlap / sum(pred.values()), overlap / sum(true.values())
    return 2 * precision * recall / (precision + recall)


def run(step: Extract, pages):
    step.setup()
    times, cpu, texts, outcomes = [], [], {}, Counter()
    for doc in pages:
        start, start_cpu = time.perf_counter(), time.thread_time()
        out = step.process(doc)
        times.append((time.perf_counter() - start) * 1000)
        cpu.append((time.thread_time() - start_cpu) * 1000)
        outcomes["kept" if isinstance(out, Document) else out] += 1
        texts[doc.url] = out.text if isinstance(out, Document) else ""
    return times, cpu, texts, outcomes


def budget_overhead_us(n: int = 100_000) -> float:
    def noop():
        return None
    start = time.perf_counter()
    for _ in range(n):
        noop()
    base = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(n):
        call_with_budget(10.0, noop)
    return (time.perf_counter() - start - base) / n * 1e6


def main():
    import json

    pages = read_pages()
    truth = {v["url"]: v["articleBody"] for v in json.load(open(GROUND_TRUTH)).values()}
    print(f"{len(pages)} pages, {sum(p.url in truth for p in pages)} with Scrapinghub ground truth")
    configs = [("trafilatura (FineWeb settings)", Extract()), ("trafilatura fast=True", Extract(fast=True))]
    try:
        import resiliparse  # noqa: F401
        configs.append(("resiliparse", Extract(extractor="resiliparse")))
    except ImportError:
        print("resiliparse not installed: skipped")
    for label, step in configs:
        run(step, pages[:20])  # warm-up: imports, lazy tables
        times, cpu, texts, outcomes = run(step, pages)
        f1 = statistics.mean(token_f1(texts[url], body) for url, body in truth.items())
        p99 = statistics.quantiles(times, n=100)[98]
        print(f"{label}: mean {statistics.mean(times):.1f} ms/page, median {statistics.median(times):.1f}, "
              f"p99 {p99:.0f}, max {max(times):.0f}; CPU mean {statistics.mean(cpu):.1f} ms/page; "
              f"outcomes {dict(outcomes)}; Scrapinghub F1 {f1:.3f}")

    print(f"time budget overhead, main thread (SIGALRM): {budget_overhead_us():.1f} µs/document")
    result = {}
    worker = threading.Thread(target=lambda: result.setdefault("us", budget_overhead_us()))
    worker.start()
    worker.join()
    print(f"time budget overhead, worker thread (watchdog): {result['us']:.1f} µs/document")


if __name__ == "__main__":
    main()
