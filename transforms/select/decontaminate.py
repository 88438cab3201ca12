"""Benchmark decontamination: drop (or flag) documents that share word n-grams with benchmark items.

References: GPT-3 (Brown et al. 2020, appendix C: 13-gram overlaps between
training documents and benchmark items; GPT-3 cut a window around each
overlap, here the whole document is dropped or annotated) and datatrove's
``NGramsDecontIndexer`` / ``NGramsDecontFilter`` (12-grams of the answer and of
answer-overlapping prompt text; one shared n-gram drops the document). Rules:

* text: normalised as for near-dedup (``thresher.transforms.text.hashing.words``): NFKD,
  lower case, accents, punctuation and ASCII symbols deleted, digit runs ->
  ``0``, whitespace collapsed. A copy with other line breaks, spacing,
  punctuation between words or case still matches, and so does one with other
  numbers; punctuation inside a word is deleted, not made a space
  (``light-energy`` is one word). GSM8K's calculator notes
  (``$<<9*2=18>>18``) are one token, ``0``, like the ``$18`` of a copy without them.
* items: the whole item (question + answer, question + choices, prompt +
  solution: ``thresher.transforms.select.benchmark_files``); all its word n-grams count, not
  only those touching the answer as in datatrove.
* short items: an item of fewer than ``ngram`` words is one n-gram of all its
  words (the near-dedup shingle rule); documents are then also cut into
  n-grams of those lengths. MMLU test has 298 such items (5 to 12 words).
* low-information n-grams: an n-gram of ``n`` words with fewer than
  ``min(4, n)`` distinct words (``ngram_index.MIN_DISTINCT_WORDS``) is
  ignored: with digits mapped to ``0``, a run of numbers and units
  (``50 m - 100 m - 150 m``: ``0 m 0 m 0``) would otherwise match any table
  of distances. This removed the one false match
  on the 1,166 real pages; 16 MMLU test items (``Compute 22 / 2 + 9.`` and
  its numeric choices) are left without n-grams and are never found
  (``items_without_ngrams`` in the summary).
* template n-grams: an n-gram found in more than ``max_items_per_ngram``
  items is an instruction or answer-choice boilerplate, not one item's content,
  and is ignored (MMLU's moral-scenarios preamble is in 895 items; with 10, no
  item of GSM8K, MMLU or HumanEval test loses all its n-grams).
* decision: a document is contaminated when it shares at least
  ``min(min_matches, n)`` distinct n-grams with one single item that has ``n``
  n-grams (so items with fewer n-grams than ``min_matches`` can still be found).

Data flow: the benchmark files are matched and read by a worker, each item's
n-grams hashed to 64 bits, and one ``CombineGlobally`` builds one n-gram index
that reaches the scan as a side input (``thresher.transforms.select.ngram_index``:
the index, its lookup and why they are built that way). Speed and memory:
``benchmarks/decontam_speed.py``.

Outputs: ``kept``, ``rejected`` (reason ``decontaminate_benchmark_overlap``),
``errors`` and ``summary``, one contamination report (see ``summarize``).
"""
from __future__ import annotations

import heapq
import time
from typing import Dict, List, Optional

import apache_beam as beam
import numpy as np

from thresher.transforms.base import ERRORS, KEPT, REJECTED, ParamError, Step, StepCounters, step_outputs
from thresher.transforms.select.benchmark_files import BenchmarkItem, check_format, match_files, read_items
from thresher.transforms.document import Document
from thresher.transforms.select.ngram_index import BuildIndex, Matcher, NGramIndex, item_ngrams

NAME = "decontaminate"
REASON = "decontaminate_benchmark_overlap"
ACTIONS = ("drop", "annotate")
NGRAM = 13  # GPT-3 (Brown et al. 2020), appendix C; datatrove NGramsDecontConfig: 12
MIN_MATCHES = 1  # GPT-3 and datatrove: one shared n-gram is contamination
MAX_ITEMS_PER_NGRAM = 10  # more items than this share only boilerplate (see the module docstring)
MAX_REPORT_ITEMS = 1000  # items listed in the summary
_TALLY = "tally"


def contaminating(counts: Dict[int, int], sizes: np.ndarray, min_matches: int) -> List[int]:
    """Items sharing at least min(min_matches, their n-gram count) n-grams."""
    return sorted(i for i, c in counts.items() if c >= min(min_matches, int(sizes[i])))


def best_item(counts: Dict[int, int], flagged: List[int]) -> Optional[int]:
    """The item sharing the most n-grams, among the contaminating ones if any (ties: first item)."""
    pool = flagged or sorted(counts)
    return max(pool, key=lambda i: (counts[i], -i)) if pool else None


