"""A small byte-level BPE tokenizer for tests, trained the way ``thresher train-tokenizer`` trains.

``train_test_tokenizer(path)`` writes tokenizer.json at ``path`` (vocab 512 by default) trained on
``default_texts()``: a few hundred generated lines in several languages and scripts (Latin with
accents, Cyrillic, Greek, Arabic, Hebrew, Devanagari, CJK, emoji, code, numbers), so that common
words become tokens and every other text still encodes (byte fallback of byte-level BPE).
"""
from __future__ import annotations

import itertools
import os
from typing import Iterable, List, Optional

from thresher.pipelines.commands.train_tokenizer import train_bpe

_SUBJECTS = ["The farmer", "A small river", "Our new library", "The old train", "Every student", "The market"]
_VERBS = ["opens", "carries", "remembers", "builds", "finds", "closes"]
_OBJECTS = ["the wooden gate", "forty-two letters", "a quiet morning", "the blue notebook", "three bridges"]
_OTHER = [
    "Le café de la gare ouvre à sept heures, même le dimanche.",
    "Die Brücke über den Fluss wurde 1894 gebaut und ist schön.",
    "El niño comió una manzana y después durmió la siesta.",
    "Сегодня в городе идёт снег, и дети играют во дворе.",
    "Η θάλασσα ήταν ήρεμη και ο ουρανός καθαρός.",
    "ذهب الطالب إلى المكتبة ليقرأ كتاباً جديداً.",
    "הילדים הלכו לגן הציבורי אחרי הצהריים.",
    "किसान ने सुबह खेत में काम शुरू किया।",
    "今日は天気がいいので、公園で本を読みました。",
    "我们明天早上八点在火车站见面。",
    "오늘 저녁에 친구들과 함께 식사를 했습니다.",
    "Emoji too: 🙂 👍🏽 🇫🇷 ❤️ — and symbols ± × ÷ ∑ ∞.",
    "def add(a, b):\n    return a + b  # tabs\tand spaces",
    "Prices: $3.50, €12,00, ¥800; phone +1 (555) 010-0199.",
]


def default_texts() -> List[str]:
    """About four hundred deterministic lines of varied text."""
    lines = [f"{s} {v} {o} on day {i}." for i, (s, v, o) in
             enumerate(itertools.product(_SUBJECTS, _VERBS, _OBJECTS))]
    lines += [f"{text} ({i})" for i in range(16) for text in _OTHER]
    return lines


def train_test_tokenizer(path: str, texts: Optional[Iterable[str]] = None, vocab_size: int = 512) -> str:
    """Train on ``texts`` (default ``default_texts()``), save tokenizer.json at ``path``, return ``path``."""
    tokenizer = train_bpe(default_texts() if texts is None else texts, vocab_size)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tokenizer.save(str(path))
    return str(path)
