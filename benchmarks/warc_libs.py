"""Read speed of FastWARC vs warcio on real pages.

Reads ``../shared/data/bench/real-pages.warc.gz`` (1,171 HTTP responses) with
each library, response records only, HTTP headers parsed and the payload read
into memory, and prints records/s, compressed MB/s and payload MB/s (best of
``--repeat`` runs, one core).

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", nargs="?", default=DEFAULT)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    size_mb = os.path.getsize(args.path) / 1e6
    print(f"{os.path.basename(args.path)}: {size_mb:.1f} MB compressed")
    for name, reader in (("fastwarc", read_fastwarc), ("warcio", read_warcio)):
        best = float("inf")
        for _ in range(args.repeat):
            start = time.perf_counter()
            records, payload = reader(args.path)
            best = min(best, time.perf_counter() - start)
        print(f"{name:9s} {records} records in {best:.3f} s: {records / best:,.0f} records/s, "
              f"{size_mb / best:.1f} MB/s compressed, {payload / 1e6 / best:.1f} MB/s payload")


if __name__ == "__main__":
    main()
