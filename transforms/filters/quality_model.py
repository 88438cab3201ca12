"""Quality model: score documents with a fastText classifier and keep the best (DCLM).

DCLM (Li et al. 2024, "DataComp-LM") scores every page with a fastText
bigram classifier trained on OpenHermes 2.5 + r/ExplainLikeImFive
(``__label__hq``) against RefinedWeb (``__label__cc``) and keeps the top 10%
(a cutoff of 0.018112 on that model). This step runs any fastText supervised
model a user brings (DCLM's, or one made by ``thresher train-quality``) the
way DCLM's ``classify_fasttext_hq_prob`` runs it:

* text: ``quality_text`` (DCLM's ``" ".join(text.strip().splitlines())``), the
  one normalisation used both to train (``pipelines/commands/train_quality.py``) and to
  score; no lowercasing or tokenisation (DCLM does none);
* score: for a two-label model, DCLM's rule: the top label's probability if it
  is the positive label, else 1 minus it (fastText reports p + 1e-5, so this
  is DCLM's number to the bit). For a model with more labels, the positive
  label's reported probability. Scores are not clipped: like DCLM's, they can
  lie up to 1e-5 outside [0, 1] (above 1 or below 0 only when the model is
  sure to within 1e-5), which keeps the ranking of very confident documents;
* decision: keep when ``score >= cutoff`` (DCLM's ``quality_filter``; ties kept).

An empty text is scored like any other: the model sees only its end-of-line
token (DCLM does the same); a model that returns no label at all gives 0.0.
Texts with lone surrogates are predicted with them replaced by ``?`` (what the
training file holds for them).

Per-document prediction, not batches: ``multilinePredict`` on batches of 256
saved only a few percent per text (measured once on a bigram model, one core),
not worth a buffering DoFn.

``top_percent`` needs the corpus-wide cutoff, so the step is a composite:
score, find the cutoff with Beam's approximate quantiles (side input), decide.
"""
from __future__ import annotations

import os
import tempfile
import time
from typing import Dict, List, Optional

import apache_beam as beam
import xxhash
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from thresher.transforms.base import ERRORS, KEPT, REJECTED, SUMMARY, ParamError, Step, StepCounters, step_outputs
from thresher.transforms.document import Document
from thresher.transforms.filters.score_decision import (  # noqa: F401 (QUANTILE_*, cutoff_from_quantiles: re-exported)
    QUANTILE_EPSILON, QUANTILE_STEPS, DecideByScore, cutoff_from_quantiles)
from thresher.transforms.per_process import per_process

NAME = "quality_model"
LOW_SCORE = "quality_model_low_score"
LABEL_PREFIX = "__label__"
# DCLM (Li et al. 2024): positive label of its OH+ELI5 classifier; top 10% kept, cutoff 0.018112 on that model.
DCLM_POSITIVE_LABEL = "__label__hq"
DCLM_TOP_PERCENT = 10.0
DCLM_THRESHOLD = 0.018112


def quality_text(text: str) -> str:
    """The text a quality model sees, in training and scoring alike (DCLM's normalisation):
    ends stripped, lines (``str.splitlines``: \\n, \\r, \\v, \\f, \\x1c-\\x1e, \\x85, U+2028/9) joined by one space.
    Nothing else changes: case, other whitespace and punctuation are kept."""
    return " ".join(text.strip().splitlines())


def label_name(label: str) -> str:
    """``hq`` -> ``__label__hq``; a name that already has the prefix is kept."""
    return label if label.startswith(LABEL_PREFIX) else LABEL_PREFIX + label


class FastTextClassifier:
    """A loaded fastText supervised model and the DCLM scoring rule."""

    def __init__(self, path: str = "", model=None):
        if model is None:
            from fasttext.FastText import _FastText  # fasttext.load_model without its warning
            model = _FastText(model_path=local_model_path(path))
        self.path = path
        self._ft = model
        self.labels: List[str] = list(model.get_labels())

    def resolve_label(self, label: str) -> str:
        """The model's label for ``label`` (as given, else with ``__label__``); ValueError if absent."""
        for candidate in (label, label_name(label)):
            if candidate in self.labels:
                return candidate
        raise ValueError(f"{NAME}: label {label!r} is not a label of the model {self.path or ''} "
                         f"(labels: {', '.join(self.labels)})")

    def _predict(self, line: str, k: int):
        try:
            return self._ft.f.predict(line, k, 0.0, "strict")
        except (TypeError, UnicodeEncodeError):  # lone surrogates: pybind cannot encode the str
            return self._ft.f.predict(line.encode("utf-8", "replace"), k, 0.0, "strict")

    def score(self, text: str, positive: str) -> float:
        """Probability of the (resolved) ``positive`` label for ``text`` (DCLM's number; see the module)."""
        line = quality_text(text) + "\n"
        if len(self.labels) == 2:  # DCLM: top label's probability, or 1 minus it
            pairs = self._predict(line, 1)
            if not pairs:
                return 0.0
            prob, label = pairs[0]
            score = prob if label == positive else 1.0 - prob
        else:
            score = next((prob for prob, label in self._predict(line, -1) if label == positive), 0.0)
        return float(score)


def local_model_path(path: str) -> str:
    """``path`` itself when local; a gs:// (or other remote) file is copied once to the temp folder."""
    if FileSystems.get_scheme(path) in (None, "file"):
        return path
    folder = os.path.join(tempfile.gettempdir(), "thresher-models")
    os.makedirs(folder, exist_ok=True)
    local = os.path.join(folder, xxhash.xxh64_hexdigest(path.encode("utf-8")) + "-" + os.path.basename(path))
    size = FileSystems.match([path])[0].metadata_list[0].size_in_bytes
    if not (os.path.isfile(local) and os.path.getsize(local) == size):
        partial = f"{local}.{os.getpid()}.part"
        with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as src, open(partial, "wb") as dst:
            for chunk in iter(lambda: src.read(1 << 22), b""):
                dst.write(chunk)
        os.replace(partial, local)
    return local


