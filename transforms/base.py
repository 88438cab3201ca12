"""The contract every step follows, and the plumbing shared by all of them.

A step is a PTransform over ``Document`` records whose ``expand`` returns three
tagged PCollections:

* ``kept``: documents that go on to the next step;
* ``rejected``: documents the step dropped, annotated with ``drop_step`` and a
  short stable ``drop_reason`` (``gopher_short_doc``...);
* ``errors``: one dict per record that raised inside the step (see
  ``error_record``), so one bad record never fails the job;
* optionally ``report``: ``(name, int)`` pairs, summed per name into the
  step's entry of ``stats.json`` (e.g. whether clustering converged);
* optionally ``summary``: exactly one JSON-able dict (the step combines it
  itself), stored as the step's ``summary`` in ``stats.json`` and shown in
  the data card (a contamination report, a mix table...).

A step's constructor only stores and checks its parameters; a bad value
raises ``ParamError`` naming the parameter. A step that must look at files or
at the recipe's inputs before the pipeline starts (a benchmark file's format,
a tokenizer file, weights per input) implements ``preflight(inputs)``, called
with ``{input name: [path patterns]}`` when the recipe is validated.

``DocumentStep`` owns that plumbing for steps that decide one document at a
time: a subclass sets ``name``, optionally loads heavy state in ``setup`` and
implements ``process(doc)`` returning the kept document or a drop reason.
"""
from __future__ import annotations

import time
import traceback
from typing import ClassVar, Dict, Iterable, Optional, Tuple, Union

import apache_beam as beam
from apache_beam.metrics import Metrics

from thresher.transforms.document import Document
from thresher.transforms.redact import redact_json

KEPT = "kept"
REJECTED = "rejected"
ERRORS = "errors"
REPORT = "report"  # optional: (name, int) facts a step reports for the run's stats
SUMMARY = "summary"  # optional: one JSON-able dict a step reports for the run's stats and data card
#: report key of a step that emits more documents than it takes (mix's upsampled copies):
#: such a step balances as in + copies_added == out + dropped + errors
COPIES_ADDED = "copies_added"
METRICS_NAMESPACE = "thresher"


class ParamError(ValueError):
    """A bad step parameter: which one, and what is wrong with it."""

    def __init__(self, param: str, message: str):
        self.param = param
        super().__init__(message)


def error_record(step: str, exc: BaseException, doc: Optional[Document] = None,
                 file: str = "", offset: Optional[int] = None) -> Dict[str, object]:
    """A JSON-able description of one record that raised: where it came from and why.
    Credentials in it (signed URLs, user:password@ in URLs, tokens) are masked (``thresher.transforms.redact``)."""
    tb = traceback.format_exception(type(exc), exc, exc.__traceback__)
    return redact_json({
        "step": step,
        "id": doc.id if doc else "",
        "url": doc.url if doc else "",
        "source": doc.source if doc else "",
        "file": file or (str(doc.annotations.get("file", "")) if doc else ""),
        "offset": offset if offset is not None else (doc.annotations.get("offset") if doc else None),
        "error": f"{type(exc).__name__}: {exc}"[:2000],
        "traceback": "".join(tb[-3:])[-4000:],
    })


def rejected(doc: Document, step: str, reason: str) -> Document:
    """The dropped document, annotated with the step and reason that dropped it."""
    return doc.annotate(drop_step=step, drop_reason=reason)


