"""``thresher train-lm``: a SentencePiece model and a KenLM n-gram model (ARPA) for the ``perplexity`` step.

    thresher train-lm --input 'wiki/*.jsonl' --out lm/ --language en [--order 3] [--vocab-size 8000]

For a user without CCNet's published Wikipedia models (or without internet): documents are read
as ``train-tokenizer`` reads them (``corpus_texts``; a sample of ``--sample-docs`` by seeded hash),
split into lines, normalised as CCNet normalises (``ccnet_normalize``), a unigram SentencePiece
model (CCNet's kind) is trained on the non-empty lines, the lines encoded, and an interpolated
modified Kneser-Ney model estimated as KenLM's ``lmplz`` does (``kneser_ney``), written as
``OUT/LANG.arpa`` (KenLM loads ARPA; ``build_binary`` makes it faster to load) next to
``OUT/LANG.sp.model``. The counts are held in memory (a few hundred bytes per token at order 5):
a workstation corpus of tens of MB of text; KenLM's ``lmplz`` is the tool for more. Prints the
recipe snippet that uses the pair. Exit status 2 with one line on a usage error.
"""
from __future__ import annotations

import argparse
import io
import os
import tempfile
from typing import List, TextIO

import numpy as np
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from thresher.pipelines.commands.corpus_texts import UsageError, add_input_arguments, exit_2_on_usage_error, match_inputs
from thresher.pipelines.commands.kneser_ney import estimate, write_arpa
from thresher.pipelines.commands.train_tokenizer import sample_texts, write_atomically
from thresher.transforms.text.ccnet_normalize import ccnet_normalize

UNK, BOS, EOS = 0, 1, 2  # SentencePiece ids whose pieces are KenLM's <unk>, <s>, </s>


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``train-lm`` options."""
    add_input_arguments(parser)
    parser.add_argument("--out", required=True, metavar="DIR", help="folder for LANG.arpa and LANG.sp.model")
    parser.add_argument("--language", required=True, help="the language code the files are named after (en)")
    parser.add_argument("--order", type=int, default=3, help="n-gram order, 2 to 6 (CCNet's models: 5)")
    parser.add_argument("--vocab-size", type=int, default=8000, help="SentencePiece pieces (at most; fewer on "
                                                                     "a small corpus)")
    parser.add_argument("--sample-docs", type=int, default=100_000,
                        help="documents trained on: those with the smallest seeded hash of their text")
    parser.add_argument("--seed", type=int, default=0, help="seeds the sample's hash")


def normalized_lines(texts: List[str]) -> List[str]:
    """The non-empty CCNet-normalised lines of the texts."""
    return [line for text in texts for line in map(ccnet_normalize, text.split("\n")) if line]


def train_sentencepiece(lines: List[str], vocab_size: int) -> bytes:
    """A unigram SentencePiece model (serialized) on ``lines``; ids 0, 1, 2 are <unk>, <s>, </s>."""
    import sentencepiece

    sentencepiece.set_random_generator_seed(1)  # the same lines give the same model
    model = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(lines), model_writer=model, model_type="unigram", vocab_size=vocab_size,
        hard_vocab_limit=False, character_coverage=0.9995, unk_id=UNK, bos_id=BOS, eos_id=EOS, pad_id=-1,
        input_sentence_size=2_000_000, shuffle_input_sentence=True, seed_sentencepiece_size=1_000_000,
        num_threads=max(1, min(8, os.cpu_count() or 1)), minloglevel=2)
    return model.getvalue()


def encode_lines(sp, lines: List[str], chunk: int = 10_000) -> List[np.ndarray]:
    """Each line's SentencePiece ids as an int32 array (encoded a chunk at a time: no list of all ids)."""
    arrays: List[np.ndarray] = []
    for start in range(0, len(lines), chunk):
        arrays += [np.asarray(ids, dtype=np.int32) for ids in sp.encode(lines[start:start + chunk])]
    return arrays


