"""Classifier: score documents with a Hugging Face sequence-classification model through Beam's RunInference.

FineWeb-Edu (Penedo et al. 2024) keeps pages its BERT-size regression classifier rates
``int(round(score)) >= 3`` on their first 512 tokens; NeMo Curator's DeBERTa classifiers report
one label's probability. This step runs such a model folder with ONNX Runtime (Beam's
``OnnxModelHandlerNumpy``) or PyTorch/transformers (Beam's PyTorch handler), one model per worker
process (RunInference shares it), and decides with ``DecideByScore`` like ``quality_model``.
"""
from __future__ import annotations

import time
from typing import Dict, List, Optional

import apache_beam as beam
from apache_beam.ml.inference.base import KeyedModelHandler, RunInference

from thresher.transforms.base import ERRORS, KEPT, REJECTED, SUMMARY, ParamError, Step, StepCounters, step_outputs
from thresher.transforms.filters import classifier_model as cm
from thresher.transforms.filters.score_decision import DecideByScore
from thresher.transforms.per_process import per_process

NAME = "classifier"
LOW_SCORE = "classifier_low_score"
NO_TEXT = "classifier_no_text"
BACKENDS = ("auto", "onnx", "torch")
DEVICES = ("auto", "cpu", "cuda")
UNSCORED = "unscored"
#: documents tokenized and sorted together before they are cut into batches, per batch_size
SORT_WINDOW_BATCHES = 8
EXTRAS = {"onnx": ("onnxruntime", "onnx"), "torch": ("torch", "transformers")}


def shared_tokenizer(model: str, max_tokens: int) -> cm.BatchTokenizer:
    """The model folder's tokenizer, loaded once per worker process."""
    def load():
        folder = cm.resolve(model)
        config = cm.ModelConfig.read(folder)
        return cm.BatchTokenizer(cm.read_text(cm.join(folder, "tokenizer.json")), max_tokens, config.pad_token_id)
    return per_process(("BatchTokenizer", model, max_tokens), load)


class _SplitFn(beam.DoFn):
    """Documents with text go on to be scored; an empty text (after strip) is unscored."""

    def setup(self):
        self._counters = StepCounters(NAME)

    def process(self, doc):
        self._counters.docs_in.inc()
        if doc.text.strip():
            yield doc
        else:
            yield beam.pvalue.TaggedOutput(UNSCORED, doc)


class _TokenizeFn(beam.DoFn):
    """A list of documents -> ``(documents, batch array)`` elements, by similar token counts."""

    def __init__(self, model: str, max_tokens: int, batch_size: int, batch_tokens: Optional[int]):
        self._model, self._max, self._size, self._tokens = model, max_tokens, batch_size, batch_tokens

    def setup(self):
        self._counters = StepCounters(NAME)
        self._tokenizer = shared_tokenizer(self._model, self._max)

    def process(self, docs: List):
        started = time.perf_counter()
        try:
            encodings = self._tokenizer.encode(d.text for d in docs)
        except Exception:  # find the record(s) that raise; the others are scored
            encodings, good = [], []
            for doc in docs:
                try:
                    encodings.append(self._tokenizer.encode([doc.text])[0])
                    good.append(doc)
                except Exception as exc:
                    yield self._counters.error(exc, doc)
            docs = good
        for rows, array in self._tokenizer.batches(encodings, self._size, self._tokens):
            yield [docs[i] for i in rows], array
        self._counters.busy_us.inc(int((time.perf_counter() - started) * 1e6))


class _AttachFn(beam.DoFn):
    """Writes each document's score (and label, int score) from its batch's logits."""

    def __init__(self, step: "Classifier"):
        self._model, self._annotation = step.model, step.annotation
        self._output, self._int_score = step.output, step.int_score

    def setup(self):
        self._counters = StepCounters(NAME)
        self._config = cm.ModelConfig.read(cm.resolve(self._model))

    def process(self, keyed):
        docs, result = keyed
        try:
            scores, labels = cm.scores_from_logits(result.inference, self._output, self._config)
        except Exception as exc:  # a model whose outputs do not fit: each document of the batch is an error
            for doc in docs:
                yield self._counters.error(exc, doc)
            return
        name = self._annotation
        for i, doc in enumerate(docs):
            notes = {name: float(scores[i])}
            if labels is not None:
                notes[f"{name}_label"] = labels[i]
            if self._int_score is not None:
                lo, hi = self._int_score
                notes[f"{name}_int"] = int(round(max(lo, min(notes[name], hi))))
            yield doc.annotate(**notes)