def shared_classifier(path: str) -> FastTextClassifier:
    """The model at ``path``, loaded once per worker process and shared by its threads."""
    return per_process(("FastTextClassifier", path), lambda: FastTextClassifier(path))


class _ScoreFn(beam.DoFn):
    """Annotates each document with ``quality_score``; a record that raises goes to ERRORS."""

    def __init__(self, model_path: str, positive_label: str):
        self._path, self._label = model_path, positive_label

    def setup(self):
        self._counters = StepCounters(NAME)
        self._model = shared_classifier(self._path)  # kept referenced: Shared holds it weakly
        self._positive = self._model.resolve_label(self._label)

    def process(self, doc: Document):
        counters = self._counters
        counters.docs_in.inc()
        started = time.perf_counter()
        try:
            scored = doc.annotate(quality_score=self._model.score(doc.text, self._positive))
        except Exception as exc:  # one bad record must never fail the job
            yield counters.error(exc, doc)
            return
        finally:
            counters.busy_us.inc(int((time.perf_counter() - started) * 1e6))
        yield scored


class QualityModel(Step):
    """Score each document with a fastText quality classifier and keep the high scorers (DCLM).

    Annotates ``quality_score`` (probability of the positive label, also on rejected documents);
    drops documents below the cutoff as ``quality_model_low_score``. With neither ``threshold``
    nor ``top_percent`` it only annotates. Summary: ``{"kind": "quality", "threshold" or
    "top_percent" and "cutoff", "scored", "unscored"}`` (``DecideByScore``; unscored is always 0 here).

    Source: DCLM (Li et al. 2024), ``classify_fasttext_hq_prob`` + ``quality_filter`` in
    mlfoundations/dclm: newlines joined by spaces, kept when score >= cutoff; top 10% kept.
    ``top_percent`` uses Beam's approximate quantiles (epsilon 1e-3): up to 10,001 documents exactly
    the top ceil(N * P / 100) are kept; beyond, the kept fraction is within 0.11 percentage point of
    P (Beam's worst-case bound plus the 1/10,000 quantile grid). Ties at the cutoff are all kept.

    Parameters:
        model_path: the fastText supervised model (.bin/.ftz), local or gs://; required.
        positive_label: the label whose probability is the score (``__label__hq`` or ``hq``).
        threshold: keep documents scoring at least this, within [0, 1] (DCLM: 0.018112 on its model).
        top_percent: keep the top P percent of the corpus, within (0, 100] (DCLM: 10).
    """

    name = NAME
    ANNOTATIONS = {"quality_score": "float64"}
    ANNOTATION_DOCS = {"quality_score": "the model's probability of positive_label"}
    DROP_REASONS = {"quality_model_low_score": "score below threshold, or below the top_percent cutoff"}

    def __init__(self, model_path: str = "", positive_label: str = DCLM_POSITIVE_LABEL,
                 threshold: Optional[float] = None, top_percent: Optional[float] = None):
        super().__init__()
        if not model_path:
            raise ParamError("model_path", f"{NAME}: model_path is required (a fastText supervised model)")
        if not positive_label or positive_label != positive_label.strip() or " " in positive_label:
            raise ParamError("positive_label", f"{NAME}: positive_label must be a label name, got {positive_label!r}")
        if threshold is not None and top_percent is not None:
            raise ParamError("top_percent", f"{NAME}: give threshold or top_percent, not both")
        if threshold is not None and not 0.0 <= threshold <= 1.0:
            raise ParamError("threshold", f"{NAME}: threshold must be within [0, 1], got {threshold}")
        if top_percent is not None and not 0.0 < top_percent <= 100.0:
            raise ParamError("top_percent", f"{NAME}: top_percent must be within (0, 100], got {top_percent}")
        self.model_path = model_path
        self.positive_label = positive_label
        self.threshold = None if threshold is None else float(threshold)
        self.top_percent = None if top_percent is None else float(top_percent)

    def preflight(self, inputs: Dict[str, List[str]]) -> None:
        """The model file exists and loads as the workers load it, and ``positive_label`` is one of its
        labels. The model is loaded here once and let go (not kept in this process)."""
        from thresher.transforms.preflight import check_path

        missing = check_path("model_path", self.model_path, "a fastText supervised model (.bin/.ftz)")
        if missing:
            raise missing
        try:
            model = FastTextClassifier(self.model_path)
        except Exception as exc:  # not a fastText model, a truncated file...
            raise ParamError("model_path", f"{self.model_path}: does not load as a fastText model: "
                                           f"{type(exc).__name__}: {exc}") from None
        try:
            model.resolve_label(self.positive_label)
        except ValueError as exc:
            raise ParamError("positive_label", str(exc)) from None

    def ships_light(self) -> bool:
        """With ``top_percent`` the documents wait for the cut-off without their text (``DecideByScore``)."""
        return self.top_percent is not None

    def expand(self, docs):
        scored = (docs | "Score" >> beam.ParDo(_ScoreFn(self.model_path, self.positive_label))
                  .with_outputs(ERRORS, main=KEPT))
        decided = scored[KEPT] | "Decide" >> DecideByScore(NAME, "quality_score", self.threshold, self.top_percent,
                                                           reason=LOW_SCORE, kind="quality")
        return step_outputs(decided[KEPT], decided[REJECTED], scored[ERRORS], summary=decided[SUMMARY])

    def __getstate__(self):
        state = dict(self.__dict__)
        state.pop("pipeline", None)
        return state

