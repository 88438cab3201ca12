"""Normalize: repair broken Unicode (optional), normalise it, tidy whitespace and blank lines.

In this order:

1. ``fix_unicode``: ftfy ``fix_text`` with the default settings of datatrove's
   ``FTFYFormatter`` (``pipeline/formatters/ftfy.py``): repair mojibake, HTML entities,
   terminal escapes, C1 and other control characters, surrogates; no
   ligature, character-width, quote or line-break changes, no normalisation
   (step 2 does it). ftfy is optional: ``pip install ftfy`` (>= 6.1).
2. ``unicode_form``: ``unicodedata.normalize`` to NFC (default), NFKC, NFD or
   NFKD, or "none".
3. ``normalize_whitespace``: "\\r\\n", "\\r", U+0085, U+2028 and U+2029 become
   "\\n"; every other whitespace character (``str.isspace``: tab, NBSP,
   ideographic space...) becomes a space; runs of spaces become one; spaces at
   both ends of each line are removed (a line of spaces becomes empty).
4. ``max_consecutive_newlines``: longer runs of "\\n" are cut to this many
   (2 keeps one blank line between paragraphs; DCLM's
   ``newline_removal_modifier`` with ``max_consecutive: 2``).
5. The text is stripped; a document left empty is dropped (``normalize_empty``).

Cost per document, with and without ``fix_unicode``: ``benchmarks/step_speed.py``.
"""
from __future__ import annotations

import re
import unicodedata
from typing import Dict, Union

from thresher.transforms.base import DocumentStep, ParamError
from thresher.transforms.document import Document

EMPTY = "normalize_empty"
FORMS = ("NFC", "NFKC", "NFD", "NFKD", "none")
MAX_CONSECUTIVE_NEWLINES = 2  # DCLM refinedweb.yaml newline_removal_modifier(max_consecutive=2)

# datatrove FTFYFormatter defaults (fix encoding, keep the text's own formatting).
FTFY_SETTINGS = dict(unescape_html="auto", remove_terminal_escapes=True, fix_encoding=True, restore_byte_a0=True,
                     replace_lossy_sequences=True, decode_inconsistent_utf8=True, fix_c1_controls=True,
                     fix_latin_ligatures=False, fix_character_width=False, uncurl_quotes=False,
                     fix_line_breaks=False, fix_surrogates=True, remove_control_chars=True, normalization=None)

_LINE_SEPARATORS = re.compile("\r\n?|[\x85\u2028\u2029]")
# str.isspace() characters other than " " and "\n" and the line separators above.
_OTHER_SPACES = re.compile("[\t\x0b\x0c\x1c-\x1f\xa0\u1680\u2000-\u200a\u202f\u205f\u3000]")


def tidy_whitespace(text: str) -> str:
    """Line breaks to "\\n", other whitespace to single spaces, no spaces at line ends."""
    if "\r" in text or "\x85" in text or "\u2028" in text or "\u2029" in text:
        text = _LINE_SEPARATORS.sub("\n", text)
    if "  " in text or " \n" in text or "\n " in text or _OTHER_SPACES.search(text):
        # str.split() splits on every whitespace character and drops them at both ends
        text = "\n".join([" ".join(line.split()) for line in text.split("\n")])
    return text


class Normalize(DocumentStep):
    """Repair (optional, ftfy) and normalise Unicode, collapse whitespace and blank lines; drops only
    documents left empty.

    Sources: ftfy settings from datatrove's ``FTFYFormatter``; the blank-line rule is DCLM's
    ``newline_removal_modifier``. See the module docstring for the exact order of operations.

    Parameters:
        fix_unicode: repair mojibake and broken characters with ftfy (needs ``pip install ftfy``).
        unicode_form: Unicode normalisation form: "NFC", "NFKC", "NFD", "NFKD" or "none".
        normalize_whitespace: unify line breaks, turn other whitespace into single spaces, strip line ends.
        max_consecutive_newlines: cut longer runs of newlines to this many (0: leave them).
    """

    name = "normalize"
    WORKER_STATE = ("_fix",)
    ANNOTATIONS = {}
    ANNOTATION_DOCS: Dict[str, str] = {}
    DROP_REASONS = {"normalize_empty": "no text left after normalisation"}

    def __init__(self, fix_unicode: bool = False, unicode_form: str = "NFC", normalize_whitespace: bool = True,
                 max_consecutive_newlines: int = MAX_CONSECUTIVE_NEWLINES):
        super().__init__()
        if unicode_form not in FORMS:
            raise ParamError("unicode_form", f"unicode_form must be one of {', '.join(FORMS)}, got {unicode_form!r}")
        if max_consecutive_newlines < 0:
            raise ParamError("max_consecutive_newlines", f"max_consecutive_newlines must be >= 0, got {max_consecutive_newlines}")
        self.fix_unicode = fix_unicode
        self.unicode_form = unicode_form
        self.normalize_whitespace = normalize_whitespace
        self.max_consecutive_newlines = max_consecutive_newlines
        self._fix = None

    def setup(self) -> None:
        if self.fix_unicode and self._fix is None:
            try:
                import ftfy
            except ImportError as exc:
                raise ImportError("normalize: fix_unicode=True needs ftfy: pip install ftfy") from exc
            config = ftfy.TextFixerConfig(**FTFY_SETTINGS)
            self._fix = lambda text: ftfy.fix_text(text, config=config)


    def process(self, doc: Document) -> Union[Document, str]:
        text = doc.text
        if self.fix_unicode:
            if self._fix is None:
                self.setup()
            text = self._fix(text)
        if self.unicode_form != "none":
            text = unicodedata.normalize(self.unicode_form, text)
        if self.normalize_whitespace:
            text = tidy_whitespace(text)
        k = self.max_consecutive_newlines
        if k and "\n" * (k + 1) in text:
            text = re.sub("\n{%d,}" % (k + 1), "\n" * k, text)
        text = text.strip()
        if not text:
            return EMPTY
        return doc if text == doc.text else doc.with_text(text)
