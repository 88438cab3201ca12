"""The n-gram index of benchmark items that ``decontaminate`` scans documents against.

Holds the item side (``item_ngrams``: an item's word n-grams, hashed, without
low-information n-grams), the index (``NGramIndex``, built by ``build_index`` /
the ``BuildIndex`` combiner) and the document side (``Matcher``: a document's
n-grams looked up in the index). The rules they apply are described in
``thresher.transforms.select.decontaminate``; this module is how.

Hashes: each item's words are hashed as for near-dedup
(``thresher.transforms.text.hashing.text_word_hashes``), an n-gram
is a polynomial of its word hashes finished by splitmix64 (64 bits).

Index: one ``CombineGlobally`` builds one ``NGramIndex`` (sorted unique hashes,
each with its items; 16 bytes an n-gram). It reaches the scan as an
``AsSingleton`` side input: the benchmarks are read and hashed once per run, not
once per worker, and a worker decodes one compact object (once per bundle, as
Beam does for side inputs) instead of materialising a dict of a million Python
objects (``AsDict``/``AsMultiMap``, or a dict loaded in ``setup``).

Lookup: each document's n-grams are looked up in a bitmap of the hashes' top
bits (built once per worker and index content; most n-grams stop there),
survivors by binary search. ``benchmarks/decontam_speed.py`` measures the index
build and its size, the scan's speed per stage and, for comparison, the same
lookup as a Python set intersection.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Dict, Iterable, List, Tuple

import apache_beam as beam
import numpy as np

from thresher.transforms.text.hashing import mix64, text_word_hashes

#: An n-gram of ``n`` words with fewer than ``min(MIN_DISTINCT_WORDS, n)`` distinct words is
#: left out: with digits mapped to 0, a run of numbers and units ("0 m 0 m 0") would otherwise
#: match any table of distances (the rule and what it costs: ``decontaminate``'s docstring).
MIN_DISTINCT_WORDS = 4
_POLY = np.uint64(0x9E3779B97F4A7C15)


def ngram_hashes(hashes: np.ndarray, lengths: Iterable[int]) -> np.ndarray:
    """Hashes of every run of ``n`` consecutive words, for each ``n`` in ``lengths`` (not deduplicated)."""
    wanted = set(lengths)
    top = min(max(wanted, default=0), len(hashes))
    out = []
    h = hashes
    for n in range(1, top + 1):
        if n > 1:
            h = h[:-1] * _POLY + hashes[n - 1:]
        if n in wanted:
            out.append(mix64(h + np.uint64(n)))
    return np.concatenate(out) if out else np.empty(0, dtype=np.uint64)


def item_ngrams(text: str, ngram: int) -> Tuple[np.ndarray, int, int]:
    """(sorted unique hashes of the informative n-grams, n-gram length, low-information n-grams
    left out) of one item. Fewer than ``ngram`` words: one n-gram of all of them; no word: none."""
    hashes = text_word_hashes(text)
    length = min(ngram, len(hashes))
    if not length:
        return np.empty(0, dtype=np.uint64), 0, 0
    grams = ngram_hashes(hashes, [length])
    windows = hashes[np.arange(len(grams))[:, None] + np.arange(length)]  # one row per n-gram
    windows.sort(axis=1)
    distinct = 1 + np.count_nonzero(windows[:, 1:] != windows[:, :-1], axis=1)
    informative = distinct >= min(MIN_DISTINCT_WORDS, length)
    if informative.all():
        return np.unique(grams), length, 0
    return np.unique(grams[informative]), length, len(np.unique(grams[~informative]))


@dataclass
class NGramIndex:
    """n-gram hash -> items, for every item of the benchmarks (built once, shipped as a side input)."""

    names: List[Tuple[str, str]]  # item number -> (benchmark, item id)
    sizes: np.ndarray  # n-grams kept per item
    keys: np.ndarray  # sorted unique n-gram hashes (uint64)
    starts: np.ndarray  # the items of keys[k] are items[starts[k]:starts[k + 1]]
    items: np.ndarray  # item numbers (int32)
    lengths: Tuple[int, ...]  # n-gram lengths used by the items
    template_ngrams: int  # n-grams ignored: in more than max_items_per_ngram items
    low_information_ngrams: int  # n-grams ignored: fewer than MIN_DISTINCT_WORDS distinct words
    digest: str  # identifies the content (workers cache their lookup structures by it)

    def totals(self) -> Dict[str, Tuple[int, int]]:
        """Benchmark -> (items, items without any n-gram in the index: never found)."""
        counts: Dict[str, Tuple[int, int]] = {}
        for (benchmark, _), size in zip(self.names, self.sizes.tolist()):
            items, empty = counts.get(benchmark, (0, 0))
            counts[benchmark] = (items + 1, empty + (size == 0))
        return counts


def build_index(items: Dict[Tuple[str, str], np.ndarray], max_items_per_ngram: int,
                lengths: Iterable[int] = (), low_information_ngrams: int = 0) -> NGramIndex:
    """The index of ``{(benchmark, item id): its n-gram hashes}`` (``max_items_per_ngram`` 0: no limit)."""
    names = sorted(items)
    arrays = [items[name] for name in names]
    keys = np.concatenate(arrays) if arrays else np.empty(0, np.uint64)
    owners = np.repeat(np.arange(len(names), dtype=np.int32), [len(a) for a in arrays])
    order = np.lexsort((owners, keys))
    keys, owners = keys[order], owners[order]
    unique, counts = np.unique(keys, return_counts=True)
    template = 0
    if max_items_per_ngram > 0 and len(counts) and counts.max() > max_items_per_ngram:
        wide = counts > max_items_per_ngram
        template = int(wide.sum())
        keep = np.repeat(~wide, counts)
        keys, owners = keys[keep], owners[keep]
        unique, counts = unique[~wide], counts[~wide]
    starts = np.zeros(len(unique) + 1, np.int32 if len(owners) < 2 ** 31 else np.int64)
    np.cumsum(counts, out=starts[1:])
    sizes = np.bincount(owners, minlength=len(names)).astype(np.int64)
    digest = hashlib.sha1()
    for part in (repr(names).encode(), unique.tobytes(), owners.tobytes()):
        digest.update(part)
    return NGramIndex(names, sizes, unique, starts, owners, tuple(sorted(set(lengths))), template,
                      low_information_ngrams, digest.hexdigest())


class BuildIndex(beam.CombineFn):
    """((benchmark, item id), ``item_ngrams``) -> one NGramIndex; an item read twice counts once."""

    def __init__(self, max_items_per_ngram: int):
        self.max_items_per_ngram = max_items_per_ngram

    def create_accumulator(self):
        return {}  # (benchmark, item id) -> (hashes, n-gram length, low-information n-grams)

    def add_input(self, acc, element):
        name, hashes, length, low = element
        if name in acc:
            old = acc[name]
            hashes, low = np.union1d(old[0], hashes), max(old[2], low)
        acc[name] = (hashes, length, low)
        return acc

    def merge_accumulators(self, accs):
        accs = iter(accs)
        merged = next(accs)
        for acc in accs:
            for name, value in acc.items():
                self.add_input(merged, (name,) + value)
        return merged

    def extract_output(self, acc):
        return build_index({name: v[0] for name, v in acc.items()}, self.max_items_per_ngram,
                           {v[1] for v in acc.values() if len(v[0])}, sum(v[2] for v in acc.values()))


class Matcher:
    """Looks up a document's n-grams in an NGramIndex: bitmap of top hash bits, then binary search."""

    def __init__(self, index: NGramIndex):
        self.index = index
        self.keys, self.starts, self.items = index.keys, index.starts, index.items
        log_bits = max(16, int(np.ceil(np.log2(max(1, len(self.keys)) * 64))))  # <= 1/64 of the bits set
        self.shift = np.uint64(64 - log_bits)
        self.bits = np.zeros(1 << (log_bits - 3), dtype=np.uint8)
        top = (self.keys >> self.shift).astype(np.intp)
        np.bitwise_or.at(self.bits, top >> 3, (1 << (top & 7)).astype(np.uint8))

    def counts(self, text: str) -> Dict[int, int]:
        """Item number -> distinct n-grams the text shares with it (items sharing none are absent)."""
        if not len(self.keys):
            return {}
        grams = ngram_hashes(text_word_hashes(text), self.index.lengths)
        top = (grams >> self.shift).astype(np.intp)
        grams = grams[((self.bits[top >> 3] >> (top & 7)) & 1).astype(bool)]
        if not len(grams):
            return {}
        pos = np.searchsorted(self.keys, grams)
        pos[pos == len(self.keys)] = 0
        pos = np.unique(pos[self.keys[pos] == grams])
        if not len(pos):
            return {}
        lo, hi = self.starts[pos], self.starts[pos + 1]
        if np.all(hi - lo == 1):
            owners = self.items[lo]
        else:
            owners = np.concatenate([self.items[a:b] for a, b in zip(lo.tolist(), hi.tolist())])
        numbers, shared = np.unique(owners, return_counts=True)
        return dict(zip(numbers.tolist(), shared.tolist()))
