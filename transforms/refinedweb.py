"""RefinedWeb line cleaning: the line-wise corrections of RefinedWeb's MDR stage.

Rules: Penedo et al. 2023, "The RefinedWeb Dataset for Falcon LLM", appendix
G.2 (line-wise corrections). Exact behaviour: DCLM's reproduction (Li et al.
2024), ``mlfoundations/dclm`` ``baselines/baselines_configs/refinedweb.yaml``
(the steps from ``word_counter_enricher`` to ``word_removal_ratio_filter``)
with the functions of ``baselines/mappers/modifiers.py``,
``content_filters.py`` and ``core_utils.split_words``. Each stage works on the
previous stage's output, as there, including DCLM's ``strip()`` of the
document after every stage but the short-line one.

Word counts are DCLM's: ``fasttext.FastText.tokenize`` tokens (split on
ASCII space, \\t \\n \\r \\v \\f and NUL) whose first character is
alphanumeric (``ignore_punctuation=True``), so "(hello" is not a word.

Measured (``tests/test_refinedweb.py``, one core): about 0.2 ms for a
2,000-word English document of 100 lines.
"""
from __future__ import annotations

import re
from operator import itemgetter
from typing import Dict, List, Optional, Tuple

from transforms.base import FilterStep

# Thresholds (DCLM refinedweb.yaml, after RefinedWeb appendix G.2).
MAX_UPPERCASE_RATIO = 0.5  # uppercase_ratio_line_modifier: line removed when uppercase chars / chars > 0.5
MAX_NUMERIC_RATIO = 0.999999  # numeric_ratio_line_modifier: line removed when it is (all but) digits
MIN_WORDS_PER_LINE = 2  # line_length_modifier(min_length=2): one-word lines removed (str.split words)
MAX_SUBSTRING_LINE_WORDS = 10  # substring_line_modifier(max_length=10): only lines this short are edited
MAX_REMOVED_RATIO = 0.05  # word_removal_ratio_filter: drop when more than 5% of the words went

# Drop reasons.
TOO_MUCH_REMOVED = "refinedweb_too_much_removed"
NO_WORDS = "refinedweb_no_words"  # DCLM drops a page whose word count before cleaning is 0
EMPTY = "refinedweb_empty"  # nothing left (only reachable with max_removed_ratio >= 1)

# DCLM counter_line_modifier, matched against the lower-cased line.
_COUNTER = re.compile(
    r"^\W*\d(?:,|\.|\d)*(?:K|k|M|m|B|b)?\s+(?:likes|shares|comments|retweets|reposts|quotes|bookmarks"
    r"|upvotes|downvotes|downloads|views|followers)\W*$")
_COUNTER_HINT = re.compile(r"\W*\d")  # cheap necessary condition, tested before lower-casing
# DCLM substring_line_modifier(remove_substring_only=True) patterns, case-insensitive. As in DCLM the
# banned string goes into the regex unescaped: the dots of "read more..." match any character.
_CART = re.compile(r"\s?(?:items in cart)", re.I)  # location any: every occurrence removed
_READ_MORE = re.compile(r"\s?(?:read more...)$", re.I)  # location suffix
_SIGN_IN = re.compile(r"^(?:sign-in)\s?", re.I)  # location prefix

_FT_SEP = re.compile(r"[ \n\r\t\v\f\x00]+")
# Characters where str.split() and fastText's tokenizer disagree (Unicode spaces, NUL, \x1c-\x1f).
_SPLIT_DIFFERS = re.compile("[\x00\x1c-\x1f\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]")
_UPPER_ASCII = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_DIGITS_ASCII = b"0123456789"
_first = itemgetter(0)

RULES = ("uppercase", "numeric", "counter", "short_line", "cart", "read_more", "sign_in")


def count_words(text: str) -> int:
    """DCLM ``split_words(text, ignore_punctuation=True)``: fastText tokens starting alphanumeric."""
    if _SPLIT_DIFFERS.search(text) is None:
        tokens = text.split()
    else:
        tokens = [t for t in _FT_SEP.split(text) if t]
    return sum(map(str.isalnum, map(_first, tokens)))


def _count_chars(line: str, ascii_set: bytes, predicate) -> int:
    if line.isascii():
        return len(line) - len(line.encode("ascii").translate(None, ascii_set))
    return sum(map(predicate, line))


def _strip(lines: List[str], counts: List[int]) -> Tuple[List[str], List[int]]:
    """``'\\n'.join(lines).strip().split('\\n')`` done on the list, keeping per-line word counts."""
    start, end = 0, len(lines)
    while start < end and (not lines[start] or lines[start].isspace()):
        start += 1
    while end > start and (not lines[end - 1] or lines[end - 1].isspace()):
        end -= 1
    if start == end:
        return [], []  # whitespace-only lines hold no word (a token of them starts with a space)
    lines, counts = lines[start:end], counts[start:end]
    for i, new in ((0, lines[0].lstrip()), (-1, lines[-1].rstrip())):
        if len(new) != len(lines[i]):
            lines[i], counts[i] = new, count_words(new)
    return lines, counts


