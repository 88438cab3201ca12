"""Helpers shared by the benchmark scripts: real data paths, WARC splitting, peak memory."""
from __future__ import annotations

import os
import pathlib
import resource
from typing import List

PROJECT_ROOT = pathlib.Path(__file__).resolve().parents[1]
SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data"
REAL_PAGES = SHARED_DATA / "bench" / "real-pages.warc.gz"


def split_warc(src: pathlib.Path, parts: int, out_dir: pathlib.Path, copies: int = 1) -> List[str]:
    """Copy the gzip members of ``src`` round-robin into ``parts`` files (bytes unchanged); with
    ``copies`` > 1 each record is written that many times, copy k > 0 with its own WARC-Record-ID and
    ``#copy-k`` after its target URI (a corpus of distinct records whose pages repeat)."""
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
    written = 0
    with open(src, "rb") as f:
        for offset, length in spans:
            f.seek(offset)
            member = f.read(length)
            for k in range(copies):
                outs[written % parts].write(member if k == 0 else _renamed_copy(member, k))
                written += 1
    for out in outs:
        out.close()
    return [str(p) for p in paths]


def _renamed_copy(member: bytes, k: int) -> bytes:
    """A gzip member holding one WARC record, with a new record id and ``#copy-k`` on its URI (only
    the WARC header changes: its Content-Length counts the block after it)."""
    import gzip
    import re
    import uuid

    data = gzip.decompress(member)
    head, sep, block = data.partition(b"\r\n\r\n")
    head = re.sub(rb"(?m)^WARC-Record-ID: <[^>]*>", f"WARC-Record-ID: <urn:uuid:{uuid.uuid4()}>".encode(), head)
    head = re.sub(rb"(?m)^(WARC-Target-URI: [^\r\n]*)", lambda m: m.group(1).rstrip() + f"#copy-{k}".encode(), head)
    return gzip.compress(head + sep + block, compresslevel=6)


def peak_rss_mb(children: bool = False) -> float:
    """Peak resident memory of this process (or of its largest waited-for child), in MB."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN if children else resource.RUSAGE_SELF)
    return usage.ru_maxrss / 1024


def cpu_count() -> int:
    return os.cpu_count() or 1
