"""MinHash signatures and LSH banding for near-duplicate detection, vectorised with NumPy.

Follows datatrove's ``MinhashDedupSignature`` (what FineWeb ran, 64-bit
precision, 5-grams, 14 bands x 8 rows):

* words: ``thresher.transforms.text.hashing`` (the normalisation, its words
  and their uint64 hashes, shared with decontamination).
* shingles: word n-grams (``ngram`` words). A document with fewer than
  ``ngram`` words (but at least one) has one shingle made of all its words; a
  document without words has no shingle and is never a duplicate.
* shingle hash: an n-gram is a polynomial of its word hashes, passed through
  the splitmix64 finaliser.
* permutations: ``a * x + b`` mod 2^32 of the upper 32 bits ``x`` of each
  shingle hash, with ``a`` odd (a bijection of 32-bit values); ``a`` and ``b``
  are the low 32 bits of what ``numpy.random.RandomState(seed)`` draws for
  datatrove (all a, then all b). datatrove works on 64 bits and reduces mod
  2^61 - 1; on hash values that are already uniformly random neither adds to
  the estimate (its error stays that of a binomial: ``tests/test_minhash.py``)
  and together they cost twice the time. Two
  different shingles share a 32-bit minimum by chance with probability about
  (shingles per document) / 2^32 per row: nothing next to the estimate's own
  error.
* bands: ``bands`` bands of ``rows`` minima; a band's key is the xxh64 of its
  rows (seeded with the band index) as a signed 64-bit integer, so one integer
  names both the band and its contents.

Cost per document (normalising, word and shingle hashes, minima and band keys,
against datasketch's per-shingle loop): ``benchmarks/minhash_scale.py --long``.

Two documents share at least one band with probability ``1 - (1 - s^r)^b``
for Jaccard similarity ``s`` (``s_curve``); at 14 x 8 that is 0.50 at s = 0.72,
0.92 at 0.80, 0.99 at 0.85.
"""
from __future__ import annotations

import sys
from functools import lru_cache
from typing import Iterable, List, Optional, Sequence, TextIO

import numpy as np
import xxhash

from thresher.transforms.text.hashing import mix64, text_word_hashes

MERSENNE_PRIME = np.uint64((1 << 61) - 1)
_POLY = np.uint64(0x9E3779B97F4A7C15)  # odd multiplier of the n-gram polynomial
_CHUNK = 4096  # shingles per block of the (shingles x permutations) matrix: bounds memory


def shingle_hashes(text: str, ngram: int = 5) -> np.ndarray:
    """Sorted unique uint64 hashes of the word n-grams of ``text`` (empty for no words)."""
    wh = text_word_hashes(text)
    if not len(wh):
        return wh
    n = min(ngram, len(wh))  # shorter than one n-gram: one shingle of all the words
    m = len(wh) - n + 1
    h = wh[:m].copy()
    for j in range(1, n):
        h *= _POLY
        h += wh[j:j + m]
    h += np.uint64(n)
    return sorted_unique(mix64(h))


def sorted_unique(values: np.ndarray) -> np.ndarray:
    """``np.unique`` of a 1-d array: sort, then drop repeats (NumPy 2.4's ``unique`` is several
    times slower on a document's worth of values)."""
    values = np.sort(values)
    if len(values) > 1:
        keep = np.empty(len(values), dtype=bool)
        keep[0] = True
        np.not_equal(values[1:], values[:-1], out=keep[1:])
        values = values[keep]
    return values


@lru_cache(maxsize=8)
def permutations(num_perm: int, seed: int):
    """(a, b) uint32 arrays of the ``num_perm`` hash permutations: the low 32 bits of datatrove's draws
    (all a, then all b, from ``numpy.random.RandomState(seed)``), a made odd."""
    gen = np.random.RandomState(seed)
    a = gen.randint(1, MERSENNE_PRIME, dtype=np.uint64, size=num_perm)
    b = gen.randint(0, MERSENNE_PRIME, dtype=np.uint64, size=num_perm)
    low = np.uint64(0xFFFFFFFF)
    return (a & low).astype(np.uint32) | np.uint32(1), (b & low).astype(np.uint32)


