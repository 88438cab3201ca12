"""CCNet's text normalisation, the text its KenLM and SentencePiece models were trained on.

Behaves as ``normalize(line, accent=True, case=True, numbers=True, punct=1)`` of
facebookresearch/cc_net ``cc_net/text_normalizer.py`` (rewritten here, same output):
ends stripped (``str.strip``), lower case, accents removed (NFD, combining marks
of category Mn dropped), every Unicode decimal digit (``\\d``) -> ``0``, CCNet's
table of CJK/typographic punctuation mapped to ASCII (``—`` -> `` - ``, ``…`` ->
``...``; its table maps the fullwidth digit ``１`` to ``"``, but digits are
zeroed first, as in CCNet, so that entry never fires), then the C0 and C1 control
characters (U+0000-U+001F, U+007F-U+009F) removed, newlines and tabs included:
normalising a whole document joins its lines with nothing between them (CCNet's
mining pipeline does exactly that).
"""
from __future__ import annotations

import functools
import re
import sys
import unicodedata
from typing import List

# CCNet's UNICODE_PUNCT table (punct=1): character -> its ASCII replacement.
PUNCT_MAP = {
    "，": ",", "。": ".", "、": ",", "„": '"', "”": '"', "“": '"', "«": '"', "»": '"',
    "１": '"', "」": '"', "「": '"', "《": '"', "》": '"', "´": "'", "∶": ":", "：": ":",
    "？": "?", "！": "!", "（": "(", "）": ")", "；": ";", "–": "-", "—": " - ", "．": ". ",
    "～": "~", "’": "'", "…": "...", "━": "-", "〈": "<", "〉": ">", "【": "[", "】": "]",
    "％": "%", "►": "-",
}
# regex substitutions, not str.translate: they scan in C and leave the text alone where nothing matches
_PUNCT = re.compile("[" + "".join(map(re.escape, PUNCT_MAP)) + "]")
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
_CONTROL_BUT_NEWLINE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f]")
_DIGIT = re.compile(r"\d")


def _replace_punct(match: "re.Match[str]") -> str:
    return PUNCT_MAP[match.group()]


_ASTRAL = re.compile("[\U00010000-\U0010ffff]")


def _mark_class(low: int, high: int) -> "re.Pattern[str]":
    """A character class of the code points of category Mn in [low, high)."""
    ranges: List[List[int]] = []
    for cp in range(low, high):
        if unicodedata.category(chr(cp)) == "Mn":
            if ranges and ranges[-1][1] == cp - 1:
                ranges[-1][1] = cp
            else:
                ranges.append([cp, cp])
    return re.compile("[" + "".join(f"{re.escape(chr(a))}-{re.escape(chr(b))}" for a, b in ranges) + "]")


@functools.lru_cache(maxsize=None)
def _nonspacing_marks() -> "tuple[re.Pattern[str], re.Pattern[str]]":
    """The Mn code points of the BMP and beyond, as two classes (built once per process): ``re``
    tests a BMP-only class with a bitmap, a class with astral ranges one range at a time."""
    return _mark_class(0, 0x10000), _mark_class(0x10000, sys.maxunicode + 1)


def strip_accents(text: str) -> str:
    """``text`` in NFD without its nonspacing marks (category Mn): ``é`` -> ``e``, ``ß`` kept."""
    if text.isascii():
        return text
    bmp, astral = _nonspacing_marks()
    text = bmp.sub("", unicodedata.normalize("NFD", text))
    return astral.sub("", text) if _ASTRAL.search(text) else text


def ccnet_normalize(text: str) -> str:
    """CCNet's ``normalize`` with its defaults (see the module docstring)."""
    text = text.strip()
    if not text:
        return text
    text = _DIGIT.sub("0", strip_accents(text.lower()))
    return _CONTROL.sub("", _PUNCT.sub(_replace_punct, text))


def ccnet_normalize_lines(text: str) -> List[str]:
    """``[ccnet_normalize(line) for line in text.split("\\n")]``, each step run once over the whole text.
    The same: each line is stripped first (``—`` -> `` - `` must not be stripped), and case, accents,
    digits and punctuation never act across a newline (it is uncased, a starter, and mapped to nothing)."""
    joined = "\n".join(line.strip() for line in text.split("\n"))
    joined = _DIGIT.sub("0", strip_accents(joined.lower()))
    return _CONTROL_BUT_NEWLINE.sub("", _PUNCT.sub(_replace_punct, joined)).split("\n")
