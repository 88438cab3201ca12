"""Word hashing of normalised text: the words near-dedup shingles and decontamination n-grams are made of.

Normalisation (after datatrove's ``MinhashDedupSignature``, what FineWeb ran):
NFKD, accents (combining marks) stripped, lower case, Unicode punctuation,
control characters and ASCII symbols deleted (not replaced by a space, as in
datatrove), runs of digits -> ``0``, whitespace collapsed. datatrove uses NFD
and a fixed punctuation list; NFKD also folds full-width letters and
ligatures. Words are whitespace-separated tokens; every Han or Kana character
is a word of its own (datatrove uses a language word tokenizer; no NLTK here).

``text_word_hashes`` does this on a NumPy array of code points (lookup tables
over all of Unicode for deletions, whitespace, digits and Han/Kana, built once
per process) and hashes every word at once as a polynomial over its code
points (mod 2^64, from prefix sums: no Python call per word) passed through
the splitmix64 finaliser (``mix64``). ``normalize`` and ``words`` are the same
normalisation written with ``str`` methods (the reference the tests compare).
Their cost is measured by ``benchmarks/minhash_scale.py --long`` and
``benchmarks/decontam_speed.py``.
"""
from __future__ import annotations

import re
import sys
import unicodedata
from functools import lru_cache
from typing import List

import numpy as np

_HAN_KANA = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"  # kana, CJK ideographs
_CJK = re.compile(f"[{_HAN_KANA}]")
_CJK_TOKEN = re.compile(f"[{_HAN_KANA}]|[^\\s{_HAN_KANA}]+")
_DIGITS = re.compile(r"\d+")


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

