"""Gopher quality and repetition filters (Rae et al. 2021, "Scaling Language Models:
Methods, Analysis & Insights from Training Gopher", §A.1.1 and Table A1), as FineWeb
ran them: datatrove 0.2.0's ``GopherQualityFilter`` and ``GopherRepetitionFilter``
with their defaults, on NLTK words (``thresher.transforms.text.split.split_words``).

Every comparison operator, counting rule and check order follows datatrove 0.2.0;
the drop reasons are datatrove's, prefixed ``gopher_``. Where the paper and later
datatrove releases differ, a parameter chooses and the default is datatrove 0.2.0's.
On the 1,166 real pages of ``bench/real-pages.texts.jsonl.gz`` both filters decide
every page as datatrove 0.2.0 with NLTK 3.8.1 does (``tests/test_gopher.py``).

Cost per 2,000-word page, CPU on the 2-core build machine: quality 0.45 ms and
repetition 0.8 ms once the words are split, plus 0.9 ms to split them (done once for
consecutive filters on the same text); datatrove 0.2.0 takes 15 and 23 ms.
"""
from __future__ import annotations

import re
from typing import Dict, List, Optional

from thresher.transforms.base import FilterStep, ParamError
from thresher.transforms.document import Document
from thresher.transforms.text.split import NGrams, duplicates, split_lines, split_paragraphs, split_words

# Rae et al. 2021, §A.1.1 (quality filters), as datatrove 0.2.0 defaults.
MIN_DOC_WORDS = 50
MAX_DOC_WORDS = 100_000
MIN_AVG_WORD_LENGTH = 3.0
MAX_AVG_WORD_LENGTH = 10.0
MAX_SYMBOL_WORD_RATIO = 0.1  # "#" and ellipses, each
MAX_BULLET_LINES_RATIO = 0.9
MAX_ELLIPSIS_LINES_RATIO = 0.3
MIN_ALPHA_WORDS_RATIO = 0.8  # datatrove calls it max_non_alpha_words_ratio
MIN_STOP_WORDS = 2
STOP_WORDS = ["the", "be", "to", "of", "and", "that", "have", "with"]
BULLETS = ["•", "-"]  # datatrove's bullets (the paper does not list them)

# Rae et al. 2021, Table A1 (repetition filters).
DUP_LINE_FRAC = 0.3
DUP_PARA_FRAC = 0.3
DUP_LINE_CHAR_FRAC = 0.2
DUP_PARA_CHAR_FRAC = 0.2
TOP_NGRAM_CHAR_FRAC = {2: 0.20, 3: 0.18, 4: 0.16}
DUP_NGRAM_CHAR_FRAC = {5: 0.15, 6: 0.14, 7: 0.13, 8: 0.12, 9: 0.11, 10: 0.10}

# datatrove's PUNCTUATION (utils/text.py): a word made only of these is a symbol, not a word.
PUNCTUATION = ("!/—”:％１〈&(、━\\【#%「」，】；+^]~“《„';’{|∶´[=-`*．（–？！：$～«〉,><》)?）。…@_.\"}►»"
               + "".join(map(chr, [*range(0, 9), *range(11, 32), *range(127, 160)])))
# In the words joined by single spaces, with a space at each end: a word made only of
# punctuation, and a word with no letter (only non-word characters, digits or "_"; re's
# letters, which differ from str.isalpha only for a few numeric signs such as ² or ½).
_SYMBOL_WORD = re.compile(" [%s]+(?= )" % re.escape(PUNCTUATION))
_NO_LETTER_WORD = re.compile(r" [\W\d_]+?(?= )")
_NEWLINES = re.compile("\n+")  # datatrove >= 0.3 lines


