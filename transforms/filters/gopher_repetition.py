"""Gopher repetition filter (Rae et al. 2021, "Scaling Language Models: Methods, Analysis
& Insights from Training Gopher", Table A1), as FineWeb ran it: datatrove 0.2.0's
``GopherRepetitionFilter`` with its defaults, on NLTK words
(``thresher.transforms.text.split.split_words``) and the repetition statistics of
``thresher.transforms.text.repetition``.

Every comparison operator, counting rule and check order follows datatrove 0.2.0;
the drop reasons are datatrove's, prefixed ``gopher_``. Where the paper and later
datatrove releases differ, a parameter chooses and the default is datatrove 0.2.0's.
On the 1,166 real pages of ``bench/real-pages.texts.jsonl.gz`` it decides every page
as datatrove 0.2.0 with NLTK 3.8.1 does (``tests/test_gopher.py``); its CPU cost is
measured by ``benchmarks/step_speed.py``. Gopher's quality rules are in
``thresher.transforms.filters.gopher``.
"""
from __future__ import annotations

import re
from typing import Dict, List, Optional

from thresher.transforms.base import FilterStep, ParamError
from thresher.transforms.document import Document
from thresher.transforms.text.repetition import NGrams, duplicates
from thresher.transforms.text.split import split_lines, split_paragraphs, split_words

# Rae et al. 2021, Table A1 (repetition filters).
DUP_LINE_FRAC = 0.3
DUP_PARA_FRAC = 0.3
DUP_LINE_CHAR_FRAC = 0.2
DUP_PARA_CHAR_FRAC = 0.2
TOP_NGRAM_CHAR_FRAC = {2: 0.20, 3: 0.18, 4: 0.16}
DUP_NGRAM_CHAR_FRAC = {5: 0.15, 6: 0.14, 7: 0.13, 8: 0.12, 9: 0.11, 10: 0.10}
_NEWLINES = re.compile("\n+")  # datatrove >= 0.3 lines


