"""MinHash signatures and LSH banding for near-duplicate detection, vectorised with NumPy.

Follows datatrove's ``MinhashDedupSignature`` (what FineWeb ran, 64-bit
precision, 5-grams, 14 bands x 8 rows):

* text normalisation: NFKD, accents (combining marks) stripped, lower case,
  Unicode punctuation, control characters and ASCII symbols deleted (not
  replaced by a space, as in datatrove), runs of digits -> ``0``, whitespace
  collapsed. datatrove uses NFD and a fixed punctuation list; NFKD also folds
  full-width letters and ligatures. The deletion table is built on first use
  (0.3 s).
* words: whitespace-separated tokens; every Han or Kana character is a word of
  its own (datatrove uses a language word tokenizer; no NLTK here).
* shingles: word n-grams (``ngram`` words). A document with fewer than
  ``ngram`` words (but at least one) has one shingle made of all its words; a
  document without words has no shingle and is never a duplicate.
* shingle hash: the text is normalised as a NumPy array of code points
  (lookup tables over all of Unicode for deletions, whitespace, digits and
  Han/Kana, built once per process in about 1 s), every word is hashed at once
  with a polynomial over its code points (mod 2^64, from prefix sums: no Python
  call per word) passed through the splitmix64 finaliser, and an n-gram is a
  polynomial of its word hashes, also finalised. ``words`` is the same
  normalisation written with ``str`` methods (the reference the tests compare).
* permutations: ``a * x + b`` mod 2^32 of the upper 32 bits ``x`` of each
  shingle hash, with ``a`` odd (a bijection of 32-bit values); ``a`` and ``b``
  are the low 32 bits of what ``numpy.random.RandomState(seed)`` draws for
  datatrove (all a, then all b). datatrove works on 64 bits and reduces mod
  2^61 - 1; on hash values that are already uniformly random neither adds to
  the estimate (measured on 400 pairs: error / binomial sigma has standard
  deviation 1.01 here, 1.04 with 64 bits and no modulo) and together they cost
  twice the time. Two different shingles share a 32-bit minimum by chance with
  probability about 2,000 / 2^32 per row: nothing next to the estimate's own
  error.
* bands: ``bands`` bands of ``rows`` minima; a band's key is the xxh64 of its
  rows (seeded with the band index) as a signed 64-bit integer, so one integer
  names both the band and its contents.

Cost for a 2,000-word real page (one core, ``benchmarks/minhash_scale.py``):
about 0.4 ms to normalise (lookup tables, no Python loop per word), 0.17 ms for
word and shingle hashes and 0.24 ms for the 112 minima and band keys.
datasketch's per-shingle ``update`` loop took 13.8 ms (FACTS.md).

Two documents share at least one band with probability ``1 - (1 - s^r)^b``
for Jaccard similarity ``s`` (``s_curve``); at 14 x 8 that is 0.50 at s = 0.72,
0.92 at 0.80, 0.99 at 0.85.
"""
from __future__ import annotations

import re
import sys
import unicodedata
from functools import lru_cache
from typing import Iterable, List, Optional, Sequence, TextIO

import numpy as np
import xxhash

MERSENNE_PRIME = np.uint64((1 << 61) - 1)
_POLY = np.uint64(0x9E3779B97F4A7C15)  # odd multiplier of the n-gram polynomial
_HAN_KANA = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"  # kana, CJK ideographs
_CJK = re.compile(f"[{_HAN_KANA}]")
_CJK_TOKEN = re.compile(f"[{_HAN_KANA}]|[^\\s{_HAN_KANA}]+")
_DIGITS = re.compile(r"\d+")
_CHUNK = 4096  # shingles per block of the (shingles x permutations) matrix: bounds memory


@lru_cache(maxsize=1)
def _delete_table() -> dict:
    """str.translate table deleting punctuation, combining marks, controls and ASCII symbols."""
    table = {}
    for cp in range(sys.maxunicode + 1):
        cat = unicodedata.category(chr(cp))
        if cat[0] == "P" or cat == "Mn" or (cat == "Cc" and not chr(cp).isspace()) or (cp < 128 and cat[0] == "S"):
            table[cp] = None
    return table


def normalize(text: str) -> str:
    """Lower-cased text without accents, punctuation or symbols, digit runs as ``0``."""
    return " ".join(_normal_tokens(text))


def _normal_tokens(text: str) -> List[str]:
    if not text.isascii():
        text = unicodedata.normalize("NFKD", text)
    table = _delete_table()
    out = []
    for token in text.lower().split():
        if not token.isalpha():  # most words are letters only: nothing to delete or map
            if not token.isalnum():
                token = token.translate(table)
                if not token:
                    continue
            if not token.isalpha():
                token = _DIGITS.sub("0", token)
        out.append(token)
    return out


