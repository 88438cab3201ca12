"""Gopher quality filter (Rae et al. 2021, "Scaling Language Models: Methods, Analysis &
Insights from Training Gopher", §A.1.1), as FineWeb ran it: datatrove 0.2.0's
``GopherQualityFilter`` with its defaults, on NLTK words
(``thresher.transforms.text.split.split_words``).

Every comparison operator, counting rule and check order follows datatrove 0.2.0;
the drop reasons are datatrove's, prefixed ``gopher_``. Where the paper and later
datatrove releases differ, a parameter chooses and the default is datatrove 0.2.0's.
On the 1,166 real pages of ``bench/real-pages.texts.jsonl.gz`` it decides every page
as datatrove 0.2.0 with NLTK 3.8.1 does (``tests/test_gopher.py``); its CPU cost is
measured by ``benchmarks/step_speed.py``. Gopher's repetition rules are in
``thresher.transforms.filters.gopher_repetition``.
"""
from __future__ import annotations

import re
from typing import Dict, List, Optional

from thresher.transforms.base import FilterStep, ParamError
from thresher.transforms.document import Document
from thresher.transforms.text.split import split_lines, split_words

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

# datatrove's PUNCTUATION (utils/text.py): a word made only of these is a symbol, not a word.
PUNCTUATION = ("!/—”:％１〈&(、━\\【#%「」，】；+^]~“《„';’{|∶´[=-`*．（–？！：$～«〉,><》)?）。…@_.\"}►»"
               + "".join(map(chr, [*range(0, 9), *range(11, 32), *range(127, 160)])))
# In the words joined by single spaces, with a space at each end: a word made only of
# punctuation, and a word with no letter (only non-word characters, digits or "_"; re's
# letters, which differ from str.isalpha only for a few numeric signs such as ² or ½).
_SYMBOL_WORD = re.compile(" [%s]+(?= )" % re.escape(PUNCTUATION))
_NO_LETTER_WORD = re.compile(r" [\W\d_]+?(?= )")


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
