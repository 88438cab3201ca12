"""C4's bad-words filter: drop documents holding a word of their language's LDNOOBW list.

Source: Raffel et al. 2020 (C4), section 2.2, with the "List of Dirty, Naughty,
Obscene or Otherwise Bad Words" (LDNOOBW); implementations read: TFDS
``tensorflow_datasets/text/c4_utils.py`` and datatrove
``pipeline/filters/c4_filters.py`` (``C4BadWordsFilter``, which FineWeb used).
The list files, their commits and datatrove's allowlist are set at the top.
"""
from __future__ import annotations

import hashlib
import os
import re
from typing import Dict, List, Optional, Pattern

from thresher.transforms.base import FilterStep, ParamError
from thresher.transforms.document import Document
from thresher.transforms.text.patterns import trie_pattern

# C4 built its English bad-words filter on LDNOOBW at this commit; datatrove
# uses it for English and commit 5faf2ba for the other languages.
C4_ENGLISH_LIST = "en.c4-commit-25e679f"
WORDLISTS_ENV = "THRESHER_WORDLISTS"
SUBSTRING_LANGUAGES = ("ja", "th", "zh")  # no spaces between words: match anywhere
# datatrove _BADWORDS_ALLOWLIST: common subwords that each flag >10% of documents.
ALLOWLIST = {"ja": {"sm", "グロ", "女の子"}, "zh": {"性"}}
_LANGUAGE_CODE = re.compile(r"^[A-Za-z]{2,3}(?:-[A-Za-z0-9]+)*$")


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
    every list with probes and real text); its CPU cost per document is
    measured by ``benchmarks/step_speed.py``.

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
            raise ParamError("wordlist_dir", f"c4_badwords: set wordlist_dir or ${WORDLISTS_ENV} to the LDNOOBW lists folder")
        if not 0.0 <= keep_fraction <= 1.0:
            raise ParamError("keep_fraction", f"c4_badwords: keep_fraction must be within [0, 1], got {keep_fraction}")
        if not english_file or "/" in english_file:
            raise ParamError("english_file", f"c4_badwords: english_file must be a file name, got {english_file!r}")
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
