"""Speed of the ``perplexity`` step (CCNet) per core, against KenLM's own scoring loop on the same texts.

Builds a model pair with ``thresher train-lm``'s pieces (unigram SentencePiece of ``--vocab-size``, modified
Kneser-Ney ARPA of ``--order``, converted in memory by KenLM when loaded) on the first half of the 1,166 real
texts of ``bench/real-pages.texts.jsonl.gz`` and times, on the other half, one core each:

* kenlm alone: ``model.score`` over the lines already normalised and encoded (the floor: KenLM's own loop);
* CCNet's loop: per line ``normalize``, ``encode_as_pieces``, ``model.score`` (``DocLM`` as CCNet writes it);
* the step's scorer: ``CCNetLanguageModel.perplexity`` per document (all lines encoded in one call);
* the step in Beam: ``Perplexity`` over the documents (5 copies of them, the figure per copy) on the
  in-process runner, one worker (annotate only: scoring, decision pass-through and summary), and the same
  pipeline with an identity ``Map`` instead of the step (what Create, the coders and the runner cost).

Prints documents/s, lines/s and words/s, best of ``--repeats`` (CPU time of this process).
Run from the project root: ``python benchmarks/perplexity_bench.py [--order 5] [--vocab-size 8000]``.
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
import tempfile
import time
from typing import Callable, List

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import SHARED_DATA  # noqa: E402

COPIES = 5


def best_cpu(fn: Callable[[], object], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.process_time()
        fn()
        best = min(best, time.process_time() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--order", type=int, default=5)
    parser.add_argument("--vocab-size", type=int, default=8000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    import apache_beam as beam
    import kenlm
    from apache_beam.runners.portability.fn_api_runner import FnApiRunner

    from thresher.pipelines.commands.train_lm import normalized_lines, train_arpa, train_sentencepiece
    from thresher.transforms.document import Document
    from thresher.transforms.filters.ccnet_lm import CCNetLanguageModel
    from thresher.transforms.filters.perplexity import Perplexity
    from thresher.transforms.text.ccnet_normalize import ccnet_normalize

    with gzip.open(SHARED_DATA / "bench" / "real-pages.texts.jsonl.gz", "rt", encoding="utf-8") as f:
        texts = [json.loads(line)["text"] for line in f]
    train, test = texts[: len(texts) // 2], texts[len(texts) // 2:]
    folder = tempfile.mkdtemp(prefix="perplexity-bench-")
    started = time.time()
    lines = normalized_lines(train)
    sp_model = train_sentencepiece(lines, args.vocab_size)
    lm_path, sp_path = os.path.join(folder, "en.arpa"), os.path.join(folder, "en.sp.model")
    with open(lm_path, "w", encoding="utf-8") as f:
        counts, _ = train_arpa(lines, sp_model, args.order, f)
    with open(sp_path, "wb") as f:
        f.write(sp_model)
    print(f"model: order {args.order}, {counts} n-grams, vocab {args.vocab_size}, trained on {len(train)} texts "
          f"({len(lines)} lines) in {time.time() - started:.1f} s; scoring {len(test)} texts")

    scorer = CCNetLanguageModel(lm_path, sp_path)
    model, sp = scorer.lm, scorer.sp
    test_lines = [line for text in test for line in text.split("\n")]
    encoded = scorer.pieces([ccnet_normalize(line) for line in test_lines])
    words = sum(len(t.split()) for t in test)

    def kenlm_alone():
        for line in encoded:
            model.score(line)

    def ccnet_loop():
        for text in test:
            log_score, length = 0.0, 0
            for line in text.split("\n"):
                pieces = " ".join(sp.encode_as_pieces(ccnet_normalize(line)))
                log_score += model.score(pieces)
                length += len(pieces.split()) + 1

    def step_scorer():
        for text in test:
            scorer.perplexity(text)

    # the Beam run scores the test texts COPIES times, so the pipeline's start is a small part of it
    docs = [Document(f"d{i}", t, annotations={"language": "en"}) for i, t in enumerate(test * COPIES)]

    def beam_step():
        with beam.Pipeline(runner=FnApiRunner()) as p:
            _ = p | beam.Create(docs) | Perplexity(models={"en": {"lm": lm_path, "sp": sp_path}})

    def beam_identity():  # what Beam itself costs on these documents: Create, coders, the runner
        with beam.Pipeline(runner=FnApiRunner()) as p:
            _ = p | beam.Create(docs) | beam.Map(lambda doc: doc)

    beam_step()  # the worker's model loaded once (per_process), as on a running worker
    print(f"{'':28s} {'docs/s':>9s} {'lines/s':>10s} {'words/s':>11s} {'vs kenlm':>9s}")
    floor = None
    for name, fn in (("kenlm alone (encoded lines)", kenlm_alone), ("CCNet's DocLM loop", ccnet_loop),
                     ("step scorer (perplexity())", step_scorer), ("step in Beam, 1 worker", beam_step),
                     ("Beam alone (identity Map)", beam_identity)):
        seconds = best_cpu(fn, args.repeats) / (COPIES if fn in (beam_step, beam_identity) else 1)
        floor = floor or seconds
        print(f"{name:28s} {len(test) / seconds:9.0f} {len(test_lines) / seconds:10.0f} {words / seconds:11.0f} "
              f"{seconds / floor:8.2f}x")


if __name__ == "__main__":
    main()
