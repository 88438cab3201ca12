"""Perplexity: score documents with a KenLM model per language and keep the fluent ones (CCNet).

CCNet (Wenzek et al. 2020) scores every page with a 5-gram KenLM model trained on Wikipedia
of the page's language, after its normalisation and SentencePiece, and splits each language
into head / middle / tail by the 30th and 60th percentiles of those perplexities (its
``cutoff.csv``); RedPajama-V2's ``ccnet_perplexity`` and ``ccnet_bucket`` signals come from
its run of CCNet's pipeline. How a document is scored (and why ``per_line: false`` is what
CCNet's published numbers and cut-offs use): ``thresher.transforms.filters.ccnet_lm``. Buckets as CCNet's ``PerplexityBucket``:
``head`` below the first cut-off, ``middle`` below the second, else ``tail``; a scored document
of a language without cut-offs is ``all`` (CCNet's word).

A document is *unscored* when its language (the ``language_field`` annotation, else
``default_language``) has no model, or its text is empty: kept when annotating only; when
deciding, dropped as ``perplexity_unscored`` unless ``keep_unscored`` (CCNet's
``keep_bucket`` also drops them).
"""
from __future__ import annotations

import math
import os
from typing import Dict, List, Optional, Union

import apache_beam as beam

from thresher.transforms.base import ERRORS, KEPT, REJECTED, ParamError, Step, StepCounters, flatten_or_empty, \
    step_outputs
from thresher.transforms.document import Document
from thresher.transforms.filters.ccnet_lm import CCNetLanguageModel, missing_library, shared_language_model
from thresher.transforms.filters.score_decision import DecideByScore

NAME = "perplexity"
BUCKETS = ("head", "middle", "tail", "all")
TOO_HIGH = "perplexity_too_high"
BUCKET = "perplexity_bucket"
UNSCORED = "perplexity_unscored"


def bucket_of(perplexity: float, cutoffs: Optional[List[float]]) -> str:
    """CCNet's bucket: head below ``cutoffs[0]``, middle below ``cutoffs[1]``, else tail; ``all`` without cut-offs."""
    if not cutoffs:
        return "all"
    if perplexity < cutoffs[0]:
        return "head"
    return "middle" if perplexity < cutoffs[1] else "tail"


def _home(path: str) -> str:
    return os.path.expanduser(path) if path.startswith("~/") else path


class _ScoreFn(beam.DoFn):
    """Annotates ``perplexity`` (and ``perplexity_bucket``) on documents whose language has a model."""

    def __init__(self, step: "Perplexity"):
        self._step = step

    def setup(self):
        self._counters = StepCounters(NAME)
        step = self._step
        self._models = {lang: shared_language_model(m["lm"], m["sp"]) for lang, m in step.models.items()}

    def process(self, doc: Document):
        step, counters = self._step, self._counters
        counters.docs_in.inc()
        try:
            lang = doc.annotations.get(step.language_field) or step.default_language
            model = self._models.get(lang) if isinstance(lang, str) else None
            value = model.perplexity(doc.text, step.per_line) if model is not None else None
        except Exception as exc:  # one bad record must never fail the job
            yield counters.error(exc, doc)
            return
        if value is None:
            yield doc
        elif step.cutoffs is not None:
            yield doc.annotate(perplexity=value, perplexity_bucket=bucket_of(value, step.cutoffs.get(lang)))
        else:
            yield doc.annotate(perplexity=value)


class _BucketFn(beam.DoFn):
    """Keeps scored documents whose bucket is listed; unscored ones per ``keep_unscored``."""

    def __init__(self, keep: List[str], keep_unscored: bool):
        self._keep, self._keep_unscored = set(keep), keep_unscored

    def setup(self):
        self._counters = StepCounters(NAME)

    def process(self, doc: Document):
        bucket = doc.annotations.get("perplexity_bucket")
        if (bucket in self._keep) if "perplexity" in doc.annotations else self._keep_unscored:
            self._counters.docs_out.inc()
            yield doc
        else:
            yield self._counters.reject(doc, BUCKET if "perplexity" in doc.annotations else UNSCORED)


class _Summary(beam.CombineFn):
    """{"scored", "unscored", "languages": {lang: scored}, "buckets": {bucket: scored}}."""

    def __init__(self, language_field: str, default_language: Optional[str]):
        self._field, self._default = language_field, default_language

    def create_accumulator(self):
        return {"scored": 0, "unscored": 0, "languages": {}, "buckets": {}}

    def add_input(self, acc, doc):
        if doc.annotations.get("perplexity") is None:
            acc["unscored"] += 1
            return acc
        acc["scored"] += 1
        lang = str(doc.annotations.get(self._field) or self._default)
        acc["languages"][lang] = acc["languages"].get(lang, 0) + 1
        bucket = doc.annotations.get("perplexity_bucket")
        if bucket is not None:
            acc["buckets"][bucket] = acc["buckets"].get(bucket, 0) + 1
        return acc

    def merge_accumulators(self, accs):
        merged = self.create_accumulator()
        for acc in accs:
            merged["scored"] += acc["scored"]
            merged["unscored"] += acc["unscored"]
            for key in ("languages", "buckets"):
                for name, n in acc[key].items():
                    merged[key][name] = merged[key].get(name, 0) + n
        return merged

    def extract_output(self, acc):
        return acc


