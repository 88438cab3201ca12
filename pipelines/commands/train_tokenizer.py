"""``thresher train-tokenizer``: train a byte-level BPE tokenizer (tokenizer.json) on a corpus.

    thresher train-tokenizer --input 'data/*.jsonl' --vocab-size 32000 --out tokenizer.json

For the ``output.tokens`` shards of a recipe when no hub tokenizer is at hand.
Byte-level BPE as GPT-2 does it, with the Hugging Face ``tokenizers`` library:
ByteLevel pre-tokenizer (no prefix space) and decoder, all 256 byte symbols in
the initial alphabet and no normaliser, so ``decode(encode(text)) == text`` for
any text. Special tokens (default ``<|endoftext|>``, the shards' EOS, and
``<|pad|>``) take the first ids.

Inputs are read as ``train-quality`` reads them (``corpus_texts``) (the project's sources by
extension or ``--format``, ``.txt`` one document per line). The sample is the
``--sample-docs`` documents with the smallest xxh64 of their text seeded with
``--seed``: independent of file order and of how files are split. The file is
written atomically (a local temporary renamed; gs:// uploads appear whole).
Exit status 2 with one line when no file matches, the vocabulary is too small,
no document is read or the output cannot be written.
"""
from __future__ import annotations

import argparse
import hashlib
import heapq
import os
import sys
import tempfile
from typing import Iterable, List, Sequence, Tuple

import xxhash
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from thresher.pipelines.commands.corpus_texts import (UsageError, add_input_arguments, exit_2_on_usage_error,
                                                      match_inputs, read_texts)
from thresher.transforms.io.sources.common import ReadError

SPECIAL_TOKENS = ("<|endoftext|>", "<|pad|>")
BYTE_ALPHABET = 256


def train_bpe(texts: Iterable[str], vocab_size: int, min_frequency: int = 2,
              special_tokens: Sequence[str] = SPECIAL_TOKENS):
    """A byte-level BPE ``tokenizers.Tokenizer`` trained on ``texts``: at most ``vocab_size`` ids,
    special tokens first. The same texts in the same order give the same JSON."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=list(special_tokens),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tokenizer.train_from_iterator(texts, trainer)
    return tokenizer


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``train-tokenizer`` options."""
    add_input_arguments(parser)
    parser.add_argument("--vocab-size", type=int, required=True, help="ids in the vocabulary, special tokens included")
    parser.add_argument("--out", required=True, metavar="TOKENIZER_JSON", help="the file to write, local or gs://")
    parser.add_argument("--sample-docs", type=int, default=100_000,
                        help="documents trained on: those with the smallest seeded hash of their text")
    parser.add_argument("--seed", type=int, default=0, help="seeds the sample's hash")
    parser.add_argument("--min-frequency", type=int, default=2, help="a merge needs a pair seen this often")
    parser.add_argument("--special-token", action="append", default=None, metavar="TOKEN",
                        help=f"repeatable; default {' '.join(SPECIAL_TOKENS)}")


@exit_2_on_usage_error
def run(args: argparse.Namespace) -> int:
    """Sample, train, write; 0 on success, 2 on a usage error."""
    specials = tuple(args.special_token or SPECIAL_TOKENS)
    if len(set(specials)) != len(specials) or not all(specials):
        raise UsageError(f"--special-token: tokens must be distinct and non-empty, got {list(specials)}")
    smallest = BYTE_ALPHABET + len(specials)
    if args.vocab_size < smallest:
        raise UsageError(f"--vocab-size must be at least {smallest} (256 byte symbols + {len(specials)} special "
                         f"tokens), got {args.vocab_size}")
    if args.sample_docs < 1:
        raise UsageError(f"--sample-docs must be at least 1, got {args.sample_docs}")
    if args.min_frequency < 0:
        raise UsageError(f"--min-frequency must be >= 0, got {args.min_frequency}")
    _check_writable(args.out)
    paths = match_inputs(args.input)
    sample, read, errors = sample_texts(paths, args.format, args.text_field, args.sample_docs, args.seed)
    if not sample:
        raise UsageError(f"no document with text in {len(paths)} file(s) ({errors} read errors)")
    tokenizer = train_bpe(sample, args.vocab_size, args.min_frequency, specials)
    data = tokenizer.to_str(pretty=True).encode("utf-8")
    write_atomically(args.out, data)
    print(f"documents sampled: {len(sample)} of {read} read from {len(paths)} file(s)"
          + (f" ({errors} read errors)" if errors else ""))
    print(f"vocab size: {tokenizer.get_vocab_size(with_added_tokens=True)} (asked {args.vocab_size})")
    print("special tokens: " + ", ".join(f"{t}={tokenizer.token_to_id(t)}" for t in specials))
    print(f"sha256: {hashlib.sha256(data).hexdigest()}")
    print(f"tokenizer: {args.out}")
    return 0


def sample_texts(paths: List[str], fmt: str, text_field: str, size: int, seed: int) -> Tuple[List[str], int, int]:
    """(the ``size`` non-blank texts with the smallest xxh64(text, seed), ordered by it; texts read; read errors)."""
    heap: List[Tuple[int, str]] = []  # (-hash, text): the largest kept hash on top
    read = errors = 0
    for path in paths:
        for item in read_texts(path, fmt, text_field):
            if isinstance(item, ReadError):
                errors += 1
                print(f"warning: {path} at {item.offset}: {item.exc}", file=sys.stderr)
                continue
            if not item or not item.strip():
                continue
            read += 1
            key = xxhash.xxh64_intdigest(item.encode("utf-8", "surrogatepass"), seed=seed & (2**64 - 1))
            entry = (-key, item)
            if len(heap) < size:
                heapq.heappush(heap, entry)
            elif entry > heap[0]:  # smaller hash (or same hash, smaller text): replaces the largest
                heapq.heapreplace(heap, entry)
    return [text for _, text in sorted(heap, reverse=True)], read, errors


def _check_writable(out: str) -> None:
    """UsageError now, before reading and training, when ``out`` cannot be a local file."""
    if FileSystems.get_scheme(out) not in (None, "file"):
        return
    if os.path.isdir(out):
        raise UsageError(f"--out {out} is a directory")
    folder = os.path.dirname(os.path.abspath(out))
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create the folder of --out {out}: {exc.strerror or exc}") from None
    if not os.access(folder, os.W_OK):
        raise UsageError(f"cannot write --out {out}: {folder} is not writable")


def write_atomically(path: str, data: bytes) -> None:
    """Local: a temporary file beside ``path`` renamed onto it. Elsewhere: FileSystems.create."""
    try:
        if FileSystems.get_scheme(path) not in (None, "file"):
            with FileSystems.create(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
                f.write(data)
            return
        folder = os.path.dirname(os.path.abspath(path))
        fd, tmp = tempfile.mkstemp(prefix=".tokenizer-", suffix=".tmp", dir=folder)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.chmod(tmp, 0o644)  # mkstemp's 0600 would keep others from reading the tokenizer
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError as exc:
        raise UsageError(f"cannot write --out {path}: {exc.strerror or exc}") from None
