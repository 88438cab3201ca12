"""Token shard files: Megatron-LM's indexed dataset and datatrove's tokenized files, writers and readers.

Megatron (``PREFIX.bin`` + ``PREFIX.idx``, what ``--data-path PREFIX`` reads): ``.bin`` holds the
token ids; ``.idx`` is ``b"MMIDIDX\\x00\\x00"``, ``<Q`` version 1, ``<B`` dtype code (4 int32,
8 uint16), ``<Q`` sequence count N, ``<Q`` document count N + 1, then N int32 sequence lengths,
N int64 byte pointers into ``.bin`` and N + 1 int64 document indices ``0..N`` (one sequence per
document).

datatrove (``PREFIX.ds``, ``.ds.index``, ``.ds.metadata``): ``.ds`` holds the token ids,
``.ds.index`` the little-endian uint64 end offset (in tokens) of every document, ``.ds.metadata``
``"{tokenizer}|{bytes per token}\\n{token count}\\n{token count, humanized}"``.

Ids are little-endian. Every file goes through Beam's ``FileSystems`` (local or gs://).
"""
from __future__ import annotations

import math
import struct
from typing import List, Tuple

import numpy as np
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

FORMATS = ("megatron", "datatrove")
MEGATRON_HEADER = b"MMIDIDX\x00\x00"
MEGATRON_CODES = {"int32": 4, "uint16": 8}  # Megatron-LM's DType codes
DATATROVE_DTYPES = {2: "uint16", 4: "uint32"}
FLUSH_BYTES = 8 << 20  # token bytes buffered before a write


def extensions(format: str) -> Tuple[str, ...]:
    """The extensions of one shard's token files, e.g. ``(".bin", ".idx")``."""
    return (".bin", ".idx") if format == "megatron" else (".ds", ".ds.index", ".ds.metadata")


def _create(path: str):
    return FileSystems.create(path, compression_type=CompressionTypes.UNCOMPRESSED)


def _read(path: str) -> bytes:
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        return f.read()


class _TokenFile:
    """Streams token ids to one file in chunks; keeps every document's length."""

    def __init__(self, path: str, dtype):
        self.dtype = np.dtype(dtype).newbyteorder("<")
        self._file = _create(path)
        self._chunks: List[bytes] = []
        self._buffered = 0
        self.lengths: List[int] = []

    def write(self, ids) -> None:
        ids = np.asarray(ids, dtype=self.dtype)
        data = ids.tobytes()
        self._chunks.append(data)
        self._buffered += len(data)
        self.lengths.append(len(ids))
        if self._buffered >= FLUSH_BYTES:
            self._flush()

    def _flush(self) -> None:
        self._file.write(b"".join(self._chunks))
        self._chunks, self._buffered = [], 0

    def close(self) -> np.ndarray:
        self._flush()
        self._file.close()
        return np.asarray(self.lengths, dtype=np.int64)


class MegatronWriter:
    """``PREFIX.bin`` written as documents come; ``PREFIX.idx`` at close."""

    def __init__(self, prefix: str, dtype, tokenizer_path: str = ""):
        name = np.dtype(dtype).name
        if name not in MEGATRON_CODES:
            raise ValueError(f"megatron shards hold {' or '.join(MEGATRON_CODES)} ids, not {name}")
        self.prefix, self._code = prefix, MEGATRON_CODES[name]
        self._tokens = _TokenFile(prefix + ".bin", dtype)

    def write(self, ids) -> None:
        self._tokens.write(ids)

    def close(self) -> None:
        itemsize = self._tokens.dtype.itemsize
        lengths = self._tokens.close()
        count = len(lengths)
        pointers = np.zeros(count, dtype="<i8")
        if count:
            np.cumsum(lengths[:-1] * itemsize, out=pointers[1:])
        with _create(self.prefix + ".idx") as f:
            f.write(MEGATRON_HEADER + struct.pack("<Q", 1) + struct.pack("<B", self._code)
                    + struct.pack("<Q", count) + struct.pack("<Q", count + 1))
            f.write(lengths.astype("<i4").tobytes())
            f.write(pointers.tobytes())
            f.write(np.arange(count + 1, dtype="<i8").tobytes())


