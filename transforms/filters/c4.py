"""C4: the line cleaning and page rules of C4.

Source: Raffel et al. 2020, "Exploring the Limits of Transfer Learning with a
Unified Text-to-Text Transformer" (JMLR 21), section 2.2. Implementations read:
TFDS ``tensorflow_datasets/text/c4_utils.py`` (``clean_page``, the code that
built C4) and datatrove ``pipeline/filters/c4_filters.py`` (``C4QualityFilter``,
which FineWeb used). Sentences are counted as both references count them, with
NLTK's Punkt and its English model (``thresher.transforms.text.sentences``). C4's
bad-words filter is ``thresher.transforms.filters.c4_badwords``; its corpus-wide
line dedup ``thresher.transforms.dedup.line_dedup``.
"""
from __future__ import annotations

import re
from typing import Dict, List, Optional, Tuple

from thresher.transforms.base import FilterStep, ParamError
from thresher.transforms.document import Document
from thresher.transforms.text.sentences import count_sentences, english_punkt

# ---------------------------------------------------------------- thresholds
# datatrove C4QualityFilter defaults (what FineWeb ran). TFDS c4_utils, which
# built C4, uses _MIN_WORDS_PER_LINE = 5 and _MIN_NUM_SENTENCES = 3.
MIN_WORDS_PER_LINE = 3
MIN_NUM_SENTENCES = 5
MAX_WORD_LENGTH = 1000  # both references
# datatrove END_PUNCTUATION; TFDS _END_MARKS has no single quote.
END_MARKS = [".", "?", "!", '"', "'"]
ELLIPSIS = "..."
POLICY_SUBSTRINGS = ("terms of use", "privacy policy", "cookie policy",
                     "uses cookies", "use of cookies", "use cookies")
CITATION = re.compile(r"\[\d*\]|\[edit\]|\[citation needed\]")



def _has_policy_phrase(lower: str) -> bool:
    # every phrase contains "cookie", "terms of use" or "privacy policy": test those first
    return (("cookie" in lower or "terms of use" in lower or "privacy policy" in lower)
            and any(p in lower for p in POLICY_SUBSTRINGS))


# ---------------------------------------------------------------- C4 lines

