"""What the training commands (``train-quality``, ``train-tokenizer``, ``train-lm``) share: their input
files read as texts with the project's readers, and ``UsageError``, a mistake in the command's arguments that
ends it with one line and exit status 2 (``exit_2_on_usage_error``)."""
from __future__ import annotations

import argparse
import functools
import sys
from typing import Callable, Iterator, List

from apache_beam.io.filesystems import FileSystems

from thresher.transforms.io.sources import FORMATS as SOURCE_FORMATS
from thresher.transforms.io.sources import match_paths, read_file
from thresher.transforms.io.sources.common import Fields, ReadError, basename

TEXT_SUFFIXES = (".txt", ".txt.gz", ".txt.bz2", ".txt.zst")
FORMATS = ("auto",) + SOURCE_FORMATS + ("text",)  # what --format takes: the project's readers and plain text


def add_input_arguments(parser: argparse.ArgumentParser) -> None:
    """``--input GLOB...``, ``--format`` and ``--text-field``: a command's corpus, read by ``read_texts``."""
    parser.add_argument("--input", action="extend", nargs="+", required=True, metavar="GLOB",
                        help="files of documents (local or gs://); several may follow one --input; repeatable")
    parser.add_argument("--format", choices=FORMATS, default="auto",
                        help="auto: by extension (.txt: one document per line); default auto")
    parser.add_argument("--text-field", default="text", help="JSONL/Parquet field holding the text")


class UsageError(Exception):
    """A problem with the command's inputs: reported with exit status 2."""


def exit_2_on_usage_error(run: Callable[..., int]) -> Callable[..., int]:
    """``run(args)``, with a ``UsageError`` printed as ``error: ...`` on stderr and exit status 2."""
    @functools.wraps(run)
    def wrapped(*args, **kwargs) -> int:
        try:
            return run(*args, **kwargs)
        except UsageError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    return wrapped


def match_inputs(patterns: List[str]) -> List[str]:
    """The files the globs match (``match_paths``); a glob matching nothing is a ``UsageError``."""
    try:
        return match_paths(patterns)
    except FileNotFoundError as exc:
        raise UsageError(str(exc)) from None


def read_texts(path: str, fmt: str, text_field: str) -> Iterator[object]:
    """Texts (str) and ReadErrors of one file: plain text one document per line, else the project's readers."""
    if fmt == "text" or (fmt == "auto" and path.lower().endswith(TEXT_SUFFIXES)):
        with FileSystems.open(path) as f:  # decompressed by extension
            for line in iter(f.readline, b""):
                text = line.decode("utf-8", "replace").rstrip("\r\n")
                if text.strip():
                    yield text
        return
    try:
        items = read_file(path, basename(path), fmt, Fields(text=text_field))
    except ValueError as exc:  # unknown extension or format
        raise UsageError(f"{path}: {exc}") from None
    for item in items:
        yield item if isinstance(item, ReadError) else item.text