def signature(shingles: np.ndarray, num_perm: int = 112, seed: int = 1) -> Optional[np.ndarray]:
    """The ``num_perm`` minima (uint32) of ``a * x + b`` mod 2^32 over the upper 32 bits ``x`` of the
    shingle hashes, or None without shingles."""
    if len(shingles) == 0:
        return None
    a, b = permutations(num_perm, seed)
    sig = None
    for start in range(0, len(shingles), _CHUNK):
        x = (shingles[start:start + _CHUNK] >> np.uint64(32)).astype(np.uint32)[:, None] * a  # wraps mod 2^32
        x += b
        low = x.min(axis=0)
        sig = low if sig is None else np.minimum(sig, low)
    return sig


def _signed(value: int) -> int:
    return value - (1 << 64) if value >= (1 << 63) else value


def band_keys(sig: np.ndarray, bands: int = 14, rows: int = 8) -> List[int]:
    """One signed 64-bit key per band: xxh64 of the band's rows, seeded by the band index."""
    raw = np.ascontiguousarray(sig[:bands * rows], dtype="<u4").tobytes()
    width = rows * 4
    return [_signed(xxhash.xxh64_intdigest(raw[i * width:(i + 1) * width], seed=i)) for i in range(bands)]


def node_id(doc_id: str) -> int:
    """Compact signed 64-bit node id of a document id (xxh64)."""
    return _signed(xxhash.xxh64_intdigest(doc_id.encode("utf-8", "surrogatepass")))


def compact_set(shingles: np.ndarray) -> bytes:
    """The shingle set kept for verification: sorted unique upper 32 bits of each hash."""
    return sorted_unique((shingles >> np.uint64(32)).astype(np.uint32)).tobytes()


def jaccard(a: bytes, b: bytes) -> float:
    """Jaccard similarity of two ``compact_set`` byte strings (1.0 for two empty sets)."""
    x = np.frombuffer(a, dtype=np.uint32)
    y = np.frombuffer(b, dtype=np.uint32)
    if len(x) == 0 and len(y) == 0:
        return 1.0
    inter = len(np.intersect1d(x, y, assume_unique=True))
    return inter / (len(x) + len(y) - inter)


def exact_jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Jaccard similarity of two arrays of unique shingle hashes."""
    if len(a) == 0 and len(b) == 0:
        return 1.0
    inter = len(np.intersect1d(a, b, assume_unique=True))
    return inter / (len(a) + len(b) - inter)


def estimated_jaccard(sig_a: np.ndarray, sig_b: np.ndarray) -> float:
    """Share of equal minima: the MinHash estimate of the Jaccard similarity."""
    return float(np.mean(sig_a == sig_b))


def s_curve(bands: int, rows: int, similarities: Iterable[float]) -> List[float]:
    """Probability that two documents of Jaccard ``s`` share a band: 1 - (1 - s^rows)^bands."""
    return [1.0 - (1.0 - float(s) ** rows) ** bands for s in similarities]


def s_curve_table(bands: int = 14, rows: int = 8,
                  similarities: Sequence[float] = (0.5, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 1.0),
                  out: TextIO = None) -> str:
    """Print (and return) the S-curve of ``bands`` x ``rows`` as a table, with its 50% point."""
    lines = [f"MinHash LSH {bands} bands x {rows} rows = {bands * rows} permutations; "
             f"threshold (1/b)^(1/r) = {(1.0 / bands) ** (1.0 / rows):.3f}",
             "jaccard  P(candidate)"]
    for s, p in zip(similarities, s_curve(bands, rows, similarities)):
        lines.append(f"{s:7.2f}  {p:.4f}")
    text = "\n".join(lines)
    print(text, file=out or sys.stdout)
    return text
