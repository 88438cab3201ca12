"""``thresher train-quality``: train a fastText quality classifier the way DCLM did.

    thresher train-quality --positive 'hq/*.jsonl' --negative 'cc/*.parquet' --out quality.bin

DCLM (Li et al. 2024) trained a fastText bigram classifier (``wordNgrams=2``,
other settings fastText's defaults) on OpenHermes 2.5 + ELI5 as ``__label__hq``
against RefinedWeb as ``__label__cc``; the ``quality_model`` step then scores a
corpus with it. Here:

* inputs: globs read with the project's sources (JSONL, Parquet, WET... by
  extension, ``--text-field`` naming the text), plus plain text (``.txt``,
  ``.txt.gz``...: one document per non-blank line, like fastText's own files);
* text: ``thresher.transforms.filters.quality_model.quality_text``, the normalisation the step
  applies when scoring; empty texts are skipped. Tokens starting with
  ``__label__`` are removed from training lines (fastText would read them as
  extra labels; it ignores them when predicting);
* split: by the xxh64 hash of the normalised text seeded with ``--seed``, so
  copies of one text all fall on the same side and the split does not depend
  on input order. Classes are used as read (no balancing);
* training file: the lines are shuffled deterministically (hash buckets, each
  shuffled with the seed), so memory holds the held-out texts and one bucket,
  not the corpus. fastText training is deterministic only with ``--thread 1``;
* evaluation on the held-out split with the step's own scoring: precision,
  recall and F1 of the positive class at score >= 0.5, and ROC AUC (rank-based,
  ties averaged). Written with the counts and parameters beside the model, to
  ``--out`` + ``.metrics.json`` (``quality.bin.metrics.json``).

fastText as built today leaves most of its input matrix uninitialised (see
``zeroed_allocations``); training runs with glibc's malloc handing out zeroed
memory, so that a run does not depend on the process's history.

Exit status 2, with a message, when a glob matches nothing, a file's format is
unknown or a class has no (training) documents; 1 when fastText training fails
(diverges to NaN).
"""
from __future__ import annotations

import argparse
import contextlib
import ctypes
import ctypes.util
import json
import multiprocessing
import os
import random
import re
import sys
import tempfile
from typing import Dict, List, Optional, Tuple

import numpy as np
import xxhash
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from thresher.transforms.filters.quality_model import LABEL_PREFIX, FastTextClassifier, label_name, quality_text
from thresher.pipelines.commands.corpus_texts import UsageError, exit_2_on_usage_error, match_inputs, read_texts
from thresher.transforms.io.sources.common import ReadError

FORMATS = ("auto", "jsonl", "parquet", "text")
DCLM_POSITIVE, DCLM_NEGATIVE = "hq", "cc"
BUCKETS = 64  # training lines are shuffled one hash bucket at a time
DECISION = 0.5  # precision / recall / F1 threshold on the positive score
M_PERTURB = -6  # glibc mallopt: fill allocations with (value ^ 0xff)
# fastText train_supervised parameters: (name, type, default, help). DCLM: wordNgrams=2, the rest fastText's.
FASTTEXT_PARAMS = (
    ("lr", float, 0.1, "learning rate"),
    ("dim", int, 100, "size of word vectors"),
    ("ws", int, 5, "context window"),
    ("epoch", int, 5, "number of epochs"),
    ("minCount", int, 1, "minimal number of word occurrences"),
    ("minCountLabel", int, 0, "minimal number of label occurrences"),
    ("minn", int, 0, "min length of char ngram (0: none)"),
    ("maxn", int, 0, "max length of char ngram (0: none)"),
    ("neg", int, 5, "number of negatives sampled"),
    ("wordNgrams", int, 2, "max length of word ngram (DCLM: 2)"),
    ("loss", str, "softmax", "loss function: softmax, ns, hs or ova"),
    ("bucket", int, 2_000_000, "number of buckets for word ngram hashes"),
    ("thread", int, max(1, multiprocessing.cpu_count() - 1), "threads (training is deterministic with 1)"),
    ("lrUpdateRate", int, 100, "rate of updates for the learning rate"),
    ("t", float, 1e-4, "sampling threshold"),
    ("pretrainedVectors", str, "", "pretrained word vectors (.vec) for supervised learning"),
    ("verbose", int, 2, "fastText verbosity (0: quiet)"),
)
_LABEL_TOKEN = re.compile(r"(?:^|(?<=[ \t\v\f\r\x00]))" + LABEL_PREFIX + r"[^ \t\v\f\r\x00]*")