def train_arpa(lines: List[str], sp_model: bytes, order: int, out: TextIO) -> "tuple[dict, bool]":
    """Write the ARPA model of ``lines`` encoded with ``sp_model`` to ``out``;
    returns (n -> n-grams, whether discounts fell back)."""
    import sentencepiece

    sp = sentencepiece.SentencePieceProcessor(model_proto=sp_model)
    model, fell_back = estimate(encode_lines(sp, lines), order, sp.get_piece_size(), BOS, EOS, UNK)
    return write_arpa(out, model, sp.id_to_piece), fell_back


def write_arpa_file(path: str, lines: List[str], sp_model: bytes, order: int) -> "tuple[dict, bool]":
    """``train_arpa`` into ``path``: a local temporary file renamed onto it, or uploaded (gs://)."""
    local = FileSystems.get_scheme(path) in (None, "file")
    fd, tmp = tempfile.mkstemp(prefix=".arpa-", suffix=".tmp", dir=os.path.dirname(os.path.abspath(path))
                               if local else None)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            result = train_arpa(lines, sp_model, order, f)
        if local:
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
        else:
            with open(tmp, "rb") as src, FileSystems.create(path, compression_type=CompressionTypes.UNCOMPRESSED) as dst:
                for block in iter(lambda: src.read(1 << 22), b""):
                    dst.write(block)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return result


def snippet(language: str, arpa: str, sp_model: str) -> str:
    return (f"  - step: perplexity\n    models:\n      {language}: {{lm: {arpa}, sp: {sp_model}}}\n"
            f"    # max_perplexity: ...   or cutoffs: {{{language}: [HEAD, TAIL]}} with keep_buckets: [head, middle]")


def _make_out(out: str) -> None:
    """A local --out folder made now, before reading and training; UsageError when it cannot be."""
    if FileSystems.get_scheme(out) not in (None, "file"):
        return
    try:
        os.makedirs(out, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"--out {out}: cannot create the folder: {exc.strerror or exc}") from None
    if not os.access(out, os.W_OK):
        raise UsageError(f"--out {out}: the folder is not writable")


@exit_2_on_usage_error
def run(args: argparse.Namespace) -> int:
    """Sample, normalise, train SentencePiece, estimate, write; 0 on success, 2 on a usage error."""
    from thresher.transforms.filters.ccnet_lm import missing_library

    if missing_library():
        raise UsageError(missing_library())
    if not 2 <= args.order <= 6:
        raise UsageError(f"--order must be within 2..6, got {args.order}")
    if args.vocab_size < 16:
        raise UsageError(f"--vocab-size must be at least 16, got {args.vocab_size}")
    if args.sample_docs < 1:
        raise UsageError(f"--sample-docs must be at least 1, got {args.sample_docs}")
    if not args.language or "/" in args.language or args.language != args.language.strip():
        raise UsageError(f"--language must be a language code, got {args.language!r}")
    _make_out(args.out)
    paths = match_inputs(args.input)
    texts, read, errors = sample_texts(paths, args.format, args.text_field, args.sample_docs, args.seed)
    lines = normalized_lines(texts)
    if not lines:
        raise UsageError(f"no document with text in {len(paths)} file(s) ({errors} read errors)")
    try:
        sp_model = train_sentencepiece(lines, args.vocab_size)
    except RuntimeError as exc:  # e.g. too little text for the vocabulary
        raise UsageError(f"SentencePiece could not train on {len(lines)} lines: {exc}") from None
    arpa_path = FileSystems.join(args.out, f"{args.language}.arpa")
    sp_path = FileSystems.join(args.out, f"{args.language}.sp.model")
    try:
        write_atomically(sp_path, sp_model)
        counts, fell_back = write_arpa_file(arpa_path, lines, sp_model, args.order)
    except OSError as exc:
        raise UsageError(f"--out {args.out}: cannot write: {exc}") from None
    print(f"documents sampled: {len(texts)} of {read} read from {len(paths)} file(s)"
          + (f" ({errors} read errors)" if errors else "") + f"; lines: {len(lines)}")
    print("n-grams: " + ", ".join(f"{n}-grams {c}" for n, c in counts.items())
          + ("; discounts fell back to 0.5 1 1.5 (too little text for Kneser-Ney's estimates)" if fell_back else ""))
    print(f"language model: {arpa_path}\nSentencePiece model: {sp_path}\nrecipe step:")
    print(snippet(args.language, arpa_path, sp_path))
    return 0

