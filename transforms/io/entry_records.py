"""The record format of prefix cache entries: zstd-compressed records, each a tag byte, a length and
a payload (``K`` kept document, ``R`` rejected one with its step index, ``E`` error record, ``C`` the
counts). Written by the pipeline's cache (``thresher.pipelines.run.cache_entries``), read there and
by ``rehydrate``, which gives light documents their text back from them."""
from __future__ import annotations

import struct
from typing import Iterator, Tuple

from apache_beam.io.filesystems import CompressionTypes, FileSystems

HEAD = struct.Struct("<cI")  # record tag, payload length
RAW = CompressionTypes.UNCOMPRESSED  # not .zst by its name: the entry is checked as stored
KEPT = b"K"


def record(tag: bytes, payload: bytes) -> bytes:
    return HEAD.pack(tag, len(payload)) + payload


def read_records(stream) -> Iterator[Tuple[bytes, bytes]]:
    while True:
        head = stream.read(HEAD.size)
        if not head:
            return
        tag, size = HEAD.unpack(head)
        yield tag, stream.read(size)


def open_records(path: str) -> Iterator[Tuple[bytes, bytes]]:
    """The (tag, payload) records of the entry file at ``path``, in order."""
    import zstandard
    with FileSystems.open(path, compression_type=RAW) as raw, zstandard.ZstdDecompressor().stream_reader(raw) as stream:
        yield from read_records(stream)
