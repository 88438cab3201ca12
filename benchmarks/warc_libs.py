"""Read speed of FastWARC vs warcio on real pages.

Reads ``../shared/data/bench/real-pages.warc.gz`` (1,171 HTTP responses) with
each library, response records only, HTTP headers parsed and the payload read
into memory, and prints records/s, compressed MB/s and payload MB/s (best of
``--repeat`` runs, one core). A third line times ``thresher.transforms.io.sources.warc.read_warc``
(FastWARC plus truncation checks, HTTP and charset decoding into Documents).

    /work/venv/bin/python benchmarks/warc_libs.py [--repeat 3] [PATH]
"""
from __future__ import annotations

import argparse
import os
import time

from fastwarc.warc import ArchiveIterator as FastIterator, WarcRecordType
from warcio.archiveiterator import ArchiveIterator as WarcioIterator

DEFAULT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data",
                       "bench", "real-pages.warc.gz")


def read_fastwarc(path: str) -> tuple[int, int]:
    records = payload = 0
    with open(path, "rb") as f:
        for record in FastIterator(f, record_types=WarcRecordType.response, parse_http=True):
            payload += len(record.reader.read())
            records += 1
    return records, payload


def read_warcio(path: str) -> tuple[int, int]:
    records = payload = 0
    with open(path, "rb") as f:
        for record in WarcioIterator(f):
            if record.rec_type == "response":
                payload += len(record.content_stream().read())
                records += 1
    return records, payload


def read_thresher(path: str) -> tuple[int, int]:
    from thresher.transforms.io.sources.warc import read_warc
    records = payload = 0
    for doc in read_warc(path, "bench"):
        payload += len(doc.text)
        records += 1
    return records, payload


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", nargs="?", default=DEFAULT)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    size_mb = os.path.getsize(args.path) / 1e6
    print(f"{os.path.basename(args.path)}: {size_mb:.1f} MB compressed")
    readers = (("fastwarc", read_fastwarc), ("warcio", read_warcio), ("read_warc", read_thresher))
    for name, reader in readers:
        best = float("inf")
        for _ in range(args.repeat):
            start = time.perf_counter()
            records, payload = reader(args.path)
            best = min(best, time.perf_counter() - start)
        unit = "M characters/s of text" if name == "read_warc" else "MB/s payload"
        print(f"{name:9s} {records} records in {best:.3f} s: {records / best:,.0f} records/s, "
              f"{size_mb / best:.1f} MB/s compressed, {payload / 1e6 / best:.1f} {unit}")


if __name__ == "__main__":
    main()