class StepCounters:
    """Beam Metrics for one step: documents in, out, dropped per reason, errors, busy time.
    Create it in a DoFn's ``setup``; ``error`` and ``reject`` count and route a record."""

    def __init__(self, step: str):
        self.step = step
        self.docs_in = Metrics.counter(METRICS_NAMESPACE, f"{step}.in")
        self.docs_out = Metrics.counter(METRICS_NAMESPACE, f"{step}.out")
        self.errors = Metrics.counter(METRICS_NAMESPACE, f"{step}.errors")
        self.busy_us = Metrics.counter(METRICS_NAMESPACE, f"{step}.busy_us")  # time in process()
        self._dropped = {}

    def dropped(self, reason: str):
        counter = self._dropped.get(reason)
        if counter is None:
            counter = self._dropped[reason] = Metrics.counter(METRICS_NAMESPACE, step_reason(self.step, reason))
        counter.inc()

    def error(self, exc: BaseException, doc: Document) -> beam.pvalue.TaggedOutput:
        """Count the record that raised and return its error record for the ERRORS output."""
        self.errors.inc()
        return beam.pvalue.TaggedOutput(ERRORS, error_record(self.step, exc, doc))

    def reject(self, doc: Document, reason: str) -> beam.pvalue.TaggedOutput:
        """Count the drop and return the rejected document for the REJECTED output."""
        self.dropped(reason)
        return beam.pvalue.TaggedOutput(REJECTED, rejected(doc, self.step, reason))


class Rejection(str):
    """A drop reason (it compares as the reason) that carries the document as annotated by the step,
    so the rejected document keeps what the step found (``language`` on a dropped page)."""

    def __new__(cls, doc: Document, reason: str):
        self = super().__new__(cls, reason)
        self.doc = doc
        return self


def step_reason(step: str, reason: str) -> str:
    return f"{step}.dropped.{reason}"


class DocumentStepFn(beam.DoFn):
    """Runs a DocumentStep's ``process`` on each document, routing outcomes."""

    def __init__(self, step: "DocumentStep"):
        self._step = step

    def setup(self):
        self._counters = StepCounters(self._step.name)
        self._step.setup()

    def process(self, doc: Document):
        counters = self._counters
        counters.docs_in.inc()
        started = time.perf_counter()
        try:
            outcome = self._step.process(doc)
        except Exception as exc:  # one bad record must never fail the job
            counters.busy_us.inc(int((time.perf_counter() - started) * 1e6))
            yield counters.error(exc, doc)
            return
        counters.busy_us.inc(int((time.perf_counter() - started) * 1e6))
        if isinstance(outcome, str):  # a Rejection carries the document as the step annotated it
            yield counters.reject(getattr(outcome, "doc", doc), str(outcome))
        else:
            counters.docs_out.inc()
            yield outcome

    def teardown(self):
        self._step.teardown()


class Step(beam.PTransform):
    """What every step shares: its name, the annotations it writes and the reasons it drops, and
    what travels to the workers. A composite step (dedup, mixing) subclasses it and writes ``expand``;
    ``DocumentStep`` adds the per-document plumbing."""

    name: ClassVar[str] = "step"
    #: annotations this step adds, as name -> Arrow type name ("string", "float64", "int64", "bool")
    ANNOTATIONS: ClassVar[Dict[str, str]] = {}
    #: annotation -> one-line meaning; drop reason -> one-line description (``thresher steps``, data card)
    ANNOTATION_DOCS: ClassVar[Dict[str, str]] = {}
    DROP_REASONS: ClassVar[Dict[str, str]] = {}
    #: attributes built on the worker (models, compiled functions): sent as None, rebuilt by ``setup``
    WORKER_STATE: ClassVar[Tuple[str, ...]] = ()
    #: True when the step's shuffles carry ``document.light`` documents (no text) where it can, and
    #: its outputs may be light: the pipeline reads their text again after it (``io.rehydrate``)
    LIGHT_SHUFFLES: ClassVar[bool] = False
    #: True when the step, given ``input_is_entries``, reads its documents again from the prefix cache's
    #: entries where it applies its decisions, instead of holding them while it decides
    READS_ENTRIES: ClassVar[bool] = False
    #: set by the pipeline when the step's input is exactly the kept documents of the prefix cache's
    #: entries: each names its record (``Document.ref``) and every kept document of an entry arrives
    input_is_entries: bool = False

    def written_annotations(self) -> Dict[str, str]:
        """The annotations this configuration writes on the documents it keeps (name -> Arrow type)."""
        return dict(self.ANNOTATIONS)

    def ships_light(self) -> bool:
        """Whether this configuration's outputs may be ``document.light`` (``LIGHT_SHUFFLES``; not when
        it reads its documents from the entries: ``READS_ENTRIES``)."""
        return self.LIGHT_SHUFFLES and not (self.READS_ENTRIES and self.input_is_entries)

    def __getstate__(self):
        # Only the parameters travel to workers, not the pipeline the transform was applied to.
        state = dict(self.__dict__)
        state.pop("pipeline", None)
        for name in self.WORKER_STATE:
            if name in state:
                state[name] = None
        return state


