"""RefinedWeb line cleaning: the line-wise corrections of RefinedWeb's MDR stage.

Rules: Penedo et al. 2023, "The RefinedWeb Dataset for Falcon LLM", appendix
G.2 (line-wise corrections). Exact behaviour: DCLM's reproduction (Li et al.
2024, ``mlfoundations/dclm``): ``baselines/baselines_configs/refinedweb.yaml``,
the steps from ``word_counter_enricher`` to ``word_removal_ratio_filter``, with
the functions of ``baselines/mappers/modifiers.py``, ``filters/content_filters.py``
and ``core_utils.split_words``. The stages run in DCLM's order, each on the
previous one's output, and the document is ``strip()``-ed after every stage
but the short-line one, as there (a stripped first or last line is then judged
without its leading or trailing spaces).

Words are counted as DCLM counts them for the 5% rule: ``fasttext.FastText.
tokenize`` tokens (split on ASCII space, \\t \\n \\r \\v \\f and NUL) whose first
character is alphanumeric, so "(hello" is not a word. The one-word-line and
10-word limits use ``str.split()`` words, as DCLM does.

Its CPU cost is measured by ``benchmarks/step_speed.py``. Mostly non-Latin text
(Cyrillic, Greek) takes a slower word count.
"""
from __future__ import annotations

import re
from typing import List, Optional, Tuple

from thresher.transforms.base import FilterStep, ParamError

# Thresholds (DCLM refinedweb.yaml, after RefinedWeb appendix G.2).
MAX_UPPERCASE_RATIO = 0.5  # uppercase_ratio_line_modifier: remove a line with uppercase chars / chars > 0.5
MAX_NUMERIC_RATIO = 0.999999  # numeric_ratio_line_modifier: remove a line made (all but) of digits
MIN_WORDS_PER_LINE = 2  # line_length_modifier(min_length=2): remove non-empty lines of one word
MAX_SUBSTRING_LINE_WORDS = 10  # substring_line_modifier(max_length=10): only lines this short are edited
MAX_REMOVED_RATIO = 0.05  # word_removal_ratio_filter: drop when more than 5% of the words went

# Drop reasons.
TOO_MUCH_REMOVED = "refinedweb_too_much_removed"
NO_WORDS = "refinedweb_no_words"  # DCLM drops a page whose word count before cleaning is 0
EMPTY = "refinedweb_empty"  # nothing left (reachable on its own only with max_removed_ratio >= 1)

RULES = ("uppercase", "numeric", "counter", "short_line", "cart", "read_more", "sign_in")

# DCLM counter_line_modifier, matched against the lower-cased line.
_COUNTER_WORDS = ("likes", "shares", "comments", "retweets", "reposts", "quotes", "bookmarks",
                  "upvotes", "downvotes", "downloads", "views", "followers")
_COUNTER_START = re.compile(r"\W*\d")  # necessary: a line matching _COUNTER once lower-cased starts so
_COUNTER = re.compile(r"^\W*\d(?:,|\.|\d)*(?:K|k|M|m|B|b)?\s+(?:" + "|".join(_COUNTER_WORDS) + r")\W*$")
# DCLM substring_line_modifier(remove_substring_only=True), case-insensitive: (rule, pattern, literal
# that a matching line must contain once lower-cased). As in DCLM the banned string enters the regex
# unescaped: the dots of "read more..." match any character.
_SUBSTRINGS = (
    ("cart", re.compile(r"\s?(?:items in cart)", re.I), b"items in cart"),  # anywhere, every occurrence
    ("read_more", re.compile(r"\s?(?:read more...)$", re.I), b"read more"),  # line end
    ("sign_in", re.compile(r"^(?:sign-in)\s?", re.I), b"sign-in"),  # line start
)
# Characters that re.IGNORECASE matches to i or s but whose lower() is not i or s.
_FOLD_EXTRA = {0x130: "i", 0x131: "i", 0x17F: "s"}

