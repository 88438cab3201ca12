"""Mix: sample the recipe's inputs by weight to a token (or document) budget.

Every document carries ``source``, the name of the recipe input it came from.
In one pipeline the step:

1. counts each document's tokens (``thresher.transforms.text.tokens.TokenCounter``: a
   tokenizer.json, else the UTF-8 bytes / 4 estimate; plus one end-of-document
   token with ``count_eos``, as token shards append) into a ``tokens``
   annotation, and sums per source the tokens and documents available, plain
   and weighted by the document weight (below);
2. computes per source ``target = budget x weight`` (weights normalised to
   sum 1) and ``rate = target / weighted available``. With ``max_epochs`` the
   rate is lowered so that the expected output is at most ``max_epochs`` x the
   source's (unweighted) available amount: a cap on repetitions of a source
   (Muennighoff et al. 2023, "Scaling Data-Constrained Language Models":
   up to about 4 epochs cost little). What the cap withholds is reported as
   the source's shortfall; it is not given to other sources. Without
   ``weight_by`` no document then gets more than ceil(max_epochs) copies; with
   it, copies follow the document weights and only the source's total is capped;
3. gives each document ``rate x document weight`` expected copies: the
   integer part always, one more when the document's hash fraction
   (xxh64 of its id, seeded with ``seed``, over 2^64) is below the fractional
   part. The choice depends only on (seed, id, rate): the same recipe picks the
   same documents on any runner, worker count or input order, and raising the
   budget keeps a superset of documents. Copy k >= 1 of a document gets the id
   ``{id}#{k}``; every emitted copy gets ``epoch`` = k (0 for the first).
   A document given 0 copies is rejected as ``mix_not_sampled``.

Document weight (optional): ``weight_by`` names a numeric annotation and
``weight_table`` maps the lower bound of each range of its values to a
multiplier, as FineWeb-2's "rehydration" upsamples by MinHash cluster size
(huggingface/fineweb-2 README, its datatrove ``Rehydrater`` block): with
{1: 1, 2: 2, 3: 3, 5: 5, 100: 8, 1000: 1}, size 1 -> 1, 2 -> 2, 3-4 -> 3,
5-99 -> 5, 100-999 -> 8, >= 1000 -> 1. A value below the smallest bound has
weight 1, as in the Rehydrater; so has a missing annotation (a document no
dedup step saw: no known duplicate; the Rehydrater would fail); a non-numeric
value is an error record. With
``budget = weighted available`` and no other source, the rate is 1 and each
document is copied exactly its multiplier times, as the Rehydrater does.
Weighted sums are exact (integers over a common denominator), so rates never
depend on the order a runner adds them in.

Sources: every recipe input must have a weight (0 to leave it out: its
documents are rejected as ``mix_not_sampled``); ``preflight`` checks it.
Documents of a source absent from ``weights`` (only possible without
preflight) are rejected as ``mix_unweighted_source``.

The documents wait for the plan (step 2) without their text when the prefix cache holds it
(``document.light``; the pipeline puts it back after the step).

Accounting: copies beyond the first are extra outputs, reported once as
``("copies_added", n)`` on the ``report`` output, so that
``in + copies_added == kept + rejected + errors``. The ``summary`` output is
one dict: unit, budget, seed, max_epochs, token_counting and per source
(sorted) weight, available_tokens, available_documents, target, rate,
achieved_tokens, achieved_documents (of the emitted copies), epochs (achieved
/ available in the budget unit), shortfall (target - achieved, >= 0), capped
(whether max_epochs lowered the rate) and, with ``weight_by``, the weighted
available tokens and documents.

Cost: every document is held once between counting and sampling (the
rates need the whole input); the local runner keeps it in memory.

Preflight, when ``max_epochs`` is set: a budget share larger than
``max_epochs`` x an upper bound of what the source's files can supply is a
``ParamError`` before the run (``thresher.transforms.select.input_bounds``: documents <=
Parquet rows or content bytes / 7; tokens <= text bytes x
``TOKENS_PER_BYTE_ESTIMATE`` for the estimate (ceil(UTF-8 bytes / 4) is at
most the input bytes even when a legacy charset triples them) or x
``TOKENS_PER_BYTE_TOKENIZER`` with a tokenizer (a byte-level BPE token covers
at least one UTF-8 byte, a decoded byte gives at most 3; SentencePiece-style
word markers at most double a character). Steps between the inputs and mix
(PII placeholders, NFKC) are assumed not to lengthen a source's text by more
than these margins. Bounds are loose: below them, the shortfall is reported
at run time.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Dict, List, Optional

import apache_beam as beam

from thresher.transforms.base import COPIES_ADDED, ERRORS, KEPT, REJECTED, ParamError, Step, StepCounters, step_outputs
from thresher.transforms.document import Document, light
from thresher.transforms.select.mix_plan import DocWeight, SumTuples, copies, copy_id, source_rates, source_rows
from thresher.transforms.text.tokens import TokenCounter

NAME = "mix"
NOT_SAMPLED = "mix_not_sampled"
UNWEIGHTED = "mix_unweighted_source"
TOKENS_PER_BYTE_ESTIMATE = 1
TOKENS_PER_BYTE_TOKENIZER = 4
_DOCS, _AVAILABLE, _ACHIEVED, _ADDED = "docs", "available", "achieved", "added"


class _Measure(beam.DoFn):
    """Annotates ``tokens``; emits (source, (tokens, 1, weighted tokens, weight)) with integer weights."""

    def __init__(self, tokenizer: Optional[str], weight: DocWeight, count_eos: bool = False):
        self._tokenizer, self._weight, self._count_eos = tokenizer, weight, count_eos

    def setup(self):
        self._counter = TokenCounter(self._tokenizer, count_eos=self._count_eos)
        self._counters = StepCounters(NAME)

    def process(self, doc: Document):
        self._counters.docs_in.inc()
        try:
            tokens = self._counter.count(doc.text)
            weight = self._weight.of(doc)
        except Exception as exc:  # one bad record must never fail the job
            yield self._counters.error(exc, doc)
            return
        yield beam.pvalue.TaggedOutput(_AVAILABLE, (doc.source, (tokens, 1, tokens * weight, weight)))
        yield light(doc.annotate(tokens=tokens))  # waits for the plan: no text when it can be read again


class _Sample(beam.DoFn):
    """Emits each document's copies, or rejects it; reports what it emitted per source."""

    def __init__(self, seed: int, weight: DocWeight):
        self._seed, self._weight = seed, weight

    def setup(self):
        self._counters = StepCounters(NAME)

    def process(self, doc: Document, plan):
        entry = plan.get(doc.source)
        try:
            if entry is None or entry["unweighted"]:
                n, reason = 0, UNWEIGHTED
            else:
                n, reason = copies(entry["rate"] * self._weight.value(doc), doc.id, self._seed), NOT_SAMPLED
        except Exception as exc:  # one bad record must never fail the job
            yield self._counters.error(exc, doc)
            return
        if n == 0:
            yield self._counters.reject(doc, reason)
            return
        self._counters.docs_out.inc(n)
        for k in range(n):
            yield dataclasses.replace(doc, id=copy_id(doc.id, k), annotations={**doc.annotations, "epoch": k})
        yield beam.pvalue.TaggedOutput(_ACHIEVED, (doc.source, (doc.annotations["tokens"] * n, n)))
        if n > 1:
            yield beam.pvalue.TaggedOutput(_ADDED, n - 1)