class RefinedWebFilter(FilterStep):
    """Remove RefinedWeb's junk lines (shouting, numbers only, counters, one word,
    "items in cart", "Read more...", "Sign-in") and drop pages that lose over 5% of their words.

    Source: RefinedWeb (Penedo et al. 2023) appendix G.2, as implemented by DCLM
    ``baselines/baselines_configs/refinedweb.yaml`` + ``baselines/mappers/modifiers.py``; see the module docstring.
    Statistics: ``words`` (before), ``removed_ratio`` (share of words removed), ``kept_lines``, and per rule
    ``<rule>_removed``: the share of the original words in the lines (or substrings) that rule removed.

    Parameters:
        max_uppercase_ratio: remove a line whose uppercase characters / characters is above this (DCLM: 0.5).
        max_numeric_ratio: remove a line whose digit characters / characters is above this (DCLM: 0.999999,
            i.e. lines made only of digits).
        min_words_per_line: remove a non-empty line with fewer whitespace-separated words (DCLM: 2).
        max_substring_line_words: the "items in cart", "Read more..." and "Sign-in" removals touch only lines of
            at most this many words (DCLM: 10).
        max_removed_ratio: drop the page when more than this share of its words was removed (DCLM: 0.05).
    """

    name = "refinedweb"
    ANNOTATIONS = {"refinedweb_words": "int64", "refinedweb_removed_ratio": "float64",
                   "refinedweb_kept_lines": "int64",
                   **{f"refinedweb_{rule}_removed": "float64" for rule in RULES},
                   "refinedweb_drop": "string"}

    def __init__(self, max_uppercase_ratio: float = MAX_UPPERCASE_RATIO,
                 max_numeric_ratio: float = MAX_NUMERIC_RATIO,
                 min_words_per_line: int = MIN_WORDS_PER_LINE,
                 max_substring_line_words: int = MAX_SUBSTRING_LINE_WORDS,
                 max_removed_ratio: float = MAX_REMOVED_RATIO, **common):
        super().__init__(**common)
        for pname, value in (("max_uppercase_ratio", max_uppercase_ratio), ("max_numeric_ratio", max_numeric_ratio),
                             ("max_removed_ratio", max_removed_ratio)):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{pname} must be between 0 and 1, got {value}")
        if min_words_per_line < 0 or max_substring_line_words < 0:
            raise ValueError("min_words_per_line and max_substring_line_words must be >= 0")
        self.max_uppercase_ratio = max_uppercase_ratio
        self.max_numeric_ratio = max_numeric_ratio
        self.min_words_per_line = min_words_per_line
        self.max_substring_line_words = max_substring_line_words
        self.max_removed_ratio = max_removed_ratio

    # -- one stage each; every stage returns (lines, counts, words removed) --------------------------------

    def _remove_lines(self, lines, counts, remove):
        kept, kept_counts, removed = [], [], 0
        for line, n in zip(lines, counts):
            if line and remove(line):
                removed += n
            else:
                kept.append(line)
                kept_counts.append(n)
        return kept, kept_counts, removed

    def _too_upper(self, line: str) -> bool:
        return _count_chars(line, _UPPER_ASCII, str.isupper) / len(line) > self.max_uppercase_ratio

    def _too_numeric(self, line: str) -> bool:
        return _count_chars(line, _DIGITS_ASCII, str.isdigit) / len(line) > self.max_numeric_ratio

    @staticmethod
    def _is_counter(line: str) -> bool:
        return _COUNTER_HINT.match(line) is not None and _COUNTER.search(line.lower()) is not None

    def _too_short(self, line: str) -> bool:
        return len(line.split()) < self.min_words_per_line

    def _remove_substring(self, lines, counts, pattern):
        kept, kept_counts, removed = [], [], 0
        for line, n in zip(lines, counts):
            if line and len(line.split()) <= self.max_substring_line_words:
                new = pattern.sub("", line)
                if len(new) != len(line):
                    if not new or new.isspace():
                        removed += n
                        continue
                    m = count_words(new)
                    removed += n - m
                    line, n = new, m
            kept.append(line)
            kept_counts.append(n)
        return kept, kept_counts, removed

    def clean(self, doc):
        text = doc.text
        lines = text.split("\n")
        counts = [count_words(line) for line in lines]
        words = sum(counts)
        removed: Dict[str, int] = {}
        for rule in RULES:
            if rule == "uppercase":
                lines, counts, removed[rule] = self._remove_lines(lines, counts, self._too_upper)
            elif rule == "numeric":
                lines, counts, removed[rule] = self._remove_lines(lines, counts, self._too_numeric)
            elif rule == "counter":
                lines, counts, removed[rule] = self._remove_lines(lines, counts, self._is_counter)
            elif rule == "short_line":
                # DCLM's line_length_modifier keeps empty lines and does not strip the document
                lines, counts, removed[rule] = self._remove_lines(lines, counts, self._too_short)
                continue
            else:
                pattern = {"cart": _CART, "read_more": _READ_MORE, "sign_in": _SIGN_IN}[rule]
                lines, counts, removed[rule] = self._remove_substring(lines, counts, pattern)
            lines, counts = _strip(lines, counts)
        new_text = "\n".join(lines)
        stats = {"words": words,
                 "removed_ratio": (words - sum(counts)) / words if words else 0.0,
                 "kept_lines": len(lines)}
        for rule in RULES:
            stats[f"{rule}_removed"] = removed[rule] / words if words else 0.0
        return (text if new_text == text else new_text), stats

    def decide(self, stats) -> Optional[str]:
        if stats["words"] == 0:
            return NO_WORDS
        if stats["removed_ratio"] > self.max_removed_ratio:
            return TOO_MUCH_REMOVED
        if stats["kept_lines"] == 0:
            return EMPTY
        return None