class _Tally(beam.CombineFn):
    """(doc id, contaminating item numbers) -> [checked, flagged, {item: [documents, smallest ids]}]."""

    def __init__(self, max_examples: int):
        self.max_examples = max_examples

    def create_accumulator(self):
        return [0, 0, {}]

    def add_input(self, acc, element):
        doc_id, flagged = element
        acc[0] += 1
        if flagged:
            acc[1] += 1
        for item in flagged:
            entry = acc[2].setdefault(item, [0, []])
            entry[0] += 1
            entry[1] = self._smallest(entry[1], [doc_id])
        return acc

    def _smallest(self, a, b):
        return heapq.nsmallest(self.max_examples, set(a) | set(b))

    def merge_accumulators(self, accs):
        merged = self.create_accumulator()
        for checked, flagged, items in accs:
            merged[0] += checked
            merged[1] += flagged
            for item, (docs, ids) in items.items():
                entry = merged[2].setdefault(item, [0, []])
                entry[0] += docs
                entry[1] = self._smallest(entry[1], ids)
        return merged

    def extract_output(self, acc):
        return acc


def summarize(tally, index: NGramIndex, ngram: int, min_matches: int) -> Dict[str, object]:
    """The contamination report: counts per benchmark and the items found, most documents first."""
    checked, flagged, found = tally
    benchmarks = {name: {"items": total, "items_found": 0, "items_without_ngrams": empty}
                  for name, (total, empty) in sorted(index.totals().items())}
    rows = []
    for item, (docs, ids) in found.items():
        benchmark, item_id = index.names[item]
        benchmarks[benchmark]["items_found"] += 1
        rows.append({"benchmark": benchmark, "item": item_id, "documents": docs, "examples": sorted(ids)})
    rows.sort(key=lambda r: (-r["documents"], r["benchmark"], r["item"]))
    return {"kind": "contamination", "ngram": ngram, "min_matches": min_matches,
            "documents_checked": checked, "documents_flagged": flagged,
            "ngrams_ignored": {"template": index.template_ngrams, "low_information": index.low_information_ngrams},
            "benchmarks": benchmarks, "items": rows[:MAX_REPORT_ITEMS]}


def _keyed_ngrams(item: BenchmarkItem, ngram: int):
    return ((item.benchmark, item.item),) + item_ngrams(item.text, ngram)


class _ScanFn(beam.DoFn):
    """Finds each document's overlap with the index (a side input) and routes it."""

    def __init__(self, step: "Decontaminate"):
        self._step = step

    def setup(self):
        self._matcher: Optional[Matcher] = None
        self._counters = StepCounters(NAME)

    def process(self, doc: Document, index: NGramIndex):
        if self._matcher is None or self._matcher.index.digest != index.digest:
            self._matcher = Matcher(index)  # side inputs are decoded again per bundle: build once per content
        counters = self._counters
        counters.docs_in.inc()
        started = time.perf_counter()
        try:
            counts = self._matcher.counts(doc.text)
            flagged = contaminating(counts, index.sizes, self._step.min_matches)
            best = best_item(counts, flagged)
        except Exception as exc:  # one bad record must never fail the job
            yield counters.error(exc, doc)
            return
        finally:
            counters.busy_us.inc(int((time.perf_counter() - started) * 1e6))
        yield beam.pvalue.TaggedOutput(_TALLY, (doc.id, tuple(flagged)))
        if flagged or self._step.action == "annotate":
            name = index.names[best] if best is not None else None
            doc = doc.annotate(contaminated=bool(flagged),
                               contamination_matches=counts[best] if best is not None else 0,
                               contamination_item=f"{name[0]}:{name[1]}" if name else "")
        if flagged and self._step.action == "drop":
            yield counters.reject(doc, REASON)
        else:
            counters.docs_out.inc()
            yield doc


