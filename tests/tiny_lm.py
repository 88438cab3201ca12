"""A small real CCNet model pair (SentencePiece + KenLM ARPA) built by a test from a few texts, with
``thresher train-lm``'s own pieces (``pipelines/commands/train_lm.py``)."""
from __future__ import annotations

import pathlib
from typing import Dict, Sequence


def build_lm(folder: pathlib.Path, texts: Sequence[str], language: str = "en", order: int = 3,
             vocab_size: int = 200) -> Dict[str, str]:
    """``{"lm": FOLDER/LANG.arpa, "sp": FOLDER/LANG.sp.model}`` trained on ``texts``."""
    from thresher.pipelines.commands.train_lm import normalized_lines, train_arpa, train_sentencepiece

    folder.mkdir(parents=True, exist_ok=True)
    lines = normalized_lines(list(texts))
    sp_model = train_sentencepiece(lines, vocab_size)
    (folder / f"{language}.sp.model").write_bytes(sp_model)
    with open(folder / f"{language}.arpa", "w", encoding="utf-8") as out:
        train_arpa(lines, sp_model, order, out)
    return {"lm": str(folder / f"{language}.arpa"), "sp": str(folder / f"{language}.sp.model")}