class Mix(Step):
    """Sample the inputs by weight to a token or document budget, upsampling by deterministic copies.

    Reference: the repetition cap after Muennighoff et al. 2023; per-document upsampling
    by cluster size after FineWeb-2's rehydration (huggingface/fineweb-2 README). The
    module docstring gives the exact rules.

    weights: input name -> weight (>= 0, normalised to sum 1); every input needs one.
    budget_tokens: the output's size in tokens (exactly one of the two budgets).
    budget_documents: the output's size in documents.
    seed: seed of the id hash that decides which documents are taken.
    max_epochs: cap on a source's repetitions (expected output / available); None: no cap.
    tokenizer: path of a Hugging Face tokenizer.json (local or gs://); None: UTF-8 bytes / 4.
    weight_by: numeric annotation giving a per-document weight through weight_table.
    weight_table: lower bound of a range of weight_by values -> the documents' weight.
    count_eos: count one more token per document, the end-of-document token token shards append
        (a recipe writing ``output.tokens`` sets it, with its tokenizer, when mix names none).
    """

    name = NAME
    LIGHT_SHUFFLES = True  # the documents that wait for the plan are light (no text) where they can be
    ANNOTATIONS = {"tokens": "int64", "epoch": "int64"}
    ANNOTATION_DOCS = {"tokens": "the document's tokens (tokenizer, else UTF-8 bytes / 4)",
                       "epoch": "which copy of the document this is (0 for the first)"}
    DROP_REASONS = {"mix_not_sampled": "not drawn by the source's sampling rate",
                    "mix_unweighted_source": "its input has weight 0"}

    def __init__(self, weights: Dict[str, float], budget_tokens: Optional[int] = None,
                 budget_documents: Optional[int] = None, seed: int = 0, max_epochs: Optional[float] = None,
                 tokenizer: Optional[str] = None, weight_by: Optional[str] = None,
                 weight_table: Dict[int, float] = {},  # noqa: B006 (copied, never mutated)
                 count_eos: bool = False):
        super().__init__()
        if not isinstance(weights, dict) or not weights:
            raise ParamError("weights", "mix: weights must map at least one input name to a weight")
        if any(not isinstance(w, (int, float)) or not math.isfinite(w) or w < 0 for w in weights.values()):
            raise ParamError("weights", f"mix: weights must be finite numbers >= 0, got {weights}")
        total = math.fsum(weights.values())
        if total <= 0:
            raise ParamError("weights", "mix: weights must sum to a positive number")
        if (budget_tokens is None) == (budget_documents is None):
            raise ParamError("budget_tokens", "mix: give exactly one of budget_tokens and budget_documents")
        budget = budget_tokens if budget_tokens is not None else budget_documents
        budget_param = "budget_tokens" if budget_tokens is not None else "budget_documents"
        if budget <= 0:
            raise ParamError(budget_param, f"mix: {budget_param} must be positive, got {budget}")
        if not 0 <= seed < 1 << 64:
            raise ParamError("seed", f"mix: seed must be in [0, 2^64), got {seed}")
        if max_epochs is not None and not (math.isfinite(max_epochs) and max_epochs > 0):
            raise ParamError("max_epochs", f"mix: max_epochs must be positive, got {max_epochs}")
        if bool(weight_by) != bool(weight_table):
            raise ParamError("weight_table" if weight_by else "weight_by",
                             "mix: weight_by and weight_table go together")
        if any(not math.isfinite(v) or v < 0 for v in weight_table.values()):
            raise ParamError("weight_table", f"mix: weight_table values must be finite and >= 0, got {weight_table}")
        self.weights = dict(weights)
        self.shares = {name: w / total for name, w in weights.items()}
        self.budget_tokens, self.budget_documents = budget_tokens, budget_documents
        self.unit = "tokens" if budget_tokens is not None else "documents"
        self.budget, self.budget_param = budget, budget_param
        self.seed, self.max_epochs, self.tokenizer = seed, max_epochs, tokenizer
        self.weight_by, self.weight_table = weight_by, dict(weight_table)
        self.count_eos = bool(count_eos)

    # ------------------------------------------------------------ before the run

    def preflight(self, inputs: Dict[str, List[str]]) -> None:
        """Weights name the inputs, the tokenizer loads, and no source is asked more than it can give."""
        from thresher.transforms.preflight import Problems, check_path

        problems = Problems()
        valid = ", ".join(sorted(inputs)) or "(none)"
        for name in sorted(self.weights):
            if name not in inputs:
                problems.add(ParamError("weights", f"mix: {name!r} is not an input; valid: {valid}"))
        for name in sorted(inputs):
            if name not in self.weights:
                problems.add(ParamError("weights", f"mix: input {name!r} has no weight (give it 0 to leave it out)"))
        if self.tokenizer:
            from thresher.transforms.text.tokens import load_tokenizer
            missing = check_path("tokenizer", self.tokenizer, "a Hugging Face tokenizer.json")
            if missing:
                problems.add(ParamError("tokenizer", f"mix: no tokenizer file: {missing}"))
            else:
                try:
                    load_tokenizer(self.tokenizer)
                except Exception as exc:
                    problems.add(ParamError("tokenizer", f"mix: cannot load tokenizer {self.tokenizer!r} "
                                                         f"(expected a Hugging Face tokenizer.json): {exc}"))
        if self.max_epochs is not None and not problems.errors:
            self._check_supply(inputs)
        problems.raise_if_any()

    def _check_supply(self, inputs: Dict[str, List[str]]) -> None:
        from thresher.transforms.select.input_bounds import source_supply
        per_byte = TOKENS_PER_BYTE_TOKENIZER if self.tokenizer else TOKENS_PER_BYTE_ESTIMATE
        for name in sorted(self.shares):
            share = self.budget * self.shares[name]
            if share <= 0:
                continue
            supply = source_supply(inputs[name])
            if self.unit == "documents":
                bound = supply.documents
            else:
                bound = None if supply.text_bytes is None else supply.text_bytes * per_byte
            if bound is not None and share > bound * self.max_epochs:
                raise ParamError(self.budget_param, (
                    f"mix: input {name!r} can supply at most {bound:,} {self.unit} (an upper bound from its "
                    f"files) x max_epochs {self.max_epochs:g} = {bound * self.max_epochs:,.0f}, but its weight "
                    f"{self.shares[name]:.4g} of the budget asks for {share:,.0f}; lower the budget or its "
                    f"weight, or raise max_epochs"))

    # ------------------------------------------------------------ the pipeline

    def expand(self, docs):
        weight = DocWeight(self.weight_by, self.weight_table)
        measured = docs | "count tokens" >> beam.ParDo(_Measure(self.tokenizer, weight, self.count_eos)).with_outputs(
            _AVAILABLE, ERRORS, main=_DOCS)
        plan = (measured[_AVAILABLE]
                | "available per source" >> beam.CombinePerKey(SumTuples())
                | "available" >> beam.combiners.ToDict()
                | "rates" >> beam.Map(source_rates, weight.denominator, self.shares, self.budget, self.unit,
                                      self.max_epochs))
        sampled = measured[_DOCS] | "sample" >> beam.ParDo(
            _Sample(self.seed, weight), beam.pvalue.AsSingleton(plan)).with_outputs(
            REJECTED, _ACHIEVED, _ADDED, ERRORS, main=KEPT)
        achieved = (sampled[_ACHIEVED]
                    | "achieved per source" >> beam.CombinePerKey(SumTuples())
                    | "achieved" >> beam.combiners.ToDict())
        summary = plan | "summary" >> beam.Map(self._summary, beam.pvalue.AsSingleton(achieved))
        report = (sampled[_ADDED]
                  | "copies added" >> beam.CombineGlobally(sum)
                  | "report" >> beam.Map(lambda n: (COPIES_ADDED, n)))
        errors = (measured[ERRORS], sampled[ERRORS]) | "errors" >> beam.Flatten()
        return step_outputs(sampled[KEPT], sampled[REJECTED], errors, report=report, summary=summary)

    def _summary(self, plan: Dict[str, dict], achieved: Dict[str, tuple]) -> dict:
        """The ``summary`` output (fields: the module docstring)."""
        return {"kind": "mix", "unit": self.unit, "budget": self.budget, "seed": self.seed,
                "max_epochs": self.max_epochs,
                "token_counting": TokenCounter(self.tokenizer, count_eos=self.count_eos).method,
                "sources": source_rows(plan, achieved, self.unit, bool(self.weight_by))}
