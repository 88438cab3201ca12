"""Keep scored documents by a threshold or the corpus' top percent: the decision that model steps share.

``DecideByScore`` takes documents a step has scored (the score in one annotation; a document
without it is *unscored*, e.g. an empty text) and keeps those whose score reaches the cutoff:
``score >= cutoff`` when higher is better, ``score <= cutoff`` when lower is better (perplexity);
ties at the cutoff are kept. The cutoff is ``threshold``, or for ``top_percent`` the score found
with Beam's approximate quantiles over the scored documents (a side input); with neither, every
document is kept (annotate only).
"""
from __future__ import annotations

import math
from typing import Dict, List, Optional

import apache_beam as beam
from apache_beam.transforms.stats import ApproximateQuantilesCombineFn

from thresher.transforms.base import KEPT, REJECTED, SUMMARY, StepCounters
from thresher.transforms.document import light

# top_percent: Beam's approximate quantiles, rank error below QUANTILE_EPSILON * N (its worst-case bound up to
# 1e9 documents), read on a grid of QUANTILE_STEPS + 1 quantiles (a step of N / QUANTILE_STEPS ranks).
QUANTILE_EPSILON = 1e-3
QUANTILE_STEPS = 10_000


def cutoff_from_quantiles(quantiles: List[float], top_percent: float, count: int) -> Optional[float]:
    """The lowest score kept so that the top ``top_percent`` % of ``count`` documents are kept.

    ``quantiles`` is Beam's list of Q + 1 approximate quantiles: the minimum, then for 0 < i < Q
    the element of (approximate) rank floor((i * count - 1) / Q), then the maximum. The cutoff is
    the first of them at or past rank count - ceil(count * P / 100). None when there is no document."""
    if count == 0 or not quantiles:
        return None
    steps = len(quantiles) - 1
    keep = min(count, max(1, math.ceil(count * top_percent / 100.0 - 1e-9)))
    if keep == count:
        return quantiles[0]
    return quantiles[min(steps, -(-((count - keep) * steps + 1) // count))]


class _Scores(beam.DoFn):
    """The scores of scored documents, negated when lower is better (so the top is always the highest)."""

    def __init__(self, annotation: str, sign: float):
        self._annotation, self._sign = annotation, sign

    def process(self, doc):
        score = doc.annotations.get(self._annotation)
        if score is not None:
            yield self._sign * score


def _cutoff(quantiles: List[float], top_percent: float, count: int, sign: float) -> Optional[float]:
    cut = cutoff_from_quantiles(quantiles, top_percent, count)
    return None if cut is None else sign * cut


class _DecideFn(beam.DoFn):
    """Keeps a scored document whose score reaches ``cutoff``; an unscored one per ``unscored_reason``."""

    def __init__(self, step_name: str, annotation: str, deciding: bool, higher_is_better: bool,
                 reason: str, unscored_reason: Optional[str]):
        self._step, self._annotation, self._deciding = step_name, annotation, deciding
        self._higher, self._reason, self._unscored_reason = higher_is_better, reason, unscored_reason

    def setup(self):
        self._counters = StepCounters(self._step)

    def process(self, doc, cutoff: Optional[float]):
        score = doc.annotations.get(self._annotation)
        if not self._deciding:
            keep = True
        elif score is None:
            keep = self._unscored_reason is None
        elif cutoff is None:  # top_percent of no scored document: not reached (scored docs always have one)
            keep = True
        else:
            keep = score >= cutoff if self._higher else score <= cutoff
        if keep:
            self._counters.docs_out.inc()
            yield doc
        else:
            yield self._counters.reject(doc, self._reason if score is not None else self._unscored_reason)


class _CountScored(beam.CombineFn):
    """(scored, unscored) documents."""

    def __init__(self, annotation: str):
        self._annotation = annotation

    def create_accumulator(self):
        return (0, 0)

    def add_input(self, acc, doc):
        scored = doc.annotations.get(self._annotation) is not None
        return (acc[0] + scored, acc[1] + (not scored))

    def merge_accumulators(self, accs):
        accs = list(accs)
        return (sum(a[0] for a in accs), sum(a[1] for a in accs))

    def extract_output(self, acc):
        return acc


def _summary(counts, kind: str, threshold: Optional[float], top_percent: Optional[float],
             cutoff: Optional[float]) -> Dict[str, object]:
    summary: Dict[str, object] = {"kind": kind}
    if top_percent is not None:
        summary.update(top_percent=top_percent, cutoff=cutoff)
    elif threshold is not None:
        summary["threshold"] = threshold
    summary.update(scored=counts[0], unscored=counts[1])
    return summary


class DecideByScore(beam.PTransform):
    """Keep scored documents whose ``annotation`` reaches ``threshold`` or the ``top_percent`` cutoff.

    Returns ``{KEPT, REJECTED, SUMMARY}``; the one summary dict is ``{"kind", "threshold" or
    "top_percent" and "cutoff", "scored", "unscored"}``. Drops are counted under ``step_name``
    (its ``docs_out`` counter counts the kept). Unscored documents (annotation missing or None) are
    kept when annotating only; when deciding, rejected as ``unscored_reason`` (kept when it is None).
    """

    def __init__(self, step_name: str, annotation: str, threshold: Optional[float] = None,
                 top_percent: Optional[float] = None, higher_is_better: bool = True,
                 reason: Optional[str] = None, unscored_reason: Optional[str] = None, kind: str = "quality"):
        super().__init__()
        if threshold is not None and top_percent is not None:
            raise ValueError("give threshold or top_percent, not both")
        self.step_name, self.annotation, self.kind = step_name, annotation, kind
        self.threshold, self.top_percent = threshold, top_percent
        self.higher_is_better = higher_is_better
        self.reason = reason or f"{step_name}_low_score"
        self.unscored_reason = unscored_reason

    def expand(self, docs):
        if self.top_percent is not None:  # they wait for the cut-off: without their text where it can be read again
            docs = docs | "Light" >> beam.Map(light)
        counts = docs | "Count scored" >> beam.CombineGlobally(_CountScored(self.annotation))
        if self.top_percent is not None:
            sign = 1.0 if self.higher_is_better else -1.0
            cutoff = beam.pvalue.AsSingleton(
                docs
                | "Scores" >> beam.ParDo(_Scores(self.annotation, sign))
                | "Quantiles" >> beam.CombineGlobally(ApproximateQuantilesCombineFn.create(
                    QUANTILE_STEPS + 1, epsilon=QUANTILE_EPSILON))
                | "Cutoff" >> beam.Map(lambda q, n, p, s: _cutoff(q, p, n[0], s),
                                       beam.pvalue.AsSingleton(counts), self.top_percent, sign))
        else:
            cutoff = self.threshold  # None: annotate only
        deciding = self.threshold is not None or self.top_percent is not None
        decided = docs | "Decide" >> beam.ParDo(
            _DecideFn(self.step_name, self.annotation, deciding, self.higher_is_better, self.reason,
                      self.unscored_reason), cutoff).with_outputs(REJECTED, main=KEPT)
        summary = counts | "Summary" >> beam.Map(_summary, self.kind, self.threshold, self.top_percent, cutoff)
        return {KEPT: decided[KEPT], REJECTED: decided[REJECTED], SUMMARY: summary}

    def __getstate__(self):
        state = dict(self.__dict__)
        state.pop("pipeline", None)
        return state
