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

import re
import unicodedata

# CCNet's UNICODE_PUNCT table (punct=1): character -> its ASCII replacement.
PUNCT_MAP = {
    "，": ",", "。": ".", "、": ",", "„": '"', "”": '"', "“": '"', "«": '"', "»": '"',
    "１": '"', "」": '"', "「": '"', "《": '"', "》": '"', "´": "'", "∶": ":", "：": ":",
    "？": "?", "！": "!", "（": "(", "）": ")", "；": ";", "–": "-", "—": " - ", "．": ". ",
    "～": "~", "’": "'", "…": "...", "━": "-", "〈": "<", "〉": ">", "【": "[", "】": "]",
    "％": "%", "►": "-",
}
_TRANSLATE_PUNCT = str.maketrans(PUNCT_MAP)
_CONTROL = "".join(map(chr, list(range(0, 32)) + list(range(127, 160))))
_DROP_CONTROL = str.maketrans("", "", _CONTROL)
_DIGIT = re.compile(r"\d")


def strip_accents(text: str) -> str:
    """``text`` in NFD without its nonspacing marks (category Mn): ``é`` -> ``e``, ``ß`` kept."""
    if text.isascii():
        return text
    decomposed = unicodedata.normalize("NFD", text)
    return "".join(c for c in decomposed if unicodedata.category(c) != "Mn")


def ccnet_normalize(text: str) -> str:
    """CCNet's ``normalize`` with its defaults (see the module docstring)."""
    text = text.strip()
    if not text:
        return text
    text = strip_accents(text.lower())
    text = _DIGIT.sub("0", text)
    return text.translate(_TRANSLATE_PUNCT).translate(_DROP_CONTROL)
