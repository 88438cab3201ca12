"""Repetition statistics: repeated items (lines, paragraphs) and repeated n-grams of words.

What Gopher's repetition rules (Rae et al. 2021, Table A1) and FineWeb's line rules
measure, computed as datatrove 0.2.0 computes them (``find_duplicates``,
``find_top_duplicate``, ``find_all_duplicate``); ``tests/test_text.py`` checks them
against datatrove's loops, ``benchmarks/step_speed.py`` measures their cost inside
``gopher_repetition``.
"""
from __future__ import annotations

from typing import Sequence, Tuple

import numpy as np


def duplicates(items: Sequence[str]) -> Tuple[int, int]:
    """(number of items that repeat an earlier one, characters in those repeats)."""
    distinct = set(items)
    return len(items) - len(distinct), sum(map(len, items)) - sum(map(len, distinct))


# --- n-grams over word ids ------------------------------------------------------------
def _group(keys: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Group equal keys: (group of each key, size of each group, index of each group's first
    key), as ``np.unique`` with fewer steps."""
    order = np.argsort(keys, kind="stable")
    ordered = keys[order]
    new = np.empty(len(keys), dtype=bool)
    new[:1] = True
    np.not_equal(ordered[1:], ordered[:-1], out=new[1:])
    starts = np.flatnonzero(new)
    inverse = np.empty(len(keys), dtype=np.int64)
    inverse[order] = np.cumsum(new) - 1
    sizes = np.empty(len(starts), dtype=np.int64)
    sizes[:-1] = starts[1:] - starts[:-1]
    sizes[-1:] = len(keys) - starts[-1:]
    return inverse, sizes, order[starts]


_EMPTY = np.zeros(0, dtype=np.int64)
_SMALL = 48  # below this many positions, plain Python groups faster than numpy


class NGrams:
    """Repetition statistics over the n-grams of one word list, as datatrove computes them.

    N-grams are compared exactly (as tuples of word ids). Only the positions whose
    (n-1)-gram repeats can start a repeated n-gram, so each larger ``n`` looks at fewer
    positions.
    """

    def __init__(self, words: Sequence[str]):
        self.n_words = n_words = len(words)
        self._vocab = max(n_words, 1)  # word ids are below it
        # a word's id: the position where it first occurs
        first_seen = {}
        self._ids = ids = np.fromiter(map(first_seen.setdefault, words, range(n_words)),
                                      dtype=np.int64, count=n_words)
        self._words = words
        pos = np.flatnonzero(np.bincount(ids, minlength=n_words)[ids] > 1)
        # per n: positions whose n-gram occurs more than once, the n-gram's group at each,
        # and per group its count and first position (the last two from n = 2 on)
        self._levels = {1: (pos, ids[pos], None, None)}

    def _level(self, n: int):
        level = self._levels.get(n)
        if level is not None:
            return level
        pos, group = self._level(n - 1)[:2]
        if len(pos) and pos[-1] > self.n_words - n:
            fits = pos <= self.n_words - n
            pos, group = pos[fits], group[fits]
        if not len(pos):
            level = self._levels[n] = (_EMPTY, _EMPTY, _EMPTY, _EMPTY)
            return level
        keys = group * self._vocab + self._ids[pos + n - 1]
        if len(pos) >= _SMALL:
            inverse, counts, first_idx = _group(keys)
            repeated = counts[inverse] > 1
            level = (pos[repeated], inverse[repeated], counts, pos[first_idx])
        else:
            seen = {}
            for key, p in zip(keys.tolist(), pos.tolist()):
                entry = seen.get(key)
                if entry is None:
                    seen[key] = [1, p]
                else:
                    entry[0] += 1
            ids, counts, firsts, rep_pos, rep_group = {}, [], [], [], []
            for key, p in zip(keys.tolist(), pos.tolist()):
                count, first = seen[key]
                if count > 1:
                    g = ids.get(key)
                    if g is None:
                        g = ids[key] = len(counts)
                        counts.append(count)
                        firsts.append(first)
                    rep_pos.append(p)
                    rep_group.append(g)
            level = (np.array(rep_pos, dtype=np.int64), np.array(rep_group, dtype=np.int64),
                     np.array(counts, dtype=np.int64), np.array(firsts, dtype=np.int64))
        self._levels[n] = level
        return level

    def _chars(self, start: int, n: int) -> int:
        """Characters of the n words from ``start``, spaces not counted."""
        return sum(map(len, self._words[start:start + n]))

    @property
    def word_chars(self) -> int:
        """Characters of all words, spaces not counted."""
        return sum(map(len, self._words))

    def _top(self, n: int) -> Tuple[int, int]:
        """(count, first position) of the most frequent n-gram, ties going to the n-gram
        seen first, as ``Counter.most_common(1)`` picks."""
        pos, group, counts, first = self._level(n)
        if not len(pos):
            return 1, 0  # every n-gram occurs once: the first one wins
        sizes = counts[group]
        best = sizes.max()
        return int(best), int(first[group[sizes == best]].min())

    def top_chars(self, n: int) -> int:
        """Characters of the most frequent n-gram, its words joined by single spaces, times
        its count (datatrove's ``find_top_duplicate``); 0 when there is no n-gram."""
        if self.n_words < n:
            return 0
        count, start = self._top(n)
        return count * (self._chars(start, n) + n - 1)

    def top_word_chars(self, n: int) -> int:
        """Characters of the words of the most frequent n-gram times its count."""
        if self.n_words < n:
            return 0
        count, start = self._top(n)
        return count * self._chars(start, n)

    def covered_chars(self, n: int) -> int:
        """Characters of the words covered by n-grams that occur more than once, each word
        counted once however many such n-grams cover it."""
        if self.n_words < n:
            return 0
        pos = self._level(n)[0]
        edges = np.zeros(self.n_words + 1, dtype=np.int64)
        np.add.at(edges, pos, 1)
        np.add.at(edges, pos + n, -1)
        covered = np.flatnonzero(np.cumsum(edges[:-1]) > 0).tolist()
        return sum(map(len, map(self._words.__getitem__, covered)))

    def duplicate_chars(self, n: int) -> int:
        """Characters (spaces not counted) in n-grams that repeat an earlier one, scanning left
        to right and jumping past each repeat (datatrove's ``find_all_duplicate``, which
        compares n-grams with their words glued together, so that "ab c" equals "a bc";
        here n-grams are compared word by word)."""
        if self.n_words < n:
            return 0
        pos, group, _, first = self._level(n)
        later = pos != first[group]
        repeats, groups = pos[later], group[later]
        if not len(repeats):
            return 0
        # Usual case: repeats at least n apart and no first occurrence inside a jump, so
        # every repeat counts.
        if len(repeats) == 1 or (repeats[1:] - repeats[:-1]).min() >= n:
            firsts = first[groups]
            before = np.searchsorted(repeats, firsts) - 1
            if not np.any((before >= 0) & (firsts < repeats[np.maximum(before, 0)] + n)):
                return sum(self._chars(p, n) for p in repeats.tolist())
        in_set = set()  # groups added to the seen set at a position other than their first
        skipped = set()  # positions jumped over, never added to the seen set
        resume = total = 0
        for p, g in zip(repeats.tolist(), groups.tolist()):
            if p < resume:
                continue  # inside the jump after a repeat
            if g in in_set or int(first[g]) not in skipped:
                total += self._chars(p, n)
                skipped.update(range(p + 1, p + n))
                resume = p + n
            else:
                in_set.add(g)
        return total