def words(text: str) -> List[str]:
    """Tokens of the normalised text: whitespace-separated, each Han/Kana character alone."""
    tokens = _normal_tokens(text)
    if _CJK.search(text):
        return _CJK_TOKEN.findall(" ".join(tokens))
    return tokens


@lru_cache(maxsize=1)
def _code_tables():
    """Per code point (numpy bool arrays over all of Unicode): deleted (``_delete_table``),
    whitespace (``str.isspace``, what ``str.split`` splits on), decimal digit (``\\d``), Han/Kana."""
    size = sys.maxunicode + 1
    deleted = np.zeros(size, dtype=bool)
    deleted[list(_delete_table())] = True
    space = np.zeros(size, dtype=bool)
    digit = np.zeros(size, dtype=bool)
    for cp in range(size):
        ch = chr(cp)
        if ch.isspace():
            space[cp] = True
        elif ch.isdecimal():
            digit[cp] = True
    cjk = np.zeros(size, dtype=bool)
    for lo, hi in ((0x3040, 0x30FF), (0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF)):
        cjk[lo:hi + 1] = True
    return deleted, space, digit, cjk


def normal_codes(text: str) -> np.ndarray:
    """Code points (uint32) of the normalised text before it is split into words:
    NFKD (non-ASCII text), lower case, deletions, digit runs as ``0``."""
    if not text.isascii() and not unicodedata.is_normalized("NFKD", text):
        text = unicodedata.normalize("NFKD", text)
    codes = np.frombuffer(text.lower().encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    deleted, _, digit, _ = _code_tables()
    codes = codes[~deleted[codes]]
    is_digit = digit[codes]
    if is_digit.any():
        codes = codes[~(is_digit & np.concatenate(([False], is_digit[:-1])))].copy()  # a run keeps its first
        codes[digit[codes]] = ord("0")
    return codes


def text_word_hashes(text: str) -> np.ndarray:
    """uint64 hash of every word of ``words(text)``, in order, without building the words:
    the text is normalised on arrays of code points, and each word hashed as a polynomial of its code points
    (mod 2^64, from prefix sums) passed through the splitmix64 finaliser."""
    codes = normal_codes(text)
    n = len(codes)
    if not n:
        return np.empty(0, dtype=np.uint64)
    _, space, _, cjk = _code_tables()
    is_space = space[codes]
    alone = cjk[codes]  # each Han/Kana character is a word of its own
    before = np.concatenate(([True], is_space[:-1] | alone[:-1]))
    starts = np.flatnonzero(~is_space & (before | alone))
    if not len(starts):
        return np.empty(0, dtype=np.uint64)
    after = np.concatenate((is_space[1:] | alone[1:] | alone[:-1], [True]))
    ends = np.flatnonzero(~is_space & after) + 1
    powers, inverse = _power_tables(n + 1)
    prefix = np.zeros(n + 1, dtype=np.uint64)
    np.cumsum((codes.astype(np.uint64) + np.uint64(1)) * powers[:n], out=prefix[1:])
    h = (prefix[ends] - prefix[starts]) * inverse[starts]
    return mix64(h ^ (ends - starts).astype(np.uint64))


def mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser, element-wise on uint64 (wraps mod 2^64)."""
    x = x ^ (x >> np.uint64(30))
    x = x * np.uint64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> np.uint64(27))
    x = x * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


_BYTE_BASE = 0x100000001B3  # odd: invertible mod 2^64
_powers = np.ones(1, dtype=np.uint64)
_inverse_powers = np.ones(1, dtype=np.uint64)


def _power_tables(n: int):
    """BASE^i and BASE^-i mod 2^64 for i < n (grown on demand, kept for the process)."""
    global _powers, _inverse_powers
    if len(_powers) < n:
        size = max(n, 2 * len(_powers))
        one = np.ones(1, dtype=np.uint64)
        inverse = pow(_BYTE_BASE, -1, 1 << 64)
        _powers = np.concatenate((one, np.cumprod(np.full(size - 1, _BYTE_BASE, dtype=np.uint64))))
        _inverse_powers = np.concatenate((one, np.cumprod(np.full(size - 1, inverse, dtype=np.uint64))))
    return _powers, _inverse_powers


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
    """``np.unique`` of a 1-d array: sort, then drop repeats (NumPy 2.4's ``unique`` takes ten
    times as long on 2,000 values: 0.21 vs 0.02 ms)."""
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