class C4Filter(FilterStep):
    """Clean lines and drop pages by the C4 rules (Raffel et al. 2020).

    Each line (``str.splitlines``, stripped) is tested in the references'
    order: a word longer than ``max_word_length`` drops the line; citation
    markers ([1], [edit], [citation needed]) are removed; a line not ending in
    an end mark, or ending in "...", is dropped; then a line with too few
    words; "lorem ipsum" drops the page (c4_lorem_ipsum); "javascript" drops
    the line; "{" drops the page (c4_curly_bracket); a cookie/policy phrase
    drops the line. The page rules only see lines that passed the rules before
    them. A page with fewer than ``min_num_sentences`` Punkt sentences in its
    kept lines is dropped (c4_too_few_sentences); kept lines are joined with
    "\\n". Statistics: lines read, kept, and removed per rule; sentences.

    Defaults are datatrove's (FineWeb); recipes/c4.yaml sets the TFDS values
    that built C4: min_words_per_line 5, min_num_sentences 3, end_marks
    without "'", words_before_citation_removal false. FineWeb turned
    filter_no_terminal_punct off. Not here: TFDS's corpus-wide line dedup and
    200k-char page limit, and its bad-words test (see C4BadWords).

    Punkt runs only when the decision needs it (fewer non-blank kept lines
    than min_num_sentences, each holding at least one sentence), and then
    stops at min_num_sentences; with annotate or dry_run it counts every kept
    line exactly, at a much higher cost (``benchmarks/step_speed.py`` measures
    the defaults). Text without spaces (zh, ja, th) does not crash, but
    a line is one "word" and ends in no ASCII end mark, so its lines go and the
    page is dropped as c4_too_few_sentences: run C4 on space-separated languages
    only. After a page rule fires, the statistics
    cover the lines read so far.

    filter_no_terminal_punct: drop lines that do not end in an end mark (or end in "...").
    end_marks: line endings that count as terminal punctuation.
    min_words_per_line: drop lines with fewer whitespace-separated words (<= 0: off).
    words_before_citation_removal: count words before removing citations (datatrove) or after (TFDS).
    max_word_length: drop lines with a longer word (-1: off).
    remove_citations: remove [1], [edit] and [citation needed] from lines.
    filter_javascript: drop lines containing "javascript" (any case).
    filter_policy: drop lines containing a terms-of-use/privacy/cookie phrase.
    filter_lorem_ipsum: drop pages with "lorem ipsum" in a kept line.
    filter_curly_bracket: drop pages with "{" in a kept line.
    min_num_sentences: drop pages with fewer sentences in their kept lines (<= 0: off).
    """

    name = "c4"
    RULES = ("too_long_word", "no_terminal_punct", "too_few_words", "javascript", "policy")
    ANNOTATIONS = {
        "c4_lines": "int64", "c4_lines_kept": "int64",
        **{f"c4_lines_{rule}": "int64" for rule in RULES},
        "c4_sentences": "int64", "c4_lorem_ipsum": "bool", "c4_curly_bracket": "bool",
        "c4_drop": "string",
    }
    ANNOTATION_DOCS = {
        "c4_lines": "lines read", "c4_lines_kept": "lines kept",
        "c4_lines_too_long_word": "lines removed for a word longer than max_word_length",
        "c4_lines_no_terminal_punct": "lines removed for not ending in an end mark",
        "c4_lines_too_few_words": "lines removed for fewer than min_words_per_line words",
        "c4_lines_javascript": 'lines removed for containing "javascript"',
        "c4_lines_policy": "lines removed for a terms-of-use, privacy or cookie phrase",
        "c4_sentences": "sentences in the kept lines",
        "c4_lorem_ipsum": 'a kept line holds "lorem ipsum"',
        "c4_curly_bracket": 'a kept line holds "{"',
        "c4_drop": "dry_run: the reason the document would have been dropped",
    }
    DROP_REASONS = {
        "c4_lorem_ipsum": 'a kept line holds "lorem ipsum"',
        "c4_curly_bracket": 'a kept line holds "{" (code)',
        "c4_too_few_sentences": "fewer than min_num_sentences sentences in the kept lines",
    }

    def __init__(self, filter_no_terminal_punct: bool = True, end_marks: List[str] = END_MARKS,
                 min_words_per_line: int = MIN_WORDS_PER_LINE, words_before_citation_removal: bool = True,
                 max_word_length: int = MAX_WORD_LENGTH, remove_citations: bool = True,
                 filter_javascript: bool = True, filter_policy: bool = True,
                 filter_lorem_ipsum: bool = True, filter_curly_bracket: bool = True,
                 min_num_sentences: int = MIN_NUM_SENTENCES, **common):
        super().__init__(**common)
        if not end_marks or not all(isinstance(m, str) and m for m in end_marks):
            raise ParamError("end_marks", f"c4: end_marks must be non-empty strings, got {end_marks!r}")
        if max_word_length < -1:
            raise ParamError("max_word_length", f"c4: max_word_length must be >= 0, or -1 for off, got {max_word_length}")
        self.filter_no_terminal_punct = filter_no_terminal_punct
        self.end_marks = tuple(end_marks)
        self.min_words_per_line = min_words_per_line
        self.words_before_citation_removal = words_before_citation_removal
        self.max_word_length = max_word_length
        self.remove_citations = remove_citations
        self.filter_javascript = filter_javascript
        self.filter_policy = filter_policy
        self.filter_lorem_ipsum = filter_lorem_ipsum
        self.filter_curly_bracket = filter_curly_bracket
        self.min_num_sentences = min_num_sentences

    def setup(self) -> None:
        english_punkt()

    def clean(self, doc: Document) -> Tuple[str, Dict[str, object]]:
        max_len, min_words = self.max_word_length, self.min_words_per_line
        removed = dict.fromkeys(self.RULES, 0)
        kept: List[str] = []
        lorem = curly = False
        lines = doc.text.splitlines()
        read = 0
        for line in lines:
            read += 1
            line = line.strip()
            original = line
            if max_len >= 0 and len(line) > max_len and any(len(w) > max_len for w in line.split()):
                removed["too_long_word"] += 1
                continue
            if self.remove_citations and "[" in line:
                line = CITATION.sub("", line)
            if self.filter_no_terminal_punct and (not line.endswith(self.end_marks) or line.endswith(ELLIPSIS)):
                removed["no_terminal_punct"] += 1
                continue
            # split at most min_words times: min(words, min_words + 1) pieces decide "too few"
            if min_words > 0 and len((original if self.words_before_citation_removal else line)
                                     .split(None, min_words)) < min_words:
                removed["too_few_words"] += 1
                continue
            lower = line.lower()
            if self.filter_lorem_ipsum and "lorem ipsum" in lower:
                lorem = True
                break
            if self.filter_javascript and "javascript" in lower:
                removed["javascript"] += 1
                continue
            if self.filter_curly_bracket and "{" in line:
                curly = True
                break
            if self.filter_policy and _has_policy_phrase(lower):
                removed["policy"] += 1
                continue
            kept.append(line)
        stats: Dict[str, object] = {"lines": read, "lines_kept": len(kept)}
        stats.update((f"lines_{rule}", n) for rule, n in removed.items())
        stats["sentences"] = 0 if lorem or curly else self._sentences(kept)
        stats["lorem_ipsum"], stats["curly_bracket"] = lorem, curly
        if lorem or curly:
            return doc.text, stats
        text = "\n".join(kept).strip()
        return (doc.text if text == doc.text else text), stats

    def _sentences(self, lines: List[str]) -> int:
        """Sentences in the kept lines: exact when annotating, else counted only
        as far as the decision needs (each non-blank line holds at least one)."""
        exact = self.annotate or self.dry_run
        if not exact:
            at_least = sum(1 for line in lines if line and not line.isspace())
            if at_least >= self.min_num_sentences:
                return at_least
        total = 0
        for line in lines:
            total += count_sentences(line)
            if not exact and total >= self.min_num_sentences:
                break
        return total

    def decide(self, stats: Dict[str, object]) -> Optional[str]:
        if stats["lorem_ipsum"]:
            return "c4_lorem_ipsum"
        if stats["curly_bracket"]:
            return "c4_curly_bracket"
        if stats["sentences"] < self.min_num_sentences:
            return "c4_too_few_sentences"
        return None