def _dashed(name: str) -> str:
    return re.sub(r"([A-Z])", lambda m: "-" + m.group(1).lower(), name)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``train-quality`` options."""
    parser.add_argument("--positive", action="append", default=[], metavar="GLOB", required=True,
                        help="files of high-quality documents; repeatable")
    parser.add_argument("--negative", action="append", default=[], metavar="GLOB", required=True,
                        help="files of other documents; repeatable")
    parser.add_argument("--out", required=True, metavar="MODEL", help="the model file to write (.bin), local or gs://")
    parser.add_argument("--format", choices=FORMATS, default="auto",
                        help="auto: by extension (.txt: one document per line); default auto")
    parser.add_argument("--text-field", default="text", help="JSONL/Parquet field holding the text")
    parser.add_argument("--positive-label", default=DCLM_POSITIVE, help="label of the positive class (DCLM: hq)")
    parser.add_argument("--negative-label", default=DCLM_NEGATIVE, help="label of the negative class (DCLM: cc)")
    parser.add_argument("--validation-fraction", type=float, default=0.1, help="held-out share, in [0, 1)")
    parser.add_argument("--seed", type=int, default=42, help="split, shuffle and fastText seed")
    ft = parser.add_argument_group("fastText train_supervised parameters")
    for name, kind, default, text in FASTTEXT_PARAMS:
        flags = ["--" + _dashed(name)] + (["--" + name] if _dashed(name) != name else [])
        ft.add_argument(*flags, dest=name, type=kind, default=default, help=f"{text} (default {default!r})")


@exit_2_on_usage_error
def run(args: argparse.Namespace) -> int:
    """Train, evaluate, write the model and its metrics; 0 on success, 2 on a usage error."""
    if not 0.0 <= args.validation_fraction < 1.0:
        raise UsageError(f"--validation-fraction must be within [0, 1), got {args.validation_fraction}")
    if args.positive_label == args.negative_label:
        raise UsageError("--positive-label and --negative-label must differ")
    classes = ((args.positive_label, args.positive), (args.negative_label, args.negative))
    files = {label: match_inputs(patterns) for label, patterns in classes}
    params = {name: getattr(args, name) for name, *_ in FASTTEXT_PARAMS}
    counts: Dict[str, Dict[str, int]] = {}
    validation: List[Tuple[bool, str]] = []
    with tempfile.TemporaryDirectory(prefix="thresher-train-quality-") as tmp:
        buckets = [open(os.path.join(tmp, f"bucket-{i:02d}.txt"), "w", encoding="utf-8", errors="replace")
                   for i in range(BUCKETS)]
        try:
            for label, _ in classes:
                counts[label] = _split(files[label], label, args, buckets, validation)
        finally:
            for bucket in buckets:
                bucket.close()
        for label, count in counts.items():
            if count["train"] + count["validation"] == 0:
                raise UsageError(f"class {label!r} has no documents (files: {', '.join(files[label])})")
            if count["train"] == 0:
                raise UsageError(f"class {label!r} has no training document (all {count['validation']} held out); "
                                 "lower --validation-fraction")
        train_path = _shuffled(tmp, args.seed)
        import fasttext
        try:
            with zeroed_allocations():
                model = fasttext.train_supervised(input=train_path, seed=args.seed, **params)
        except RuntimeError as exc:  # "Encountered NaN": training diverged
            print(f"error: fastText training failed: {exc} (a lower --lr usually helps)", file=sys.stderr)
            return 1
        _save_model(model, args.out, tmp)
    metrics = evaluate(FastTextClassifier(args.out, model), label_name(args.positive_label), validation)
    report = {
        "model": args.out, "labels": {"positive": label_name(args.positive_label),
                                      "negative": label_name(args.negative_label)},
        "inputs": {"positive": list(args.positive), "negative": list(args.negative)},
        "format": args.format, "text_field": args.text_field, "normalisation": "quality_text (DCLM)",
        "validation_fraction": args.validation_fraction, "seed": args.seed,
        "fasttext": params, "counts": counts, "validation": metrics,
    }
    _write(args.out + ".metrics.json", json.dumps(report, indent=2).encode("utf-8"))
    for label, count in counts.items():
        print(f"{label}: {count['train']} train, {count['validation']} validation documents"
              f" ({count['empty']} empty skipped, {count['read_errors']} read errors)")
    shown = {k: ("n/a" if metrics[k] is None else f"{metrics[k]:.4f}")
             for k in ("precision", "recall", "f1", "roc_auc")}
    print(f"validation ({metrics['documents']} documents): precision {shown['precision']}  recall {shown['recall']}"
          f"  F1 {shown['f1']}  ROC AUC {shown['roc_auc']}")
    print(f"model: {args.out}\nmetrics: {args.out}.metrics.json")
    return 0


@contextlib.contextmanager
def zeroed_allocations():
    """Make glibc's malloc return zeroed memory while fastText trains.

    fastText builds whose matrices are intgemm ``AlignedVector``s (fasttext-numpy2-wheel 0.9.2 and
    fasttext 0.9.3 alike) initialise only ``thread``/10 of the input matrix (``uniformThread`` fills
    one tenth per thread) and leave the rest as malloc returned it: leftover bytes of earlier
    allocations, hence "Encountered NaN" or garbage weights that change with the process's history.
    glibc's ``M_PERTURB`` = 255 fills each allocation with zeros, which is what builds backed by
    ``std::vector`` (fastText 0.9.2 as released) start from. Not glibc: nothing is changed."""
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c")).mallopt
    except (OSError, AttributeError, TypeError):
        yield
        return
    mallopt(M_PERTURB, 255)
    try:
        yield
    finally:
        mallopt(M_PERTURB, 0)


def _split(paths: List[str], label: str, args, buckets, validation: List[Tuple[bool, str]]) -> Dict[str, int]:
    """Normalise one class's texts; training lines go to hash buckets, held-out texts to ``validation``."""
    count = {"train": 0, "validation": 0, "empty": 0, "read_errors": 0}
    prefix = label_name(label)
    positive = label == args.positive_label
    for path in paths:
        for item in read_texts(path, args.format, args.text_field):
            if isinstance(item, ReadError):
                count["read_errors"] += 1
                print(f"warning: {path} at {item.offset}: {item.exc}", file=sys.stderr)
                continue
            text = quality_text(item)
            if not text:
                count["empty"] += 1
                continue
            h = xxhash.xxh64_intdigest(text.encode("utf-8", "replace"), seed=args.seed & (2**64 - 1))
            if (h >> 11) / 2.0**53 < args.validation_fraction:
                count["validation"] += 1
                validation.append((positive, text))
            else:
                count["train"] += 1
                buckets[h % BUCKETS].write(f"{prefix} {_LABEL_TOKEN.sub('', text)}\n")
    return count


