"""An n-gram language model with interpolated modified Kneser-Ney smoothing, written as ARPA.

The estimate KenLM's ``lmplz`` makes (Chen & Goodman 1998; Heafield et al. 2013), for
``thresher train-lm`` on a workstation corpus (sentences as arrays of token ids):

* sentences padded with one ``<s>`` and one ``</s>``; the highest order uses raw counts,
  lower orders the number of distinct left extensions (continuation counts), except n-grams
  starting with ``<s>``, which keep their raw count (they cannot be extended), as lmplz does;
* three discounts per order (D1, D2, D3+) from that order's counts of counts:
  ``Y = t1 / (t1 + 2 t2)``, ``Dk = k - (k + 1) Y t(k+1) / tk``; when the counts of counts
  cannot give them (a tiny corpus) lmplz's ``--discount_fallback`` values 0.5, 1, 1.5;
* ``p(w|h) = (a(hw) - D(a(hw))) / a(h.) + gamma(h) p(w|h')``, with
  ``gamma(h) = (D1 N1(h.) + D2 N2(h.) + D3 N3+(h.)) / a(h.)``; unigrams interpolate with the
  uniform distribution over the vocabulary (``<unk>`` and ``</s>`` included, ``<s>`` not),
  so ``<unk>`` gets the unigram gamma over the vocabulary size;
* ARPA backoff of an n-gram = gamma of it as a context (an interpolated model's backoff), 0 when
  it never is one; ``<s>`` has log probability -99 (never predicted).

No pruning. Counts are numpy arrays (an n-gram is its context's index among the (n-1)-grams times
the vocabulary size plus its last id: an int64 whatever the order), all in memory: a few hundred
bytes per token at order 5, so tens of MB of text, not GB (``thresher train-lm`` is for a
workstation corpus; lmplz is the tool for web scale).
"""
from __future__ import annotations

from typing import Callable, Dict, Sequence, TextIO, Tuple

import numpy as np

FALLBACK = (0.5, 1.0, 1.5)  # lmplz --discount_fallback


def discounts(adjusted: np.ndarray) -> Tuple[Tuple[float, float, float], bool]:
    """(D1, D2, D3+) from counts of counts; (FALLBACK, True) when they are out of range."""
    t = [int(np.count_nonzero(adjusted == k)) for k in (1, 2, 3, 4)]
    if min(t) == 0:
        return FALLBACK, True
    y = t[0] / (t[0] + 2 * t[1])
    d = tuple(k - (k + 1) * y * t[k] / t[k - 1] for k in (1, 2, 3))
    if not all(0 < d[i] < i + 1 for i in range(3)):
        return FALLBACK, True
    return d, False


def _positions(sentences: Sequence[np.ndarray], bos: int, eos: int) -> Tuple[np.ndarray, np.ndarray]:
    """(every padded sentence's tokens end to end, tokens left in its sentence from each position)."""
    padded = [np.concatenate(([bos], s, [eos])).astype(np.int32) for s in sentences]
    tokens = np.concatenate(padded).astype(np.int64) if padded else np.zeros(0, np.int64)
    left = np.concatenate([np.arange(len(s), 0, -1, dtype=np.int32) for s in padded]) if padded \
        else np.zeros(0, np.int32)
    return tokens, left