class Decontaminate(Step):
    """Drop (or flag) documents sharing word n-grams with benchmark items (GSM8K, MMLU, HumanEval, text).

    References: GPT-3 appendix C (13-grams) and datatrove's NGramsDecontFilter (12-grams, answer
    n-grams only). Rules, index and speed: the module docstring. Adds ``contaminated``,
    ``contamination_matches`` (n-grams shared with the best item) and ``contamination_item``
    (``benchmark:item id`` of that item, "" when none) to rejected documents, and to all with
    ``action: annotate``. The ``summary`` output is the contamination report.

    benchmarks: benchmark files or globs (local or gs://, may be .gz); required.
    format: auto (detected per file), gsm8k, mmlu, humaneval or text (one item a line).
    ngram: words per n-gram; shorter items are one n-gram of all their words.
    min_matches: distinct n-grams a document must share with one item (all of them if the item has fewer).
    action: drop (reject contaminated documents) or annotate (keep all, annotated).
    max_examples: document ids listed per item in the summary (the smallest ids).
    max_items_per_ngram: n-grams in more items than this are boilerplate and ignored (0: keep all).
    """

    name = NAME
    ANNOTATIONS = {"contaminated": "bool", "contamination_matches": "int64", "contamination_item": "string"}
    ANNOTATION_DOCS = {
        "contaminated": "the document shares at least min_matches n-grams with one benchmark item",
        "contamination_matches": "distinct n-grams shared with the best-matching item",
        "contamination_item": '"benchmark:item id" of that item ("" when none)',
    }
    DROP_REASONS = {"decontaminate_benchmark_overlap": "shares min_matches or more n-grams with a benchmark item"}

    def written_annotations(self) -> Dict[str, str]:
        """On kept documents: all three with ``action: annotate``; none with ``drop``."""
        return dict(self.ANNOTATIONS) if self.action == "annotate" else {}

    def rejected_annotations(self) -> Dict[str, str]:
        """On removed documents: all three."""
        return dict(self.ANNOTATIONS)

    def __init__(self, benchmarks: List[str], format: str = "auto", ngram: int = NGRAM,
                 min_matches: int = MIN_MATCHES, action: str = "drop", max_examples: int = 5,
                 max_items_per_ngram: int = MAX_ITEMS_PER_NGRAM):
        super().__init__()
        if isinstance(benchmarks, str) or not benchmarks or not all(isinstance(b, str) and b for b in benchmarks):
            raise ParamError("benchmarks", "a non-empty list of benchmark files or globs is required")
        check_format(format)
        if ngram < 1:
            raise ParamError("ngram", f"must be >= 1, got {ngram}")
        if min_matches < 1:
            raise ParamError("min_matches", f"must be >= 1, got {min_matches}")
        if action not in ACTIONS:
            raise ParamError("action", f"unknown action {action!r}; valid: {', '.join(ACTIONS)}")
        if max_examples < 0:
            raise ParamError("max_examples", f"must be >= 0, got {max_examples}")
        if max_items_per_ngram < 0:
            raise ParamError("max_items_per_ngram", f"must be >= 0, got {max_items_per_ngram}")
        self.benchmarks = list(benchmarks)
        self.format = format
        self.ngram = ngram
        self.min_matches = min_matches
        self.action = action
        self.max_examples = max_examples
        self.max_items_per_ngram = max_items_per_ngram

    def preflight(self, inputs: Dict[str, List[str]]) -> None:
        """Every pattern matches files, every file has a known format and at least one item
        (each problem of each pattern is reported)."""
        from thresher.transforms.preflight import Problems, is_local, resolution_note

        problems = Problems()
        for pattern in self.benchmarks:
            try:
                files = match_files([pattern])
            except ParamError as exc:
                note = f"; {resolution_note(pattern)}" if is_local(pattern) else ""
                problems.add(ParamError("benchmarks", f"{exc} (expected benchmark files: GSM8K, MMLU, HumanEval "
                                                      f"or plain text){note}"))
                continue
            for path in files:
                problems.check("benchmarks", lambda: self._check_items(path))
        problems.raise_if_any()

    def _check_items(self, path: str) -> None:
        if not sum(1 for _ in read_items(path, self.format)):  # reads every record: a bad row fails here
            raise ParamError("benchmarks", f"{path}: no benchmark item in the file")

    def expand(self, docs):
        index = (docs.pipeline
                 | "benchmark patterns" >> beam.Create([tuple(self.benchmarks)])
                 | "match files" >> beam.FlatMap(match_files)  # sorted, distinct
                 | "read items" >> beam.FlatMap(read_items, self.format)
                 | "item n-grams" >> beam.Map(_keyed_ngrams, self.ngram)
                 | "build index" >> beam.CombineGlobally(BuildIndex(self.max_items_per_ngram)))
        scanned = docs | "scan" >> beam.ParDo(_ScanFn(self), beam.pvalue.AsSingleton(index)).with_outputs(
            REJECTED, ERRORS, _TALLY, main=KEPT)
        summary = (scanned[_TALLY]
                   | "tally" >> beam.CombineGlobally(_Tally(self.max_examples))
                   | "report" >> beam.Map(summarize, beam.pvalue.AsSingleton(index), self.ngram, self.min_matches))
        return step_outputs(scanned[KEPT], scanned[REJECTED], scanned[ERRORS], summary=summary)

