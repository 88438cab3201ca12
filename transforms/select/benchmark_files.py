"""Benchmark files in their published formats, read as items (benchmark, item id, text).

Formats (files may be gzip-compressed, whatever their name):

* ``gsm8k``: JSON lines with ``question`` and ``answer`` (openai/grade-school-math);
  text = question + answer; id = ``{file stem}/{record number}``.
* ``mmlu``: CSV rows without header: question, A, B, C, D, answer letter
  (hendrycks/test ``data/*/*.csv``); text = question + the four choices (not the
  letter); id = ``{file stem}/{row number}``.
* ``humaneval``: JSON lines with ``task_id``, ``prompt`` and ``canonical_solution``
  (openai/human-eval); text = prompt + canonical solution; id = the task id.
* ``text``: one item a non-blank line; benchmark = the file stem;
  id = ``{file stem}/{line number}``.

Numbers count from 0 (a record's or row's index in the file, as in the Hugging
Face copies of these datasets). ``auto`` detects the format of each file: a
``.csv`` with 6 columns is MMLU, a ``.txt`` is text, JSON lines with
``question`` + ``answer`` are GSM8K and with ``prompt`` + ``canonical_solution``
HumanEval. Anything else is a ``ParamError("benchmarks", ...)`` naming the file.
Files are read whole: benchmarks are small (MMLU test: 14,079 rows in 57 files, 6.3 MB).
"""
from __future__ import annotations

import csv
import gzip
import io
import json
import posixpath
from typing import Iterator, List, NamedTuple, Sequence

from apache_beam.io.filesystems import FileSystems

from thresher.transforms.base import ParamError

FORMATS = ("auto", "gsm8k", "mmlu", "humaneval", "text")
PARAM = "benchmarks"
MMLU_COLUMNS = 6  # question, A, B, C, D, answer letter


class BenchmarkItem(NamedTuple):
    benchmark: str  # gsm8k, mmlu, humaneval, or the file stem for text files
    item: str  # id within the benchmark
    text: str


def match_files(patterns: Sequence[str]) -> List[str]:
    """The sorted distinct files matching the patterns (globs allowed); a pattern matching nothing is an error."""
    found = set()
    for pattern in patterns:
        try:
            metadata = FileSystems.match([pattern])[0].metadata_list
        except Exception as exc:
            raise ParamError(PARAM, f"cannot list {pattern!r}: {exc}") from None
        if not metadata:
            raise ParamError(PARAM, f"no file matches {pattern!r}")
        found.update(m.path for m in metadata)
    return sorted(found)


def stem(path: str) -> str:
    """File name without ``.gz`` and without its format extension: ``HumanEval.jsonl.gz`` -> ``HumanEval``."""
    name = posixpath.basename(path.rstrip("/"))
    if name.lower().endswith(".gz"):
        name = name[:-3]
    base, dot, _ = name.rpartition(".")
    return base if dot and base else name


def read_text(path: str) -> str:
    """The file's text: gunzipped when it starts with the gzip magic, UTF-8 (a BOM is dropped)."""
    with FileSystems.open(path, compression_type="uncompressed") as f:
        data = f.read()
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise ParamError(PARAM, f"{path}: broken gzip data: {exc}") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ParamError(PARAM, f"{path}: not UTF-8 text: {exc}") from None


def _first_json(text: str):
    for line in text.splitlines():
        if line.strip():
            try:
                return json.loads(line)
            except ValueError:
                return None
    return None