def humanize_metric(value: int, unit: str = "T") -> str:
    """``humanize.metric(value, unit)`` (3 significant digits, SI prefix), as datatrove's metadata has it."""
    exponent = int(math.floor(math.log10(abs(value)))) if value != 0 else 0
    scaled = value / 10 ** (exponent // 3 * 3)
    prefix = "kMGTPEZYRQ"[exponent // 3 - 1] if exponent >= 3 else ""
    return f"{scaled:.{max(0, 2 - exponent % 3)}f} {prefix}{unit}"


class DatatroveWriter:
    """``PREFIX.ds`` written as documents come; ``.ds.index`` and ``.ds.metadata`` at close."""

    def __init__(self, prefix: str, dtype, tokenizer_path: str = ""):
        name = np.dtype(dtype).name
        if name not in DATATROVE_DTYPES.values():
            raise ValueError(f"datatrove shards hold uint16 or uint32 ids, not {name}")
        self.prefix, self._tokenizer = prefix, tokenizer_path
        self._tokens = _TokenFile(prefix + ".ds", dtype)

    def write(self, ids) -> None:
        self._tokens.write(ids)

    def close(self) -> None:
        itemsize = self._tokens.dtype.itemsize
        ends = np.cumsum(self._tokens.close(), dtype="<u8")
        with _create(self.prefix + ".ds.index") as f:
            f.write(ends.tobytes())
        total = int(ends[-1]) if len(ends) else 0
        with _create(self.prefix + ".ds.metadata") as f:
            f.write(f"{self._tokenizer}|{itemsize}\n{total}\n{humanize_metric(total)}".encode("utf-8"))


def open_shard_writer(format: str, prefix: str, dtype, tokenizer_path: str = ""):
    """A writer of one shard at ``prefix``: ``write(ids)`` once per document, then ``close()``."""
    if format == "megatron":
        return MegatronWriter(prefix, dtype, tokenizer_path)
    if format == "datatrove":
        return DatatroveWriter(prefix, dtype, tokenizer_path)
    raise ValueError(f"unknown token format {format!r}; valid: {', '.join(FORMATS)}")


def _ids(path: str, dtype, offset: int = 0) -> np.ndarray:
    """The ids in ``path`` (from byte ``offset``): a read-only memory map for a local file, else read."""
    dtype = np.dtype(dtype).newbyteorder("<")
    if FileSystems.get_filesystem(path).scheme() == "file":
        local = path[len("file://"):] if path.startswith("file://") else path
        size = FileSystems.get_filesystem(path).size(path)
        if size > offset:
            return np.memmap(local, dtype=dtype, mode="r", offset=offset)
        return np.zeros(0, dtype=dtype)
    return np.frombuffer(_read(path), dtype=dtype, offset=offset)


def read_megatron(prefix: str) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(lengths, offsets, tokens) of a Megatron shard: every document's token count and first
    token (int64, in tokens, not bytes) and the shard's ids."""
    index = _read(prefix + ".idx")
    if index[:9] != MEGATRON_HEADER:
        raise ValueError(f"{prefix}.idx is not a Megatron index (header {index[:9]!r})")
    version, code, count, _ = struct.unpack_from("<QBQQ", index, 9)
    names = {v: k for k, v in MEGATRON_CODES.items()}
    if version != 1 or code not in names:
        raise ValueError(f"{prefix}.idx: version {version}, dtype code {code} not supported")
    dtype = np.dtype(names[code])
    lengths = np.frombuffer(index, dtype="<i4", count=count, offset=34).astype(np.int64)
    pointers = np.frombuffer(index, dtype="<i8", count=count, offset=34 + 4 * count)
    return lengths, pointers // dtype.itemsize, _ids(prefix + ".bin", dtype)


def read_datatrove(prefix: str) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(lengths, offsets, tokens) of a datatrove shard, like ``read_megatron``; the id width
    comes from ``.ds.metadata``."""
    first_line = _read(prefix + ".ds.metadata").decode("utf-8").split("\n", 1)[0]
    itemsize = int(first_line.rpartition("|")[2])
    if itemsize not in DATATROVE_DTYPES:
        raise ValueError(f"{prefix}.ds.metadata: {itemsize} bytes per token not supported")
    ends = np.frombuffer(_read(prefix + ".ds.index"), dtype="<u8").astype(np.int64)
    offsets = np.concatenate([[0], ends[:-1]]).astype(np.int64) if len(ends) else ends
    return ends - offsets, offsets, _ids(prefix + ".ds", DATATROVE_DTYPES[itemsize])


def read_shard(format: str, prefix: str) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``read_megatron`` or ``read_datatrove``."""
    if format == "megatron":
        return read_megatron(prefix)
    if format == "datatrove":
        return read_datatrove(prefix)
    raise ValueError(f"unknown token format {format!r}; valid: {', '.join(FORMATS)}")