class GopherRepetition(FilterStep):
    """Drops documents with repeated lines, paragraphs or n-grams (Gopher's repetition rules).

    Source: Rae et al. 2021 Table A1; datatrove 0.2.0 ``GopherRepetitionFilter`` (FineWeb).
    Fractions of characters are over ``len(text)``; paragraphs are the stripped text cut
    at runs of two or more newlines; a repeat is an item equal to an earlier one. Checks
    run in datatrove's order (paragraphs, lines, top n-grams, duplicate n-grams) and each
    drops when its fraction is strictly above the threshold; None turns a rule off. An
    empty text is kept with every fraction 0 (datatrove divides by zero on it).

    dup_line_frac: largest fraction of lines that repeat an earlier line.
    dup_para_frac: largest fraction of paragraphs that repeat an earlier paragraph.
    dup_line_char_frac: largest fraction of characters in repeated lines.
    dup_para_char_frac: largest fraction of characters in repeated paragraphs.
    top_n_grams: n -> largest fraction of characters in the most frequent n-gram, its
        words joined by spaces, times its count.
    dup_n_grams: n -> largest fraction of characters in repeated n-grams: datatrove
        scans left to right and, at an n-gram seen before, adds its characters (spaces
        not counted) and jumps n words.
    ngram_method: "datatrove" (default, FineWeb) as above; "gopher" follows the paper's
        wording instead: characters of the words covered by n-grams occurring more than
        once (each character once), over the characters of all words; for top n-grams,
        the top n-gram's word characters times its count, over the same total.
    skip_blank_lines: False (datatrove 0.2.0, FineWeb) counts empty lines from
        ``str.splitlines``, so blank lines repeat each other; True splits on runs of
        newlines as datatrove does from 0.3.
    """

    name = "gopher_repetition"
    ANNOTATIONS = {
        "gopher_repetition_dup_para_frac": "float64",
        "gopher_repetition_dup_para_char_frac": "float64",
        "gopher_repetition_dup_line_frac": "float64",
        "gopher_repetition_dup_line_char_frac": "float64",
        **{f"gopher_repetition_top_{n}_gram": "float64" for n in TOP_NGRAM_CHAR_FRAC},
        **{f"gopher_repetition_duplicated_{n}_n_grams": "float64" for n in DUP_NGRAM_CHAR_FRAC},
        "gopher_repetition_drop": "string",
    }
    ANNOTATION_DOCS = {
        "gopher_repetition_dup_para_frac": "fraction of paragraphs repeating an earlier one",
        "gopher_repetition_dup_para_char_frac": "fraction of characters in repeated paragraphs",
        "gopher_repetition_dup_line_frac": "fraction of lines repeating an earlier one",
        "gopher_repetition_dup_line_char_frac": "fraction of characters in repeated lines",
        **{f"gopher_repetition_top_{n}_gram": f"fraction of characters in the most frequent {n}-gram"
           for n in TOP_NGRAM_CHAR_FRAC},
        **{f"gopher_repetition_duplicated_{n}_n_grams": f"fraction of characters in repeated {n}-grams"
           for n in DUP_NGRAM_CHAR_FRAC},
        "gopher_repetition_drop": "dry_run: the reason the document would have been dropped",
    }
    DROP_REASONS = {
        "gopher_dup_para_frac": "fraction of repeated paragraphs above dup_para_frac",
        "gopher_dup_para_char_frac": "characters in repeated paragraphs above dup_para_char_frac",
        "gopher_dup_line_frac": "fraction of repeated lines above dup_line_frac",
        "gopher_dup_line_char_frac": "characters in repeated lines above dup_line_char_frac",
        "gopher_top_{n}_gram": "characters in the most frequent {n}-gram above top_n_grams[{n}]",
        "gopher_duplicated_{n}_n_grams": "characters in repeated {n}-grams above dup_n_grams[{n}]",
    }

    def __init__(self, dup_line_frac: Optional[float] = DUP_LINE_FRAC,
                 dup_para_frac: Optional[float] = DUP_PARA_FRAC,
                 dup_line_char_frac: Optional[float] = DUP_LINE_CHAR_FRAC,
                 dup_para_char_frac: Optional[float] = DUP_PARA_CHAR_FRAC,
                 top_n_grams: Dict[int, float] = TOP_NGRAM_CHAR_FRAC,
                 dup_n_grams: Dict[int, float] = DUP_NGRAM_CHAR_FRAC,
                 ngram_method: str = "datatrove",
                 skip_blank_lines: bool = False,
                 **common):
        super().__init__(**common)
        for key, value in (("dup_line_frac", dup_line_frac), ("dup_para_frac", dup_para_frac),
                           ("dup_line_char_frac", dup_line_char_frac),
                           ("dup_para_char_frac", dup_para_char_frac)):
            if value is not None and value < 0:
                raise ParamError(key, f"{key} must be >= 0 or null, got {value}")
        for key, table in (("top_n_grams", top_n_grams), ("dup_n_grams", dup_n_grams)):
            if any(n < 1 for n in table) or any(v < 0 for v in table.values()):
                raise ParamError(key, f"{key} needs n >= 1 and fractions >= 0, got {table}")
        if ngram_method not in ("datatrove", "gopher"):
            raise ParamError("ngram_method", f"ngram_method must be 'datatrove' or 'gopher', got {ngram_method!r}")
        self.dup_line_frac = dup_line_frac
        self.dup_para_frac = dup_para_frac
        self.dup_line_char_frac = dup_line_char_frac
        self.dup_para_char_frac = dup_para_char_frac
        self.top_n_grams = dict(top_n_grams)
        self.dup_n_grams = dict(dup_n_grams)
        self.ngram_method = ngram_method
        self.skip_blank_lines = skip_blank_lines

    def score(self, doc: Document) -> Dict[str, float]:
        text = doc.text
        size = len(text)
        if not size:  # nothing repeats in an empty text (datatrove divides by zero)
            return dict.fromkeys(self._stat_names(), 0.0)
        paragraphs = split_paragraphs(text)
        para_dups, para_chars = duplicates(paragraphs)
        lines = _NEWLINES.split(text) if self.skip_blank_lines else split_lines(text)
        line_dups, line_chars = duplicates(lines)
        stats = {
            "dup_para_frac": para_dups / len(paragraphs),
            "dup_para_char_frac": para_chars / size,
            "dup_line_frac": line_dups / len(lines) if lines else 0.0,
            "dup_line_char_frac": line_chars / size,
        }
        ngrams = NGrams(split_words(text))
        gopher = self.ngram_method == "gopher"
        total = ngrams.word_chars if gopher else size
        for n in self.top_n_grams:
            chars = ngrams.top_word_chars(n) if gopher else ngrams.top_chars(n)
            stats[f"top_{n}_gram"] = chars / total if total else 0.0
        for n in self.dup_n_grams:
            chars = ngrams.covered_chars(n) if gopher else ngrams.duplicate_chars(n)
            stats[f"duplicated_{n}_n_grams"] = chars / total if total else 0.0
        return stats

    def _stat_names(self) -> List[str]:
        return (["dup_para_frac", "dup_para_char_frac", "dup_line_frac", "dup_line_char_frac"]
                + [f"top_{n}_gram" for n in self.top_n_grams]
                + [f"duplicated_{n}_n_grams" for n in self.dup_n_grams])

    def decide(self, stats: Dict[str, float]) -> Optional[str]:
        for key, limit in (("dup_para_frac", self.dup_para_frac),
                           ("dup_para_char_frac", self.dup_para_char_frac),
                           ("dup_line_frac", self.dup_line_frac),
                           ("dup_line_char_frac", self.dup_line_char_frac)):
            if limit is not None and stats[key] > limit:
                return f"gopher_{key}"
        for n, limit in self.top_n_grams.items():
            if stats[f"top_{n}_gram"] > limit:
                return f"gopher_top_{n}_gram"
        for n, limit in self.dup_n_grams.items():
            if stats[f"duplicated_{n}_n_grams"] > limit:
                return f"gopher_duplicated_{n}_n_grams"
        return None