class DocumentStep(Step):
    """Base class for steps that keep, modify or drop one document at a time."""

    def setup(self) -> None:
        """Load heavy state (models, word lists) once per worker."""

    def teardown(self) -> None:
        """Release what ``setup`` took."""

    def process(self, doc: Document) -> Union[Document, str]:
        """Return the (possibly modified) document to keep it, or a drop reason."""
        raise NotImplementedError

    def expand(self, docs):
        outputs = docs | "Apply" >> beam.ParDo(DocumentStepFn(self)).with_outputs(REJECTED, ERRORS, main=KEPT)
        return step_outputs(outputs[KEPT], outputs[REJECTED], outputs[ERRORS])


def step_outputs(kept, rejected_docs, errors, report=None, summary=None) -> Dict[str, beam.PCollection]:
    """The output dict of a step written as a custom composite (dedup, mixing...)."""
    outputs = {KEPT: kept, REJECTED: rejected_docs, ERRORS: errors}
    if report is not None:
        outputs[REPORT] = report
    if summary is not None:
        outputs[SUMMARY] = summary
    return outputs


def flatten_or_empty(pipeline, pcolls: Iterable[beam.PCollection], label: str):
    """Flatten a list of PCollections; an empty list gives an empty PCollection."""
    pcolls = list(pcolls)
    if not pcolls:
        return pipeline | label >> beam.Create([])
    if len(pcolls) == 1:
        return pcolls[0]
    return tuple(pcolls) | label >> beam.Flatten()


class FilterStep(DocumentStep):
    """Base class for heuristic filters: score once, decide with parameters.

    A subclass implements ``score(doc) -> {stat: value}`` (or ``clean(doc) ->
    (new_text, stats)`` when it also rewrites the text) and ``decide(stats) ->
    reason or None``. Its constructor ends in ``**common`` and passes them here:

    annotate: store the statistics on the document as ``{name}_{stat}``.
    dry_run: annotate only and drop nothing (nor rewrite the text); the reason a
        document would have been dropped is stored as ``{name}_drop``.
    """

    def __init__(self, annotate: bool = False, dry_run: bool = False):
        super().__init__()
        self.annotate = annotate
        self.dry_run = dry_run

    def written_annotations(self) -> Dict[str, str]:
        """Annotations other than ``{name}_*`` always; the ``{name}_{stat}`` statistics only with
        annotate or dry_run; ``{name}_drop`` only with dry_run."""
        prefix, drop = f"{self.name}_", f"{self.name}_drop"
        written = {}
        for key, kind in self.ANNOTATIONS.items():
            if key == drop or (key.startswith(prefix) and not (self.annotate or self.dry_run)):
                continue
            written[key] = kind
        if self.dry_run:
            written[drop] = "string"
        return written

    def score(self, doc: Document) -> Dict[str, float]:
        raise NotImplementedError

    def clean(self, doc: Document):
        """(text to keep, statistics). Filters that do not rewrite text keep it as is."""
        return doc.text, self.score(doc)

    def decide(self, stats: Dict[str, float]) -> Optional[str]:
        raise NotImplementedError

    def process(self, doc: Document) -> Union[Document, str]:
        text, stats = self.clean(doc)
        reason = self.decide(stats)
        notes = {f"{self.name}_{k}": v for k, v in stats.items()} if (self.annotate or self.dry_run) else {}
        if self.dry_run:
            if reason:
                notes[f"{self.name}_drop"] = reason
            return doc.annotate(**notes) if notes else doc
        if reason:
            return reason
        if text is doc.text and not notes:
            return doc
        return doc.with_text(text, **notes)