def _summary(counts: dict, decision: Dict[str, object]) -> Dict[str, object]:
    summary: Dict[str, object] = {"kind": "perplexity", **decision, "scored": counts["scored"],
                                  "unscored": counts["unscored"],
                                  "languages": dict(sorted(counts["languages"].items()))}
    if counts["buckets"]:
        summary["buckets"] = {b: counts["buckets"][b] for b in BUCKETS if b in counts["buckets"]}
    return summary


class Perplexity(Step):
    """Score each document's perplexity under a KenLM model of its language and keep the fluent ones (CCNet).

    Annotates ``perplexity`` (CCNet's number: normalised, SentencePiece, KenLM, 1 decimal) and, with
    ``cutoffs``, ``perplexity_bucket``, on documents whose language has a model. Keeps documents at or
    below ``max_perplexity``, or in ``keep_buckets``; with neither it only annotates. Summary:
    ``{"kind": "perplexity", "max_perplexity" or "keep_buckets", "scored", "unscored", "languages",
    "buckets"}``.

    Source: CCNet (Wenzek et al. 2020), facebookresearch/cc_net ``perplexity.py`` (``DocLM``,
    ``PerplexityBucket``) and ``text_normalizer.py``; its models are ``lm_sp/{lang}.arpa.bin`` and
    ``{lang}.sp.model``; ``thresher train-lm`` builds a small pair from a corpus.

    Parameters:
        models: language -> {"lm": KenLM model (.arpa or .bin), "sp": SentencePiece .model}, local or gs://.
        language_field: the annotation naming a document's language (the ``language`` step writes it).
        default_language: the language of documents without that annotation (null: they are unscored).
        per_line: score each line as CCNet's ``DocLM`` does; false: the whole text as one line, as
            CCNet's mining pipeline (its published perplexities and cut-offs) does.
        cutoffs: language -> [head, tail] perplexities (CCNet: the 30th and 60th percentiles).
        max_perplexity: keep documents whose perplexity is at most this: a number, or language -> number
            (a scored document of a language not listed is kept).
        keep_buckets: keep documents in these buckets (head, middle, tail, all); needs cutoffs.
        keep_unscored: when deciding, keep documents that got no perplexity instead of dropping them.
    """

    name = NAME
    ANNOTATIONS = {"perplexity": "float64", "perplexity_bucket": "string"}
    ANNOTATION_DOCS = {"perplexity": "CCNet's perplexity under the model of the document's language",
                       "perplexity_bucket": "head, middle or tail by the language's cutoffs (all: no cutoffs)"}
    DROP_REASONS = {TOO_HIGH: "perplexity above max_perplexity",
                    BUCKET: "perplexity bucket not in keep_buckets",
                    UNSCORED: "no model for the document's language, or an empty text (when deciding)"}

    def __init__(self, models: Dict[str, Dict[str, str]], language_field: str = "language",
                 default_language: Optional[str] = None, per_line: bool = True,
                 cutoffs: Optional[Dict[str, List[float]]] = None,
                 max_perplexity: Optional[Union[float, Dict[str, float]]] = None,
                 keep_buckets: Optional[List[str]] = None, keep_unscored: bool = False):
        super().__init__()
        if not models:
            raise ParamError("models", f"{NAME}: models is required: language -> {{lm: file.arpa, sp: file.model}}")
        for lang, pair in models.items():
            if not isinstance(pair, dict) or set(pair) != {"lm", "sp"} or not all(
                    isinstance(v, str) and v for v in pair.values()):
                raise ParamError("models", f"{NAME}: models.{lang} must be {{lm: KenLM file, sp: SentencePiece "
                                           f"model}}, got {pair!r}")
        if not language_field:
            raise ParamError("language_field", f"{NAME}: language_field must name an annotation")
        for lang, pair in (cutoffs or {}).items():
            if len(pair) != 2 or not 0 < pair[0] <= pair[1]:
                raise ParamError("cutoffs", f"{NAME}: cutoffs.{lang} must be [head, tail] with 0 < head <= tail, "
                                            f"got {pair}")
        limits = (dict(max_perplexity) if isinstance(max_perplexity, dict)
                  else {} if max_perplexity is None else {"": max_perplexity})
        for value in limits.values():
            if not value > 0 or math.isinf(value):
                raise ParamError("max_perplexity", f"{NAME}: max_perplexity must be a positive number, got {value}")
        if isinstance(max_perplexity, dict) and not max_perplexity:
            raise ParamError("max_perplexity", f"{NAME}: max_perplexity names no language")
        for param, langs in (("cutoffs", cutoffs or {}), ("max_perplexity", limits)):
            unknown = sorted(set(langs) - set(models) - {""})
            if unknown:
                raise ParamError(param, f"{NAME}: {param} names languages without a model: {', '.join(unknown)} "
                                        f"(models: {', '.join(sorted(models))})")
        if keep_buckets is not None:
            bad = [b for b in keep_buckets if b not in BUCKETS]
            if bad or not keep_buckets:
                raise ParamError("keep_buckets", f"{NAME}: keep_buckets must list some of {', '.join(BUCKETS)}, "
                                                 f"got {keep_buckets}")
            if cutoffs is None:
                raise ParamError("keep_buckets", f"{NAME}: keep_buckets needs cutoffs (language -> [head, tail])")
            if max_perplexity is not None:
                raise ParamError("keep_buckets", f"{NAME}: give max_perplexity or keep_buckets, not both")
        self.models = {lang: {k: _home(v) for k, v in pair.items()} for lang, pair in models.items()}
        self.language_field, self.default_language, self.per_line = language_field, default_language, per_line
        self.cutoffs = None if cutoffs is None else {lang: [float(v) for v in c] for lang, c in cutoffs.items()}
        self.max_perplexity = (None if max_perplexity is None else dict(max_perplexity)
                               if isinstance(max_perplexity, dict) else float(max_perplexity))
        self.keep_buckets = None if keep_buckets is None else list(keep_buckets)
        self.keep_unscored = keep_unscored

    def written_annotations(self) -> Dict[str, str]:
        """``perplexity`` always; ``perplexity_bucket`` with cutoffs."""
        return {k: v for k, v in self.ANNOTATIONS.items() if k == "perplexity" or self.cutoffs is not None}

    def preflight(self, inputs: Dict[str, List[str]]) -> None:
        """kenlm and sentencepiece import; every model file exists and loads (loaded here once, let go)."""
        from thresher.transforms.preflight import Problems, check_path

        missing = missing_library()
        if missing:
            raise ParamError("models", missing)
        problems = Problems()
        for lang, pair in self.models.items():
            found = [check_path(f"models.{lang}.{k}", pair[k], what)
                     for k, what in (("lm", "a KenLM model, .arpa or .bin"), ("sp", "a SentencePiece .model"))]
            for error in found:
                problems.add(error)
            if not any(found):
                problems.check(f"models.{lang}", lambda pair=pair, lang=lang: _load(lang, pair))
        problems.raise_if_any()

    def expand(self, docs):
        scored = docs | "Score" >> beam.ParDo(_ScoreFn(self)).with_outputs(ERRORS, main=KEPT)
        counts = scored[KEPT] | "Count" >> beam.CombineGlobally(_Summary(self.language_field, self.default_language))
        unscored = None if self.keep_unscored else UNSCORED
        if self.keep_buckets is not None:
            decided = scored[KEPT] | "Decide" >> beam.ParDo(_BucketFn(self.keep_buckets, self.keep_unscored)) \
                .with_outputs(REJECTED, main=KEPT)
            kept, dropped, decision = decided[KEPT], decided[REJECTED], {"keep_buckets": self.keep_buckets}
        elif isinstance(self.max_perplexity, dict):
            kept, dropped = self._per_language(scored[KEPT], unscored)
            decision = {"max_perplexity": self.max_perplexity}
        else:
            decided = scored[KEPT] | "Decide" >> DecideByScore(
                NAME, "perplexity", threshold=self.max_perplexity, higher_is_better=False, reason=TOO_HIGH,
                unscored_reason=unscored, kind=NAME)
            kept, dropped = decided[KEPT], decided[REJECTED]
            decision = {} if self.max_perplexity is None else {"max_perplexity": self.max_perplexity}
        summary = counts | "Summary" >> beam.Map(_summary, decision)
        return step_outputs(kept, dropped, scored[ERRORS], summary=summary)

    def _per_language(self, docs, unscored: Optional[str]):
        """One DecideByScore per language of ``max_perplexity``; the rest only drop the unscored."""
        langs = sorted(self.max_perplexity)
        field, default = self.language_field, self.default_language

        def part(doc: Document, n: int) -> int:
            lang = doc.annotations.get(field) or default
            return langs.index(lang) if doc.annotations.get("perplexity") is not None and lang in langs else n - 1

        parts = docs | "By language" >> beam.Partition(part, len(langs) + 1)
        limits = [self.max_perplexity[lang] for lang in langs] + [math.inf]
        kept, dropped = [], []
        for i, (lang, limit) in enumerate(zip(langs + ["other"], limits)):
            decided = parts[i] | f"Decide {lang}" >> DecideByScore(
                NAME, "perplexity", threshold=limit, higher_is_better=False, reason=TOO_HIGH,
                unscored_reason=unscored, kind=NAME)
            kept.append(decided[KEPT])
            dropped.append(decided[REJECTED])
        pipeline = docs.pipeline
        return flatten_or_empty(pipeline, kept, "Kept"), flatten_or_empty(pipeline, dropped, "Dropped")


def _load(lang: str, pair: Dict[str, str]) -> None:
    try:
        CCNetLanguageModel(pair["lm"], pair["sp"])
    except Exception as exc:  # not a KenLM / SentencePiece file, truncated...
        text = " ".join(str(exc).split())[:300]
        raise ParamError(f"models.{lang}", f"{pair['lm']} / {pair['sp']}: does not load as a KenLM model and "
                                           f"a SentencePiece model: {type(exc).__name__}: {text}") from None