def detect_format(path: str, text: str) -> str:
    """gsm8k, mmlu, humaneval or text, from the file's name and first record."""
    name = posixpath.basename(path).lower()
    if name.endswith(".gz"):
        name = name[:-3]
    if name.endswith(".csv"):
        row = next(csv.reader(io.StringIO(text)), None)
        if row is not None and len(row) == MMLU_COLUMNS:
            return "mmlu"
        raise ParamError(PARAM, f"{path}: CSV rows of {len(row or [])} columns, not MMLU's "
                                f"{MMLU_COLUMNS} (question, A, B, C, D, answer); cannot detect the format")
    if name.endswith(".txt"):
        return "text"
    record = _first_json(text)
    if isinstance(record, dict):
        if "question" in record and "answer" in record:
            return "gsm8k"
        if "prompt" in record and "canonical_solution" in record:
            return "humaneval"
        raise ParamError(PARAM, f"{path}: JSON records with keys {sorted(record)[:8]} are neither GSM8K "
                                "(question, answer) nor HumanEval (prompt, canonical_solution)")
    raise ParamError(PARAM, f"{path}: cannot detect the benchmark format (expected GSM8K or HumanEval "
                            "JSON lines, MMLU .csv or .txt); set format")


def _json_records(path: str, text: str) -> Iterator[dict]:
    number = 0
    for line_no, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as exc:
            raise ParamError(PARAM, f"{path}:{line_no}: not JSON: {exc}") from None
        if not isinstance(record, dict):
            raise ParamError(PARAM, f"{path}:{line_no}: not a JSON object")
        yield number, line_no, record
        number += 1


def _fields(path: str, line_no: int, record: dict, keys: Sequence[str]) -> List[str]:
    values = [record.get(k) for k in keys]
    if not all(isinstance(v, str) for v in values):
        raise ParamError(PARAM, f"{path}:{line_no}: expected string fields {', '.join(keys)}")
    return values


def _gsm8k(path: str, text: str) -> Iterator[BenchmarkItem]:
    name = stem(path)
    for number, line_no, record in _json_records(path, text):
        question, answer = _fields(path, line_no, record, ("question", "answer"))
        yield BenchmarkItem("gsm8k", f"{name}/{number}", f"{question}\n{answer}")


def _humaneval(path: str, text: str) -> Iterator[BenchmarkItem]:
    for _, line_no, record in _json_records(path, text):
        task, prompt, solution = _fields(path, line_no, record, ("task_id", "prompt", "canonical_solution"))
        yield BenchmarkItem("humaneval", task, prompt + solution)


def _mmlu(path: str, text: str) -> Iterator[BenchmarkItem]:
    name = stem(path)
    number = 0
    reader = csv.reader(io.StringIO(text))
    try:
        for row in reader:
            if not row:
                continue
            if len(row) != MMLU_COLUMNS:
                raise ParamError(PARAM, f"{path}: row {number} (line {reader.line_num}) has {len(row)} "
                                        f"columns, MMLU rows have {MMLU_COLUMNS}")
            yield BenchmarkItem("mmlu", f"{name}/{number}", "\n".join(row[:5]))
            number += 1
    except csv.Error as exc:
        raise ParamError(PARAM, f"{path}: bad CSV at line {reader.line_num}: {exc}") from None


def _text(path: str, text: str) -> Iterator[BenchmarkItem]:
    name = stem(path)
    for number, line in enumerate(text.splitlines()):
        if line.strip():
            yield BenchmarkItem(name, f"{name}/{number}", line)


_READERS = {"gsm8k": _gsm8k, "mmlu": _mmlu, "humaneval": _humaneval, "text": _text}


def check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise ParamError("format", f"unknown format {fmt!r}; valid: {', '.join(FORMATS)}")


def read_items(path: str, fmt: str = "auto") -> Iterator[BenchmarkItem]:
    """The items of one benchmark file (``fmt`` = auto detects it from the file)."""
    check_format(fmt)
    text = read_text(path)
    if fmt == "auto":
        fmt = detect_format(path, text)
    return _READERS[fmt](path, text)


def file_format(path: str, fmt: str = "auto") -> str:
    """The format ``read_items`` would read the file as."""
    check_format(fmt)
    return detect_format(path, read_text(path)) if fmt == "auto" else fmt