class GopherQuality(FilterStep):
    """Drops documents that fail Gopher's quality rules: length, word length, symbols,
    bullets, ellipses, alphabetic words, stop words.

    Source: Rae et al. 2021 §A.1.1; datatrove 0.2.0 ``GopherQualityFilter`` (FineWeb).
    Words are ``split_words`` tokens; "words" in the length and mean-length rules are
    tokens with a character outside datatrove's punctuation set, the other ratios
    divide by all tokens. Each threshold set to None turns its rule off (datatrove
    also turns a rule off with 0; here 0 is a threshold).

    min_doc_words: drop with fewer words than this.
    max_doc_words: drop with more words than this.
    min_avg_word_length: drop when the mean word length is below this.
    max_avg_word_length: drop when the mean word length is above this.
    max_symbol_word_ratio: drop when "#" (then "..." and "…") per word is above this.
    max_bullet_lines_ratio: drop when more than this fraction of lines (``str.splitlines``)
        starts, after leading spaces, with one of ``bullets``.
    max_ellipsis_lines_ratio: drop when more than this fraction of lines ends in "..." or "…".
    min_alpha_words_ratio: drop when fewer than this fraction of words hold a letter.
    min_stop_words: drop when fewer than this many words (occurrences, case-sensitive)
        are in ``stop_words``.
    stop_words: the stop words (Gopher's eight English words).
    bullets: line starts that count as bullets (datatrove: "•" and "-").
    punctuation_is_word: count punctuation tokens as words in the symbol and alphabetic
        ratios (datatrove 0.2.0, FineWeb; it decides about 4% of English pages); False
        counts only real words there, as datatrove did before 0.2 and as the paper reads.
    """

    name = "gopher_quality"
    ANNOTATIONS = {
        "gopher_quality_words": "int64",
        "gopher_quality_mean_word_length": "float64",
        "gopher_quality_hash_ratio": "float64",
        "gopher_quality_ellipsis_ratio": "float64",
        "gopher_quality_bullet_lines_ratio": "float64",
        "gopher_quality_ellipsis_lines_ratio": "float64",
        "gopher_quality_alpha_words_ratio": "float64",
        "gopher_quality_stop_words": "int64",
        "gopher_quality_drop": "string",
    }
    ANNOTATION_DOCS = {
        "gopher_quality_words": "words (tokens with a non-punctuation character)",
        "gopher_quality_mean_word_length": "mean characters per word",
        "gopher_quality_hash_ratio": '"#" characters per word',
        "gopher_quality_ellipsis_ratio": '"..." and "…" per word',
        "gopher_quality_bullet_lines_ratio": "fraction of lines starting with a bullet",
        "gopher_quality_ellipsis_lines_ratio": 'fraction of lines ending in "..." or "…"',
        "gopher_quality_alpha_words_ratio": "fraction of words holding a letter",
        "gopher_quality_stop_words": "occurrences of stop words",
        "gopher_quality_drop": "dry_run: the reason the document would have been dropped",
    }
    DROP_REASONS = {
        "gopher_short_doc": "fewer words than min_doc_words",
        "gopher_long_doc": "more words than max_doc_words",
        "gopher_mean_word_length_below_min": "mean word length below min_avg_word_length",
        "gopher_mean_word_length_above_max": "mean word length above max_avg_word_length",
        "gopher_too_many_hashes": '"#" per word above max_symbol_word_ratio',
        "gopher_too_many_ellipsis": '"..." and "…" per word above max_symbol_word_ratio',
        "gopher_too_many_bullets": "fraction of bullet lines above max_bullet_lines_ratio",
        "gopher_too_many_end_ellipsis": 'fraction of lines ending in "..." above max_ellipsis_lines_ratio',
        "gopher_too_few_alpha_words": "fraction of words holding a letter below min_alpha_words_ratio",
        "gopher_too_few_stop_words": "fewer stop words than min_stop_words (datatrove: gopher_enough_stop_words)",
    }
    #: Thresher's name -> datatrove's, for the reasons renamed because datatrove's read ambiguously
    DATATROVE_REASONS = {"gopher_mean_word_length_below_min": "gopher_below_avg_threshold",
                         "gopher_mean_word_length_above_max": "gopher_above_avg_threshold",
                         "gopher_too_few_alpha_words": "gopher_below_alpha_threshold",
                         "gopher_too_few_stop_words": "gopher_enough_stop_words"}

    def __init__(self, min_doc_words: Optional[int] = MIN_DOC_WORDS,
                 max_doc_words: Optional[int] = MAX_DOC_WORDS,
                 min_avg_word_length: Optional[float] = MIN_AVG_WORD_LENGTH,
                 max_avg_word_length: Optional[float] = MAX_AVG_WORD_LENGTH,
                 max_symbol_word_ratio: Optional[float] = MAX_SYMBOL_WORD_RATIO,
                 max_bullet_lines_ratio: Optional[float] = MAX_BULLET_LINES_RATIO,
                 max_ellipsis_lines_ratio: Optional[float] = MAX_ELLIPSIS_LINES_RATIO,
                 min_alpha_words_ratio: Optional[float] = MIN_ALPHA_WORDS_RATIO,
                 min_stop_words: Optional[int] = MIN_STOP_WORDS,
                 stop_words: List[str] = STOP_WORDS,
                 bullets: List[str] = BULLETS,
                 punctuation_is_word: bool = True,
                 **common):
        super().__init__(**common)
        for key, value in (("min_doc_words", min_doc_words), ("max_doc_words", max_doc_words),
                           ("min_avg_word_length", min_avg_word_length),
                           ("max_avg_word_length", max_avg_word_length),
                           ("max_symbol_word_ratio", max_symbol_word_ratio),
                           ("max_bullet_lines_ratio", max_bullet_lines_ratio),
                           ("max_ellipsis_lines_ratio", max_ellipsis_lines_ratio),
                           ("min_alpha_words_ratio", min_alpha_words_ratio),
                           ("min_stop_words", min_stop_words)):
            if value is not None and value < 0:
                raise ParamError(key, f"{key} must be >= 0 or null, got {value}")
        if any(not w or " " in w for w in stop_words):
            raise ParamError("stop_words", f"stop_words must be non-empty words without spaces, got {stop_words}")
        if any(not b for b in bullets):
            raise ParamError("bullets", "bullets must be non-empty strings")
        self.min_doc_words = min_doc_words
        self.max_doc_words = max_doc_words
        self.min_avg_word_length = min_avg_word_length
        self.max_avg_word_length = max_avg_word_length
        self.max_symbol_word_ratio = max_symbol_word_ratio
        self.max_bullet_lines_ratio = max_bullet_lines_ratio
        self.max_ellipsis_lines_ratio = max_ellipsis_lines_ratio
        self.min_alpha_words_ratio = min_alpha_words_ratio
        self.min_stop_words = min_stop_words
        self.stop_words = list(stop_words)
        self._stop_set = frozenset(stop_words)
        self.bullets = list(bullets)
        self.punctuation_is_word = punctuation_is_word

    def score(self, doc: Document) -> Dict[str, float]:
        text = doc.text
        tokens = split_words(text)
        joined = " %s " % " ".join(tokens)
        symbols = _SYMBOL_WORD.findall(joined)  # each with its leading space
        n_words = len(tokens) - len(symbols)
        word_chars = len(joined) - len(tokens) - 1 - (sum(map(len, symbols)) - len(symbols))
        per = len(tokens) if self.punctuation_is_word else n_words
        with_letter = len(tokens) - len(_NO_LETTER_WORD.findall(joined))
        lines = split_lines(text)
        bullets = tuple(self.bullets)
        return {
            "words": n_words,
            "mean_word_length": word_chars / n_words if n_words else 0.0,
            "hash_ratio": text.count("#") / per if per else 0.0,
            "ellipsis_ratio": (text.count("...") + text.count("…")) / per if per else 0.0,
            "bullet_lines_ratio": (sum(1 for s in lines if s.lstrip().startswith(bullets)) / len(lines)
                                   if lines else 0.0),
            "ellipsis_lines_ratio": (sum(1 for s in lines if s.rstrip().endswith(("...", "…"))) / len(lines)
                                     if lines else 0.0),
            "alpha_words_ratio": with_letter / per if per else 0.0,
            "stop_words": sum(map(self._stop_set.__contains__, tokens)),
        }

    def decide(self, stats: Dict[str, float]) -> Optional[str]:
        n = stats["words"]
        if self.min_doc_words is not None and n < self.min_doc_words:
            return "gopher_short_doc"
        if self.max_doc_words is not None and n > self.max_doc_words:
            return "gopher_long_doc"
        if n:  # datatrove takes the mean of no words as NaN, which passes
            mean = stats["mean_word_length"]
            if self.min_avg_word_length is not None and mean < self.min_avg_word_length:
                return "gopher_mean_word_length_below_min"
            if self.max_avg_word_length is not None and mean > self.max_avg_word_length:
                return "gopher_mean_word_length_above_max"
        if self.max_symbol_word_ratio is not None:
            if stats["hash_ratio"] > self.max_symbol_word_ratio:
                return "gopher_too_many_hashes"
            if stats["ellipsis_ratio"] > self.max_symbol_word_ratio:
                return "gopher_too_many_ellipsis"
        if self.max_bullet_lines_ratio is not None and stats["bullet_lines_ratio"] > self.max_bullet_lines_ratio:
            return "gopher_too_many_bullets"
        if (self.max_ellipsis_lines_ratio is not None
                and stats["ellipsis_lines_ratio"] > self.max_ellipsis_lines_ratio):
            return "gopher_too_many_end_ellipsis"
        if self.min_alpha_words_ratio is not None and stats["alpha_words_ratio"] < self.min_alpha_words_ratio:
            return "gopher_too_few_alpha_words"
        if self.min_stop_words is not None and stats["stop_words"] < self.min_stop_words:
            return "gopher_too_few_stop_words"  # datatrove: gopher_enough_stop_words
        return None


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