# count_words: byte classes (s)eparator, ASCII (a)lphanumeric, (u)TF-8 lead or continuation, (o)ther.
_CLASSES = bytes(
    ord("s") if b in b" \t\n\r\x0b\x0c\x00" else ord("a") if bytes([b]).isalnum()
    else ord("u") if b >= 0x80 else ord("o") for b in range(256))
_FT_SEP = re.compile(r"[ \n\r\t\v\f\x00]+")
_LATIN1_ALNUM = frozenset(c.encode()[1] for c in map(chr, range(0x80, 0xC0)) if c.isalnum())  # ª ² ³ µ ¹ º ¼ ½ ¾


def _delete_all_but(keep: bytes) -> bytes:
    return bytes(b for b in range(256) if b not in keep)


_NOT_UPPER = _delete_all_but(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ\n")
_NOT_DIGIT = _delete_all_but(b"0123456789\n")
_ASCII_BUT_NEWLINE = bytes(b for b in range(128) if b != 10)


def count_words(text: str) -> int:
    """DCLM ``split_words(text, ignore_punctuation=True)``: fastText tokens that start alphanumeric."""
    data = text.encode("utf-8", "surrogatepass")
    classes = data.translate(_CLASSES)
    n = classes.count(b"sa") + (classes[:1] == b"a")  # tokens starting with an ASCII letter or digit
    non_ascii_starts = classes.count(b"su")
    if non_ascii_starts > n:  # mostly non-Latin text: tokenize instead of looking at each start
        return sum(1 for t in _FT_SEP.split(text) if t and t[0].isalnum())
    if classes[:1] == b"u" and text[0].isalnum():
        n += 1
    at = 0
    for _ in range(non_ascii_starts):  # “quoted”, é..., 中文: look at the first character
        at = classes.find(b"su", at) + 1
        lead, second = data[at], data[at + 1]
        if lead == 0xE2 and second == 0x80:  # U+2000-U+203F (“ ” ‘ ’ – — …): never alphanumeric
            continue
        if lead == 0xC2:  # U+0080-U+00BF (« » ¿ © ² ½...)
            n += second in _LATIN1_ALNUM
            continue
        n += data[at:at + 4].decode("utf-8", "replace")[0].isalnum()
    return n


class _Encoded:
    """A text as UTF-8 bytes, plus its non-ASCII characters line by line: shared by the per-line counts."""

    def __init__(self, text: str):
        self.data = text.encode("utf-8", "surrogatepass")
        # deleting the ASCII bytes leaves whole UTF-8 sequences
        self.others = None if text.isascii() else self.data.translate(None, _ASCII_BUT_NEWLINE).decode(
            "utf-8", "surrogatepass")

    def counts(self, ascii_delete: bytes, predicate) -> List[int]:
        """Per line, how many characters satisfy ``predicate`` (the ASCII ones are those ``ascii_delete`` keeps)."""
        counts = list(map(len, self.data.translate(None, ascii_delete).split(b"\n")))
        if self.others is None or not any(map(predicate, self.others)):
            return counts
        return [n + sum(map(predicate, extra)) if extra else n for n, extra in zip(counts, self.others.split("\n"))]


def _keep(lines: List[str], keep: List[bool]) -> Tuple[List[str], int]:
    """The kept lines and the number of words in the others."""
    if all(keep):
        return lines, 0
    removed = sum(count_words(line) for line, k in zip(lines, keep) if not k)
    return [line for line, k in zip(lines, keep) if k], removed


def _strip(lines: List[str]) -> Tuple[List[str], int]:
    """``'\\n'.join(lines).strip().split('\\n')`` on the list, and the change in word count."""
    start, end = 0, len(lines)
    while start < end and (not lines[start] or lines[start].isspace()):
        start += 1
    while end > start and (not lines[end - 1] or lines[end - 1].isspace()):
        end -= 1
    if start == end:
        return [], 0  # whitespace-only lines hold no word: their tokens start with a space character
    if start or end < len(lines) or lines[0][:1].isspace() or lines[-1][-1:].isspace():
        lines = lines[start:end]
    else:
        return lines, 0
    change = 0
    for i, strip in ((0, str.lstrip), (-1, str.rstrip)):
        new = strip(lines[i])
        if len(new) != len(lines[i]):
            change += count_words(new) - count_words(lines[i])
            lines[i] = new
    return lines, change


def _lower_for_search(text: str) -> bytes:
    """The text as lower-cased UTF-8 in which every re.IGNORECASE match of the (ASCII) phrases appears literally."""
    if not text.isascii() and ("\u0130" in text or "\u0131" in text or "\u017f" in text):
        text = text.translate(_FOLD_EXTRA)  # İ, ı and ſ match i, i and s under re.IGNORECASE
    return text.encode("utf-8", "surrogatepass").lower()  # bytes.lower() lowers ASCII letters only


class RefinedWebFilter(FilterStep):
    """Remove RefinedWeb's junk lines (mostly uppercase, only digits, "3 likes" counters, one word,
    "items in cart", "Read more...", "Sign-in") and drop pages that lose more than 5% of their words.

    Source: RefinedWeb (Penedo et al. 2023) appendix G.2 as implemented by DCLM
    (``baselines/baselines_configs/refinedweb.yaml``, ``baselines/mappers/modifiers.py``); see the module
    docstring. Statistics: ``words`` (before), ``removed_ratio`` (share of them removed), ``kept_lines``, and
    per rule ``<rule>_removed``, the share of the words that rule removed.

    Parameters:
        max_uppercase_ratio: remove a line whose uppercase characters / characters is above this (DCLM: 0.5).
        max_numeric_ratio: remove a line whose digits / characters is above this (DCLM: 0.999999: digits only).
        min_words_per_line: remove a non-empty line with fewer whitespace-separated words (DCLM: 2).
        max_substring_line_words: remove "items in cart", a final "Read more..." and a leading "Sign-in" only in
            lines of at most this many words (DCLM: 10).
        max_removed_ratio: drop the page when more than this share of its words was removed (DCLM: 0.05).
    """

    name = "refinedweb"
    ANNOTATIONS = {"refinedweb_words": "int64", "refinedweb_removed_ratio": "float64",
                   "refinedweb_kept_lines": "int64",
                   **{f"refinedweb_{rule}_removed": "float64" for rule in RULES},
                   "refinedweb_drop": "string"}
    ANNOTATION_DOCS = {
        "refinedweb_words": "words before cleaning",
        "refinedweb_removed_ratio": "share of the words removed",
        "refinedweb_kept_lines": "lines kept",
        **{f"refinedweb_{rule}_removed": f"share of the words removed by the {rule} line rule" for rule in RULES},
        "refinedweb_drop": "dry_run: the reason the document would have been dropped",
    }
    DROP_REASONS = {
        "refinedweb_too_much_removed": "more than max_removed_ratio of the words were removed",
        "refinedweb_no_words": "no words before cleaning",
        "refinedweb_empty": "nothing left after removing lines",
    }

    def __init__(self, max_uppercase_ratio: float = MAX_UPPERCASE_RATIO,
                 max_numeric_ratio: float = MAX_NUMERIC_RATIO,
                 min_words_per_line: int = MIN_WORDS_PER_LINE,
                 max_substring_line_words: int = MAX_SUBSTRING_LINE_WORDS,
                 max_removed_ratio: float = MAX_REMOVED_RATIO, **common):
        super().__init__(**common)
        for pname, value in (("max_uppercase_ratio", max_uppercase_ratio),
                             ("max_numeric_ratio", max_numeric_ratio),
                             ("max_removed_ratio", max_removed_ratio)):
            if not 0.0 <= value <= 1.0:
                raise ParamError(pname, f"{pname} must be between 0 and 1, got {value}")
        if min_words_per_line < 0:
            raise ParamError("min_words_per_line", f"min_words_per_line must be >= 0, got {min_words_per_line}")
        if max_substring_line_words < 0:
            raise ParamError("max_substring_line_words", f"max_substring_line_words must be >= 0, got {max_substring_line_words}")
        self.max_uppercase_ratio = max_uppercase_ratio
        self.max_numeric_ratio = max_numeric_ratio
        self.min_words_per_line = min_words_per_line
        self.max_substring_line_words = max_substring_line_words
        self.max_removed_ratio = max_removed_ratio

    def _remove_substring(self, lines: List[str], pattern) -> Tuple[List[str], int]:
        kept, removed, limit = [], 0, self.max_substring_line_words
        for line in lines:
            if line and len(line.split()) <= limit:
                new = pattern.sub("", line)
                if new != line:
                    if not new or new.isspace():
                        removed += count_words(line)
                        continue
                    removed += count_words(line) - count_words(new)
                    line = new
            kept.append(line)
        return kept, removed

    def clean(self, doc):
        text = doc.text
        words = count_words(text)
        removed = {}
        stripped = 0  # words gained or lost by DCLM's strip() of the document (rare: Unicode spaces)
        lines = text.split("\n")

        encoded = _Encoded(text)
        ratio = self.max_uppercase_ratio
        upper = encoded.counts(_NOT_UPPER, str.isupper)
        start = lines
        lines, removed["uppercase"] = _keep(lines, [not s or n / len(s) <= ratio for s, n in zip(lines, upper)])
        lines, change = _strip(lines)
        stripped += change

        ratio = self.max_numeric_ratio
        if lines is not start:  # lines went or were stripped: count again
            encoded = _Encoded("\n".join(lines))
        digits = encoded.counts(_NOT_DIGIT, str.isdigit)
        lines, removed["numeric"] = _keep(lines, [not s or n / len(s) <= ratio for s, n in zip(lines, digits)])
        lines, change = _strip(lines)
        stripped += change

        # Only a line starting with \W*\d can match; a letter first settles most lines at once.
        keep = [s[:1].isalpha() or _COUNTER_START.match(s) is None or _COUNTER.search(s.lower()) is None
                for s in lines]
        lines, removed["counter"] = _keep(lines, keep)
        lines, change = _strip(lines)
        stripped += change

        k = self.min_words_per_line  # len(s.split(None, k - 1)) >= k  <=>  s has at least k words
        keep = [not s or len(s.split(None, k - 1)) >= k for s in lines] if k else [True] * len(lines)
        lines, removed["short_line"] = _keep(lines, keep)  # DCLM does not strip after this one

        lower = None
        for rule, pattern, literal in _SUBSTRINGS:
            if lower is None:
                lower = _lower_for_search("\n".join(lines))
            if literal in lower:
                before = lines
                lines, removed[rule] = self._remove_substring(lines, pattern)
                if lines != before:
                    lower = None  # an edit may join text into a later phrase: look again
            else:
                removed[rule] = 0
            lines, change = _strip(lines)
            stripped += change

        left = words - sum(removed.values()) + stripped
        stats = {"words": words,
                 "removed_ratio": (words - left) / words if words else 0.0,
                 "kept_lines": len(lines)}
        for rule in RULES:
            stats[f"{rule}_removed"] = removed[rule] / words if words else 0.0
        new_text = "\n".join(lines)
        return (text if new_text == text else new_text), stats

    def decide(self, stats) -> Optional[str]:
        if stats["words"] == 0:
            return NO_WORDS
        if stats["removed_ratio"] > self.max_removed_ratio:
            return TOO_MUCH_REMOVED
        if stats["kept_lines"] == 0:
            return EMPTY
        return None
