"""FineWeb's own quality filter (Penedo et al. 2024, "The FineWeb Datasets", §3.4),
as FineWeb ran it: datatrove 0.2.0's ``FineWebQualityFilter`` with its defaults.

Lines are ``text.split("\\n")`` (empty lines included, nothing stripped). A document
is dropped, checks in this order, when:

* at most 12% of lines end in ``.``, ``'``, ``"``, ``!`` or ``?`` (a line ending in a
  space does not count);
* at least 67% of lines are at most 30 characters long;
* characters of non-empty lines that repeat an earlier line make up at least 1% of
  the text's characters other than newlines;
* there are more than 0.3 newlines per word (``split_words`` tokens, punctuation
  included).

On the 1,166 real pages of ``bench/real-pages.texts.jsonl.gz`` it decides every
page as datatrove 0.2.0 with NLTK 3.8.1 does (``tests/test_fineweb_quality.py``).
Its CPU cost, alone and after the Gopher filters have split the same text's words,
is measured by ``benchmarks/step_speed.py``.
"""
from __future__ import annotations

from typing import Dict, List, Optional

from thresher.transforms.base import FilterStep, ParamError
from thresher.transforms.document import Document
from thresher.transforms.text.repetition import duplicates
from thresher.transforms.text.split import split_words

# Penedo et al. 2024 §3.4 / datatrove 0.2.0 FineWebQualityFilter defaults.
LINE_PUNCT_THR = 0.12
SHORT_LINE_THR = 0.67
SHORT_LINE_LENGTH = 30
CHAR_DUPLICATES_RATIO = 0.01
NEW_LINE_RATIO = 0.3
STOP_CHARS = [".", "'", '"', "!", "?"]


class FineWebQuality(FilterStep):
    """Drops documents with few punctuated lines, many short lines, duplicated lines or
    list-like layout (FineWeb's custom filters).

    Source: Penedo et al. 2024 §3.4; datatrove 0.2.0 ``FineWebQualityFilter``.

    line_punct_thr: drop when the fraction of lines ending in ``stop_chars`` is at or
        below this.
    line_punct_exclude_zero: keep documents where no line ends in ``stop_chars``.
    short_line_thr: drop when the fraction of short lines is at or above this.
    short_line_length: a line of at most this many characters is short.
    char_duplicates_ratio: drop when duplicated-line characters over non-newline
        characters are at or above this.
    new_line_ratio: drop when newlines per word are above this.
    stop_chars: line endings that count as punctuation.
    """

    name = "fineweb_quality"
    ANNOTATIONS = {
        "fineweb_quality_line_punct_ratio": "float64",
        "fineweb_quality_short_line_ratio": "float64",
        "fineweb_quality_char_dup_ratio": "float64",
        "fineweb_quality_newline_ratio": "float64",
        "fineweb_quality_drop": "string",
    }
    ANNOTATION_DOCS = {
        "fineweb_quality_line_punct_ratio": "fraction of lines ending in stop_chars",
        "fineweb_quality_short_line_ratio": "fraction of lines of at most short_line_length characters",
        "fineweb_quality_char_dup_ratio": "characters in duplicated lines over non-newline characters",
        "fineweb_quality_newline_ratio": "newlines per word",
        "fineweb_quality_drop": "dry_run: the reason the document would have been dropped",
    }
    DROP_REASONS = {
        "fineweb_line_punct_ratio": "fraction of lines ending in stop_chars at or below line_punct_thr",
        "fineweb_short_line_ratio": "fraction of short lines at or above short_line_thr",
        "fineweb_char_dup_ratio": "characters in duplicated lines at or above char_duplicates_ratio",
        "fineweb_list_ratio": "newlines per word above new_line_ratio (list-like page)",
    }

    def __init__(self, line_punct_thr: float = LINE_PUNCT_THR, line_punct_exclude_zero: bool = False,
                 short_line_thr: float = SHORT_LINE_THR, short_line_length: int = SHORT_LINE_LENGTH,
                 char_duplicates_ratio: float = CHAR_DUPLICATES_RATIO, new_line_ratio: float = NEW_LINE_RATIO,
                 stop_chars: List[str] = STOP_CHARS, **common):
        super().__init__(**common)
        for key, value in (("line_punct_thr", line_punct_thr), ("short_line_thr", short_line_thr),
                           ("short_line_length", short_line_length),
                           ("char_duplicates_ratio", char_duplicates_ratio), ("new_line_ratio", new_line_ratio)):
            if value < 0:
                raise ParamError(key, f"{key} must be >= 0, got {value}")
        if not stop_chars or any(not c for c in stop_chars):
            raise ParamError("stop_chars", "stop_chars must be a non-empty list of non-empty strings")
        self.line_punct_thr = line_punct_thr
        self.line_punct_exclude_zero = line_punct_exclude_zero
        self.short_line_thr = short_line_thr
        self.short_line_length = short_line_length
        self.char_duplicates_ratio = char_duplicates_ratio
        self.new_line_ratio = new_line_ratio
        self.stop_chars = list(stop_chars)

    def score(self, doc: Document) -> Dict[str, float]:
        text = doc.text
        lines = text.split("\n")
        ends = tuple(self.stop_chars)
        limit = self.short_line_length
        chars = len(text) - len(lines) + 1  # characters other than "\n"
        dup_chars = duplicates([line for line in lines if line.strip()])[1]
        words = split_words(text) if "\n" in text else ()
        return {
            "line_punct_ratio": sum(1 for line in lines if line.endswith(ends)) / len(lines),
            "short_line_ratio": sum(1 for line in lines if len(line) <= limit) / len(lines),
            "char_dup_ratio": dup_chars / chars if chars else 0.0,
            # no newline: 0 whatever the words (datatrove divides by the word count)
            "newline_ratio": (len(lines) - 1) / max(len(words), 1),
        }

    def decide(self, stats: Dict[str, float]) -> Optional[str]:
        ratio = stats["line_punct_ratio"]
        if ratio <= self.line_punct_thr and not (ratio == 0 and self.line_punct_exclude_zero):
            return "fineweb_line_punct_ratio"
        if stats["short_line_ratio"] >= self.short_line_thr:
            return "fineweb_short_line_ratio"
        if stats["char_dup_ratio"] >= self.char_duplicates_ratio:
            return "fineweb_char_dup_ratio"
        if stats["newline_ratio"] > self.new_line_ratio:
            return "fineweb_list_ratio"
        return None