def estimate(sentences: Sequence[np.ndarray], order: int, vocab_size: int, bos: int, eos: int, unk: int):
    """The model: per order n, (n-gram ids, one row each in lexicographic order, log10 probabilities,
    log10 backoffs), and whether discounts fell back. Ids are below ``vocab_size``; ``unk`` is always
    a unigram. An n-gram's key is (index of its first n-1 words among the (n-1)-grams) * V + last id."""
    tokens, left = _positions(sentences, bos, eos)
    v = int(vocab_size)
    keys, raw, inverse, ctx, suffix, first = {}, {}, {}, {}, {}, {}
    keys[1] = np.union1d(tokens, [unk])
    inverse[1] = np.searchsorted(keys[1], tokens)
    raw[1] = np.bincount(inverse[1], minlength=len(keys[1]))
    first[1] = keys[1]
    for n in range(2, order + 1):
        valid = np.flatnonzero(left >= n)
        keys[n], inv, raw[n] = np.unique(inverse[n - 1][valid] * v + tokens[valid + n - 1],
                                         return_inverse=True, return_counts=True)
        inverse[n] = np.full(len(tokens), -1, np.int64)
        inverse[n][valid] = inv
        del inverse[n - 1], valid, inv  # only the previous order's is needed
        ctx[n], last = keys[n] // v, keys[n] % v
        first[n] = first[n - 1][ctx[n]]
        # index of the n-gram without its first word among the (n-1)-grams
        suffix[n] = (np.searchsorted(keys[1], last) if n == 2
                     else np.searchsorted(keys[n - 1], suffix[n - 1][ctx[n]] * v + last))
    adjusted = {order: raw[order].astype(np.float64)}
    for n in range(1, order):  # continuation counts, except n-grams starting with <s>
        cont = np.bincount(suffix[n + 1], minlength=len(keys[n]))
        adjusted[n] = np.where(first[n] == bos, raw[n], cont).astype(np.float64)
    fell_back = False
    probs, gammas = {}, {}  # gammas[n]: gamma of each (n-1)-gram as a context (0 when it is none)
    for n in range(1, order + 1):
        a = adjusted[n]
        counted = (a > 0) & (first[1] != bos) if n == 1 else np.ones(len(a), bool)
        (d1, d2, d3), fb = discounts(a[counted])
        fell_back |= fb
        discount = np.where(a >= 3, d3, np.where(a == 2, d2, np.where(a == 1, d1, 0.0)))
        if n == 1:
            total = a[keys[1] != bos].sum()
            vocab = int(np.count_nonzero(keys[1] != bos))
            p = (a - discount) / total + discount[counted].sum() / total / vocab
            p[keys[1] == bos] = 0.0
        else:
            total = np.bincount(ctx[n], weights=a, minlength=len(keys[n - 1]))
            with np.errstate(invalid="ignore", divide="ignore"):
                gammas[n] = np.nan_to_num(np.bincount(ctx[n], weights=discount, minlength=len(keys[n - 1])) / total)
            p = (a - discount) / total[ctx[n]] + gammas[n][ctx[n]] * probs[n - 1][suffix[n]]
        probs[n] = p
    model, ids = {}, {1: keys[1][:, None]}
    for n in range(1, order + 1):
        if n > 1:
            ids[n] = np.column_stack([ids[n - 1][ctx[n]], keys[n] % v])
        with np.errstate(divide="ignore"):
            logp = np.where(probs[n] > 0, np.log10(np.maximum(probs[n], 1e-300)), -99.0)
            backoff = np.where(gammas[n + 1] > 0, np.log10(np.maximum(gammas[n + 1], 1e-300)), 0.0) \
                if n < order else np.zeros(len(keys[n]))
        model[n] = (ids[n], logp, backoff)
    return model, fell_back


def write_arpa(out: TextIO, model, piece: Callable[[int], str]) -> Dict[int, int]:
    """Write the model as ARPA text (n-grams in id order); returns n -> count."""
    order = len(model)
    counts = {n: len(model[n][0]) for n in model}
    out.write("\\data\\\n" + "".join(f"ngram {n}={counts[n]}\n" for n in range(1, order + 1)) + "\n")
    words = [piece(i) for i in range(int(model[1][0].max()) + 1)]
    for n in range(1, order + 1):
        out.write(f"\\{n}-grams:\n")
        ids, logp, backoff = model[n]
        for start in range(0, len(ids), 100_000):  # a block at a time: no Python list of every n-gram
            block = slice(start, start + 100_000)
            for row, lp, bo in zip(ids[block].tolist(), logp[block].tolist(), backoff[block].tolist()):
                text = " ".join(words[i] for i in row)
                out.write(f"{lp:.6f}\t{text}\t{bo:.6f}\n" if n < order else f"{lp:.6f}\t{text}\n")
        out.write("\n")
    out.write("\\end\\\n")
    return counts
