"""Keep one document per key: the machinery shared by ``exact_dedup`` and ``url_dedup``.

``KeepOnePerKey`` groups documents by a key (content hash, normalised URL...)
and keeps, per key, the document that ``thresher.transforms.dedup.priority`` ranks first.
What crosses a shuffle, and what is held in memory:

1. every keyed document sends one (key, (priority key, id)) tuple to a
   combiner, which keeps the best tuple and a count per key: a key with a
   million copies costs one tuple, never a list;
2. the winners and the documents meet in a GroupByKey on (key, document id).
   Documents cross this shuffle once, as DocumentCoder bytes, without their text when it can be
   read again after the step (``document.light``: the prefix cache holds it). A group holds
   one document, plus the winner's record if that document won; only
   documents sharing both key and id share a group (then the one whose
   priority equals the winner's, smallest encoding on ties, is kept), and
   the group is streamed twice, never copied into a list. The distribution
   metric ``{step}.join_group_size`` records the group sizes (normally 1 or 2).

Documents without a key (``key_fn`` returns None) pass through untouched. The step's report
holds the bytes its shuffles carry (``shuffle_bytes``, ``shuffle_bytes_per_doc``: ``shuffle_bytes``).
"""
from __future__ import annotations

from typing import Callable, Optional

import apache_beam as beam
from apache_beam.metrics import Metrics

from thresher.transforms.base import ERRORS, METRICS_NAMESPACE, REJECTED, StepCounters, step_outputs
from thresher.transforms.document import Document, DocumentCoder, light
from thresher.transforms.dedup.priority import priority_key
from thresher.transforms.dedup.shuffle_bytes import ShuffleMeter

_CODER = DocumentCoder()
_DOC, _WINNER = 0, 1  # tags of the values meeting in the join
_PASS = "pass"  # documents without a key
_CANDIDATES = "candidates"


class _BestAndCount(beam.CombineFn):
    """Per key: the smallest (priority key, id) and the number of documents."""

    def create_accumulator(self):
        return None, 0

    def add_input(self, acc, candidate):
        best, n = acc
        return (candidate if best is None or candidate < best else best), n + 1

    def merge_accumulators(self, accs):
        best, n = None, 0
        for other, m in accs:
            if other is not None and (best is None or other < best):
                best = other
            n += m
        return best, n

    def extract_output(self, acc):
        return acc


class _KeyDocuments(beam.DoFn):
    """Emits each document keyed by (key, id) for the join, and its candidate tuple."""

    def __init__(self, step: str, key_fn: Callable[[Document], Optional[bytes]], rule: str,
                 annotation: Optional[str]):
        self._step, self._key_fn, self._rule, self._annotation = step, key_fn, rule, annotation

    def setup(self):
        self._counters = StepCounters(self._step)

    def process(self, doc: Document):
        self._counters.docs_in.inc()
        try:
            key = self._key_fn(doc)
            if key is None:
                self._counters.docs_out.inc()
                yield beam.pvalue.TaggedOutput(_PASS, doc)
                return
            candidate = (priority_key(doc, self._rule, self._annotation), doc.id)
            encoded = _CODER.encode(light(doc))  # no text when it can be read again after
        except Exception as exc:  # one bad record must never fail the job
            yield self._counters.error(exc, doc)
            return
        yield beam.pvalue.TaggedOutput(_CANDIDATES, (key, candidate))
        yield (key, doc.id), (_DOC, encoded)


class _Decide(beam.DoFn):
    """Keeps the winning document of a (key, id) group, rejects the others."""

    def __init__(self, step: str, reason: str, rule: str, annotation: Optional[str],
                 count_annotation: Optional[str]):
        self._step, self._reason, self._rule, self._annotation = step, reason, rule, annotation
        self._count_annotation = count_annotation

    def setup(self):
        self._counters = StepCounters(self._step)
        self._group_size = Metrics.distribution(METRICS_NAMESPACE, f"{self._step}.join_group_size")

    def process(self, element):
        _, values = element
        winner, n_docs = None, 0
        for tag, payload in values:  # first pass: the winner's record, if any
            if tag == _WINNER:
                winner = payload
            else:
                n_docs += 1
        self._group_size.update(n_docs + (winner is not None))
        winner_priority, copies = winner if winner is not None else (None, 0)
        chosen = None
        if winner is not None and n_docs > 1:  # same key and same id: rare
            chosen = self._choose(values, winner_priority)
        kept = False
        for tag, payload in values:  # second pass: route every document
            if tag != _DOC:
                continue
            doc = _CODER.decode(payload)
            if winner is not None and not kept and (n_docs == 1 or payload == chosen):
                kept = True
                self._counters.docs_out.inc()
                yield doc.annotate(**{self._count_annotation: copies}) if self._count_annotation else doc
            else:
                yield self._counters.reject(doc, self._reason)

    def _choose(self, values, best_key) -> bytes:
        """Encoding of the document to keep among several with the same key and id."""
        matching, other = None, None
        for tag, payload in values:
            if tag != _DOC:
                continue
            if priority_key(_CODER.decode(payload), self._rule, self._annotation) == best_key:
                matching = payload if matching is None or payload < matching else matching
            other = payload if other is None or payload < other else other
        return matching if matching is not None else other


def _winner_record(key, best_and_count):
    """A key's winner, keyed by (key, its id) for the join: (_WINNER, (its priority key, the key's documents))."""
    (priority, doc_id), count = best_and_count
    return (key, doc_id), (_WINNER, (priority, count))


class KeepOnePerKey(beam.PTransform):
    """Keeps one document per ``key_fn`` key, chosen by a priority rule; rejects the rest with ``reason``.

    step: the step name stamped on rejected documents and counters.
    key_fn: picklable function of a document returning a compact key (bytes), or None to pass it through.
    rule, annotation: the ``thresher.transforms.dedup.priority`` rule and its annotation name.
    count_annotation: if set, the kept document is annotated with its key's document count.
    """

    def __init__(self, step: str, reason: str, key_fn: Callable[[Document], Optional[bytes]], rule: str,
                 annotation: Optional[str] = None, count_annotation: Optional[str] = None):
        super().__init__()
        self._params = (step, reason, key_fn, rule, annotation, count_annotation)

    def expand(self, docs):
        step, reason, key_fn, rule, annotation, count_annotation = self._params
        meter = ShuffleMeter(step)
        keyed = docs | "key" >> beam.ParDo(_KeyDocuments(step, key_fn, rule, annotation)).with_outputs(
            _PASS, _CANDIDATES, ERRORS, main="keyed")
        winners = (meter(keyed[_CANDIDATES], "best per key")
                   | "best per key" >> beam.CombinePerKey(_BestAndCount())
                   | "winner record" >> beam.MapTuple(_winner_record))
        decided = ((meter(keyed["keyed"], "join documents"), meter(winners, "join winners"))
                   | "documents and winners" >> beam.Flatten()
                   | "join on key and id" >> beam.GroupByKey()
                   | "decide" >> beam.ParDo(_Decide(step, reason, rule, annotation, count_annotation))
                   .with_outputs(REJECTED, main="kept"))
        kept = (decided["kept"], keyed[_PASS]) | "kept and unkeyed" >> beam.Flatten()
        return step_outputs(kept, decided[REJECTED], keyed[ERRORS], meter.report(docs))
