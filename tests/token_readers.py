"""Shard readers for tests, written from the file formats alone (no thresher import).

Megatron-LM's indexed dataset (``MMIDIDX``) and datatrove's tokenized files, as the issue's C3
describes them; each reader checks every field it parses and asserts on any inconsistency, so a
writer bug shows up as a failed assertion rather than as wrong tokens.
"""
from __future__ import annotations

import os
import struct
from typing import List

import numpy as np

MEGATRON_MAGIC = b"MMIDIDX\x00\x00"
MEGATRON_DTYPES = {4: np.dtype("<i4"), 8: np.dtype("<u2")}  # Megatron's codes: 4 int32, 8 uint16
DATATROVE_DTYPES = {2: np.dtype("<u2"), 4: np.dtype("<u4")}


def read_megatron_independent(prefix: str) -> List[np.ndarray]:
    """The sequences (one array per document) of ``prefix``.idx / ``prefix``.bin."""
    with open(prefix + ".idx", "rb") as f:
        idx = f.read()
    pos = 0

    def take(fmt: str):
        nonlocal pos
        size = struct.calcsize(fmt)
        assert pos + size <= len(idx), f"{prefix}.idx: truncated at byte {pos} reading {fmt}"
        value = struct.unpack_from(fmt, idx, pos)
        pos += size
        return value[0] if len(value) == 1 else value

    magic = idx[:len(MEGATRON_MAGIC)]
    assert magic == MEGATRON_MAGIC, f"{prefix}.idx: magic {magic!r}"
    pos = len(MEGATRON_MAGIC)
    version = take("<Q")
    assert version == 1, f"{prefix}.idx: version {version}"
    code = take("<B")
    assert code in MEGATRON_DTYPES, f"{prefix}.idx: dtype code {code} (expected 4 int32 or 8 uint16)"
    dtype = MEGATRON_DTYPES[code]
    sequences = take("<Q")
    documents = take("<Q")
    assert documents == sequences + 1, f"{prefix}.idx: {documents} document entries for {sequences} sequences"
    expected = pos + 4 * sequences + 8 * sequences + 8 * documents
    assert len(idx) == expected, f"{prefix}.idx: {len(idx)} bytes, expected {expected}"
    lengths = np.frombuffer(idx, dtype="<i4", count=sequences, offset=pos)
    pos += 4 * sequences
    pointers = np.frombuffer(idx, dtype="<i8", count=sequences, offset=pos)
    pos += 8 * sequences
    doc_idx = np.frombuffer(idx, dtype="<i8", count=documents, offset=pos)
    assert (lengths >= 0).all(), f"{prefix}.idx: negative sequence length"
    starts = np.concatenate([[0], np.cumsum(lengths.astype(np.int64) * dtype.itemsize)[:-1]]) \
        if sequences else np.zeros(0, np.int64)
    assert np.array_equal(pointers, starts), f"{prefix}.idx: pointers are not the running sum of lengths x itemsize"
    assert np.array_equal(doc_idx, np.arange(documents)), f"{prefix}.idx: document indices are not 0..{sequences}"
    total = int(lengths.astype(np.int64).sum())
    size = os.path.getsize(prefix + ".bin")
    assert size == total * dtype.itemsize, f"{prefix}.bin: {size} bytes, expected {total} x {dtype.itemsize}"
    tokens = np.fromfile(prefix + ".bin", dtype=dtype)
    bounds = np.cumsum(lengths.astype(np.int64))
    return [tokens[end - n:end].copy() for n, end in zip(lengths.tolist(), bounds.tolist())]


def read_datatrove_independent(prefix: str, token_size: int) -> List[np.ndarray]:
    """The documents of ``prefix``.ds (``token_size`` bytes per token) split by ``prefix``.ds.index."""
    assert token_size in DATATROVE_DTYPES, f"token_size {token_size} (expected 2 or 4)"
    dtype = DATATROVE_DTYPES[token_size]
    size = os.path.getsize(prefix + ".ds")
    assert size % token_size == 0, f"{prefix}.ds: {size} bytes, not a multiple of {token_size}"
    tokens = np.fromfile(prefix + ".ds", dtype=dtype)
    index_size = os.path.getsize(prefix + ".ds.index")
    assert index_size % 8 == 0, f"{prefix}.ds.index: {index_size} bytes, not a multiple of 8"
    ends = np.fromfile(prefix + ".ds.index", dtype="<u8").astype(np.int64)
    assert len(ends) > 0, f"{prefix}.ds.index: no document"
    assert (np.diff(ends) >= 0).all() and ends[0] >= 0, f"{prefix}.ds.index: end offsets decrease"
    assert ends[-1] == len(tokens), f"{prefix}.ds.index: last end {ends[-1]}, {len(tokens)} tokens in .ds"
    starts = np.concatenate([[0], ends[:-1]])
    return [tokens[a:b].copy() for a, b in zip(starts.tolist(), ends.tolist())]


def read_datatrove_metadata(prefix: str) -> tuple:
    """(tokenizer path, bytes per token, token count) from ``prefix``.ds.metadata."""
    with open(prefix + ".ds.metadata", encoding="utf-8") as f:
        lines = f.read().split("\n")
    assert len(lines) >= 2, f"{prefix}.ds.metadata: {lines!r}"
    name, sep, width = lines[0].rpartition("|")
    assert sep, f"{prefix}.ds.metadata: first line {lines[0]!r} has no '|'"
    return name, int(width), int(lines[1])
