"""Helpers shared by the benchmark scripts: real data paths, WARC splitting, peak memory."""
from __future__ import annotations

import os
import pathlib
import resource
from typing import List

PROJECT_ROOT = pathlib.Path(__file__).resolve().parents[1]
SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data"
REAL_PAGES = SHARED_DATA / "bench" / "real-pages.warc.gz"


def split_warc(src: pathlib.Path, parts: int, out_dir: pathlib.Path) -> List[str]:
    """Copy the gzip members of ``src`` round-robin into ``parts`` files (bytes unchanged)."""
    from warcio.archiveiterator import ArchiveIterator

    spans = []
    with open(src, "rb") as f:
        records = ArchiveIterator(f)
        for record in records:
            record.content_stream().read()
            spans.append((records.get_record_offset(), records.get_record_length()))
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / f"part-{i}.warc.gz" for i in range(parts)]
    outs = [open(p, "wb") for p in paths]
    with open(src, "rb") as f:
        for i, (offset, length) in enumerate(spans):
            f.seek(offset)
            outs[i % parts].write(f.read(length))
    for out in outs:
        out.close()
    return [str(p) for p in paths]


def peak_rss_mb(children: bool = False) -> float:
    """Peak resident memory of this process (or of its largest waited-for child), in MB."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN if children else resource.RUSAGE_SELF)
    return usage.ru_maxrss / 1024


def cpu_count() -> int:
    return os.cpu_count() or 1