def _shuffled(tmp: str, seed: int) -> str:
    """One training file: the buckets in order, each bucket's lines shuffled with the seed."""
    path = os.path.join(tmp, "train.txt")
    with open(path, "w", encoding="utf-8") as out:
        for i in range(BUCKETS):
            bucket = os.path.join(tmp, f"bucket-{i:02d}.txt")
            with open(bucket, encoding="utf-8") as f:
                lines = f.readlines()
            random.Random(seed * BUCKETS + i).shuffle(lines)
            out.writelines(lines)
            os.remove(bucket)
    return path


def _save_model(model, out: str, tmp: str) -> None:
    if FileSystems.get_scheme(out) in (None, "file"):
        os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
        model.save_model(out)
        return
    local = os.path.join(tmp, "model.bin")
    model.save_model(local)
    with open(local, "rb") as src, FileSystems.create(out, compression_type=CompressionTypes.UNCOMPRESSED) as dst:
        for chunk in iter(lambda: src.read(1 << 22), b""):
            dst.write(chunk)


def _write(path: str, data: bytes) -> None:
    with FileSystems.create(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        f.write(data)


def evaluate(classifier: FastTextClassifier, positive_label: str,
             validation: List[Tuple[bool, str]]) -> Dict[str, Optional[float]]:
    """Precision, recall, F1 (positive class, score >= 0.5) and ROC AUC on the held-out documents."""
    positive = classifier.resolve_label(positive_label)
    truth = np.array([is_positive for is_positive, _ in validation], dtype=bool)
    scores = np.array([classifier.score(text, positive) for _, text in validation], dtype=np.float64)
    predicted = scores >= DECISION
    tp = int(np.sum(predicted & truth))
    fp = int(np.sum(predicted & ~truth))
    fn = int(np.sum(~predicted & truth))
    precision = tp / (tp + fp) if tp + fp else None
    recall = tp / (tp + fn) if tp + fn else None
    f1 = (2 * precision * recall / (precision + recall) if precision + recall else 0.0) \
        if precision is not None and recall is not None else None
    return {"documents": len(validation), "positives": int(truth.sum()), "threshold": DECISION,
            "precision": precision, "recall": recall, "f1": f1, "roc_auc": roc_auc(truth, scores)}


def roc_auc(truth: np.ndarray, scores: np.ndarray) -> Optional[float]:
    """Area under the ROC curve: the Mann-Whitney U of the positives' score ranks (ties get their
    average rank) over n_pos * n_neg. None when a class is missing."""
    truth = np.asarray(truth, dtype=bool)
    n_pos = int(truth.sum())
    n_neg = len(truth) - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    _, inverse, counts = np.unique(np.asarray(scores, dtype=np.float64), return_inverse=True, return_counts=True)
    starts = np.cumsum(counts) - counts
    ranks = (starts + (counts + 1) / 2.0)[inverse]  # 1-based average ranks
    return float((ranks[truth].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))