class _FailedBatchFn(beam.DoFn):
    """A batch RunInference could not run (``(batch, exception)``, the exception as Beam's
    ``(class, repr, traceback)``): each of its documents becomes an error record."""

    def setup(self):
        self._counters = StepCounters(NAME)

    def process(self, failed):
        batch, exc = failed
        for element in batch:
            docs = element[0] if isinstance(element, tuple) else []
            for doc in docs:
                error = exc if isinstance(exc, BaseException) else RuntimeError(str(exc[1] if isinstance(exc, tuple) else exc))
                yield self._counters.error(error, doc).value  # the main output holds only error records


class Classifier(Step):
    """Score each document with a Hugging Face sequence classifier (ONNX Runtime or PyTorch) and keep the high scorers.

    Annotates ``annotation`` (float64) on every document with text; an empty text gets no score, is
    counted as unscored and, when deciding, dropped as ``classifier_no_text``. Texts longer than
    max_tokens are truncated (the first max_tokens tokens, special tokens included). Decisions as
    ``quality_model`` (``DecideByScore``): ties at the cutoff kept. Summary: ``{"kind": "quality",
    "threshold" or "top_percent" and "cutoff", "scored", "unscored"}``.

    Parameters:
        model: a Hugging Face model folder (config.json, tokenizer.json, model.onnx and/or
            model.safetensors), local or gs://, or a hub name (org/name, torch backend, internet needed); required.
        annotation: the score's annotation name (e.g. edu_score).
        output: regression (the single logit), argmax (the best label's index; its name in
            {annotation}_label) or a label name of config.json's id2label (its probability).
        backend: onnx (ONNX Runtime, model.onnx), torch (transformers), or auto (onnx when model.onnx is there).
        max_tokens: tokens read per document, special tokens included (FineWeb-Edu: 512).
        batch_size: documents per model call.
        batch_tokens: optional cap on a model call's padded tokens (rows x longest); a longer document goes alone.
        device: cpu, cuda, or auto (each worker uses its GPU when it has one; cuda: preflight checks this machine has one).
        half: on a GPU, run the torch backend in bfloat16 (float16 where bf16 is unsupported).
        threshold: keep documents scoring at least this (on the int score when int_score is given).
        top_percent: keep the top P percent of scored documents, within (0, 100].
        int_score: [lo, hi]: also annotate {annotation}_int = int(round(clamp(score, lo, hi)))
            (FineWeb-Edu: [0, 5]); threshold and top_percent then apply to it (Python's round: 2.5 -> 2).
    """

    name = NAME
    ANNOTATIONS = {"classifier_score": "float64", "classifier_score_label": "string", "classifier_score_int": "int64"}
    ANNOTATION_DOCS = {
        "classifier_score": "the model's score (regression value, label probability or argmax index)",
        "classifier_score_label": "output argmax: the best label's name",
        "classifier_score_int": "int_score: the score clamped to [lo, hi] and rounded",
    }
    DROP_REASONS = {LOW_SCORE: "score below threshold, or below the top_percent cutoff",
                    NO_TEXT: "empty text: no score (only when deciding)"}

    def __init__(self, model: str = "", annotation: str = "classifier_score", output: str = "regression",
                 backend: str = "auto", max_tokens: int = 512, batch_size: int = 32,
                 batch_tokens: Optional[int] = None, device: str = "auto", half: bool = False,
                 threshold: Optional[float] = None, top_percent: Optional[float] = None,
                 int_score: Optional[List[float]] = None):
        super().__init__()
        if not model:
            raise ParamError("model", f"{NAME}: model is required (a Hugging Face model folder)")
        if not annotation or not annotation.isidentifier():
            raise ParamError("annotation", f"{NAME}: annotation must be a name like edu_score, got {annotation!r}")
        if not output:
            raise ParamError("output", f"{NAME}: output must be regression, argmax or a label name")
        if backend not in BACKENDS:
            raise ParamError("backend", f"{NAME}: backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
        if device not in DEVICES:
            raise ParamError("device", f"{NAME}: device must be one of {', '.join(DEVICES)}, got {device!r}")
        if max_tokens < 2:
            raise ParamError("max_tokens", f"{NAME}: max_tokens must be at least 2, got {max_tokens}")
        if batch_size < 1:
            raise ParamError("batch_size", f"{NAME}: batch_size must be at least 1, got {batch_size}")
        if batch_tokens is not None and batch_tokens < 1:
            raise ParamError("batch_tokens", f"{NAME}: batch_tokens must be at least 1 (a longer document "
                                             f"goes alone), got {batch_tokens}")
        if half and device == "cpu":
            raise ParamError("half", f"{NAME}: half precision runs on a GPU only (device cpu given)")
        if threshold is not None and top_percent is not None:
            raise ParamError("top_percent", f"{NAME}: give threshold or top_percent, not both")
        if top_percent is not None and not 0.0 < top_percent <= 100.0:
            raise ParamError("top_percent", f"{NAME}: top_percent must be within (0, 100], got {top_percent}")
        if int_score is not None and not (isinstance(int_score, (list, tuple)) and len(int_score) == 2
                                          and all(isinstance(v, (int, float)) for v in int_score)
                                          and int_score[0] <= int_score[1]):
            raise ParamError("int_score", f"{NAME}: int_score must be [lo, hi] with lo <= hi, got {int_score!r}")
        if int_score is not None and output == "argmax":
            raise ParamError("int_score", f"{NAME}: int_score needs a regression or label score, not argmax")
        self.model, self.annotation, self.output, self.backend = model.rstrip("/") or model, annotation, output, backend
        self.max_tokens, self.batch_size, self.batch_tokens = int(max_tokens), int(batch_size), batch_tokens
        self.device, self.half = device, bool(half)
        self.threshold = None if threshold is None else float(threshold)
        self.top_percent = None if top_percent is None else float(top_percent)
        self.int_score = None if int_score is None else (float(int_score[0]), float(int_score[1]))
        docs = type(self).ANNOTATION_DOCS
        self.ANNOTATION_DOCS = {annotation: docs["classifier_score"], f"{annotation}_label": docs["classifier_score_label"],
                                f"{annotation}_int": docs["classifier_score_int"]}

    def written_annotations(self) -> Dict[str, str]:
        """``annotation`` always; ``{annotation}_label`` with output argmax; ``{annotation}_int`` with int_score."""
        written = {self.annotation: "float64"}
        if self.output == "argmax":
            written[f"{self.annotation}_label"] = "string"
        if self.int_score is not None:
            written[f"{self.annotation}_int"] = "int64"
        return written

    def resolved_backend(self) -> str:
        if self.backend != "auto":
            return self.backend
        return "onnx" if not cm.is_hub_name(self.model) and cm.exists(cm.join(self.model, cm.ONNX_FILE)) else "torch"

    def preflight(self, inputs: Dict[str, List[str]]) -> None:
        """The model folder, its tokenizer and config, the output asked for, the backend's library and
        its model file, and a GPU when device is cuda: each a one-line ParamError."""
        folder = self._preflight_folder()
        for name in ("config.json", "tokenizer.json"):
            if not cm.exists(cm.join(folder, name)):
                raise ParamError("model", f"{self.model}: no {name} in the model folder")
        try:
            config = cm.ModelConfig.read(folder)
            cm.BatchTokenizer(cm.read_text(cm.join(folder, "tokenizer.json")), self.max_tokens)
        except Exception as exc:
            raise ParamError("model", f"{self.model}: config.json or tokenizer.json does not load: "
                                      f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}") from None
        if self.output == "regression" and config.num_labels != 1:
            raise ParamError("output", f"{NAME}: output regression needs a model with one output; this one has "
                                       f"{config.num_labels} labels ({', '.join(config.labels)})")
        if self.output not in ("regression", "argmax") and self.output not in config.labels:
            raise ParamError("output", f"{NAME}: output {self.output!r} is not a label of the model "
                                       f"(labels: {', '.join(config.labels)}; or regression, argmax)")
        if config.max_positions and self.max_tokens > int(config.max_positions):
            raise ParamError("max_tokens", f"{NAME}: max_tokens {self.max_tokens} is more than the model's "
                                           f"{config.max_positions} positions")
        backend = self.resolved_backend()
        for module in EXTRAS[backend]:
            try:
                __import__(module)
            except ImportError:
                raise ParamError("backend", f"{NAME}: backend {backend} needs {module}: "
                                            f"pip install 'thresher[{backend}]'") from None
        files = (cm.ONNX_FILE,) if backend == "onnx" else cm.TORCH_FILES
        if not any(cm.exists(cm.join(folder, f)) for f in files):
            raise ParamError("model", f"{self.model}: backend {backend} needs {' or '.join(files)} in the model folder")
        if self.half and backend == "onnx":
            raise ParamError("half", f"{NAME}: half applies to the torch backend; export a float16 ONNX model instead")
        if self.device == "cuda" and not cm.gpu_present():
            raise ParamError("device", f"{NAME}: device cuda but this machine has no CUDA GPU (use device auto or cpu)")
        if self.device == "cuda" and backend == "onnx":
            import onnxruntime

            if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
                raise ParamError("device", f"{NAME}: device cuda with backend onnx needs ONNX Runtime's CUDA build: "
                                           f"pip install onnxruntime-gpu")

    def _preflight_folder(self) -> str:
        """The model folder to check: ``model`` itself, or a hub name's downloaded copy."""
        from thresher.transforms.preflight import check_path

        if not cm.is_hub_name(self.model):
            missing = check_path("model", self.model, "a Hugging Face model folder", kind="dir")
            if missing:
                raise missing
            return self.model
        if self.backend == "onnx":
            raise ParamError("model", f"{self.model}: no such folder (a hub model is read with backend torch; "
                                      f"for onnx, export it to a folder)")
        try:
            return cm.resolve(self.model)
        except Exception as exc:  # no internet, no such repository...
            first = (str(exc).strip().splitlines() or [""])[0]
            raise ParamError("model", f"{self.model}: no such folder, and not reachable as a Hugging Face hub "
                                      f"model ({type(exc).__name__}: {first})") from None

    def ships_light(self) -> bool:
        """With ``top_percent`` the documents wait for the cut-off without their text (``DecideByScore``)."""
        return self.top_percent is not None

    def expand(self, docs):
        split = docs | "Split empty" >> beam.ParDo(_SplitFn()).with_outputs(UNSCORED, main=KEPT)
        handler = (cm.onnx_handler(self.model, self.device) if self.resolved_backend() == "onnx"
                   else cm.torch_handler(self.model, self.device, self.half))
        window = self.batch_size * SORT_WINDOW_BATCHES
        tokenized = (split[KEPT]
                     | "Window" >> beam.BatchElements(min_batch_size=window, max_batch_size=window)
                     | "Tokenize" >> beam.ParDo(_TokenizeFn(self.model, self.max_tokens, self.batch_size,
                                                            self.batch_tokens)).with_outputs(ERRORS, main=KEPT))
        inferred, failed = (tokenized[KEPT]
                            | "RunInference" >> RunInference(KeyedModelHandler(handler)).with_exception_handling())
        attached = inferred | "Attach" >> beam.ParDo(_AttachFn(self)).with_outputs(ERRORS, main=KEPT)
        failed_errors = failed.failed_inferences | "Failed batches" >> beam.ParDo(_FailedBatchFn())
        scored = (attached[KEPT], split[UNSCORED]) | "Scored and unscored" >> beam.Flatten()
        decide_on = f"{self.annotation}_int" if self.int_score is not None else self.annotation
        decided = scored | "Decide" >> DecideByScore(NAME, decide_on, self.threshold, self.top_percent,
                                                     reason=LOW_SCORE, unscored_reason=NO_TEXT, kind="quality")
        errors = ((tokenized[ERRORS], attached[ERRORS], failed_errors) | "Errors" >> beam.Flatten())
        return step_outputs(decided[KEPT], decided[REJECTED], errors, summary=decided[SUMMARY])
