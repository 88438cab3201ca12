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

No pruning. Counts are numpy arrays of n-grams packed into int64 (``order * bits per id <= 63``),
so memory is about 16 bytes per token per order: a few hundred MB of text at most.
"""
from __future__ import annotations

from typing import Callable, Dict, List, Sequence, TextIO, Tuple

import numpy as np

FALLBACK = (0.5, 1.0, 1.5)  # lmplz --discount_fallback


def _pack(columns: Sequence[np.ndarray], bits: int) -> np.ndarray:
    key = np.zeros(len(columns[0]), dtype=np.int64)
    for col in columns:
        key = (key << bits) | col.astype(np.int64)
    return key


def _ngrams(sentences: Sequence[np.ndarray], order: int, bos: int, eos: int, bits: int) -> Dict[int, np.ndarray]:
    """n -> packed n-gram of every position (raw occurrences), for n = 1..order."""
    padded = [np.concatenate(([bos], s, [eos])).astype(np.int64) for s in sentences]
    grams: Dict[int, List[np.ndarray]] = {n: [] for n in range(1, order + 1)}
    for s in padded:
        for n in range(1, min(order, len(s)) + 1):
            grams[n].append(_pack([s[i:len(s) - n + 1 + i] for i in range(n)], bits))
    return {n: np.concatenate(g) if g else np.zeros(0, np.int64) for n, g in grams.items()}


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


def estimate(sentences: Sequence[np.ndarray], order: int, vocab_size: int, bos: int, eos: int, unk: int):
    """The model: per order n, (sorted packed n-grams, log10 probabilities, log10 backoffs), and
    whether discounts fell back. ``vocab_size`` bounds the ids; ``unk`` is always in the unigrams."""
    bits = max(1, int(vocab_size - 1).bit_length())
    if order * bits > 63:
        raise ValueError(f"order {order} with a vocabulary of {vocab_size} ids does not fit 63 bits")
    raw = _ngrams(sentences, order, bos, eos, bits)
    keys, adjusted = {}, {}
    for n in range(order, 0, -1):
        uniq, counts = np.unique(raw[n], return_counts=True)
        if n < order:  # continuation counts, except n-grams starting with <s>
            left_ext, ext_counts = np.unique(keys[n + 1] & ((1 << (bits * n)) - 1), return_counts=True)
            cont = np.zeros(len(uniq), np.int64)
            where = np.searchsorted(uniq, left_ext)
            cont[where] = ext_counts
            starts_bos = (uniq >> (bits * (n - 1))) == bos
            counts = np.where(starts_bos, counts, cont)
        keys[n], adjusted[n] = uniq, counts.astype(np.float64)
    # the unigram table: <s> out of the distribution, <unk> in it even if never seen
    if unk not in set(keys[1].tolist()):
        at = np.searchsorted(keys[1], unk)
        keys[1], adjusted[1] = np.insert(keys[1], at, unk), np.insert(adjusted[1], at, 0.0)
    fell_back = False
    probs: Dict[int, np.ndarray] = {}
    gammas: Dict[int, Tuple[np.ndarray, np.ndarray]] = {}  # n -> (context keys, gamma)
    for n in range(1, order + 1):
        a = adjusted[n]
        real = a > 0 if n == 1 else np.ones(len(a), bool)
        if n == 1:
            real &= keys[1] != bos
        (d1, d2, d3), fb = discounts(a[real])
        fell_back |= fb
        discount = np.where(a >= 3, d3, np.where(a == 2, d2, np.where(a == 1, d1, 0.0)))
        if n == 1:
            total = a[keys[1] != bos].sum()
            mass = discount[real].sum() / total
            vocab = int(np.count_nonzero(keys[1] != bos))
            p = (a - discount) / total + mass / vocab
            p[keys[1] == bos] = 0.0
        else:
            ctx = keys[n] >> bits
            ctx_keys, inverse = np.unique(ctx, return_inverse=True)
            total = np.bincount(inverse, weights=a)
            gamma = np.bincount(inverse, weights=discount) / total
            gammas[n] = (ctx_keys, gamma)
            lower = keys[n] & ((1 << (bits * (n - 1))) - 1)
            p = (a - discount) / total[inverse] + gamma[inverse] * probs[n - 1][np.searchsorted(keys[n - 1], lower)]
        probs[n] = p
    model = {}
    for n in range(1, order + 1):
        with np.errstate(divide="ignore"):
            logp = np.where(probs[n] > 0, np.log10(np.maximum(probs[n], 1e-300)), -99.0)
        backoff = np.zeros(len(keys[n]))
        if n < order:
            ctx_keys, gamma = gammas[n + 1]
            at = np.searchsorted(ctx_keys, keys[n])
            found = (at < len(ctx_keys)) & (ctx_keys[np.minimum(at, len(ctx_keys) - 1)] == keys[n])
            backoff[found] = np.log10(gamma[at[found]])
        model[n] = (keys[n], logp, backoff)
    return model, fell_back, bits


def write_arpa(out: TextIO, model, bits: int, piece: Callable[[int], str]) -> Dict[int, int]:
    """Write the model as ARPA text (n-grams in key order); returns n -> count."""
    order = len(model)
    counts = {n: len(model[n][0]) for n in model}
    out.write("\\data\\\n" + "".join(f"ngram {n}={counts[n]}\n" for n in range(1, order + 1)) + "\n")
    mask = (1 << bits) - 1
    for n in range(1, order + 1):
        out.write(f"\\{n}-grams:\n")
        keys, logp, backoff = model[n]
        for key, lp, bo in zip(keys.tolist(), logp.tolist(), backoff.tolist()):
            words = " ".join(piece((key >> (bits * (n - 1 - i))) & mask) for i in range(n))
            out.write(f"{lp:.6f}\t{words}\t{bo:.6f}\n" if n < order else f"{lp:.6f}\t{words}\n")
        out.write("\n")
    out.write("\\end\\\n")
    return counts
