"""A CCNet language model: SentencePiece + KenLM for one language, and CCNet's document perplexity.

What CCNet (facebookresearch/cc_net, ``cc_net/perplexity.py``: ``MultiSentencePiece`` then
``DocLM``) does, and where this differs:

* text: CCNet's ``normalize`` (``thresher.transforms.text.ccnet_normalize``; per line, run once over
  the whole text by ``ccnet_normalize_lines``, same result);
* tokens: SentencePiece pieces joined by one space (``encode_as_pieces``), the KenLM
  "words"; here every line of a document is encoded in one batched ``encode`` call;
* per line: KenLM's ``model.score(pieces)`` (log10, with ``<s>`` and ``</s>``), its length
  ``len(pieces.split()) + 1`` (the ``</s>``); lines are ``text.split("\\n")``, empty
  ones included (each scores ``</s>`` alone with length 1), as ``DocLM`` splits them;
* document: ``10 ** (-sum(log10) / sum(length))`` rounded to 1 decimal (CCNet's ``pp``
  and ``round(..., 1)``).

Lines: ``DocLM`` normalises each line, but CCNet's mining pipeline (``mine.py``) normalises the
whole document *before* SentencePiece, and the normaliser deletes control characters, ``\\n``
included: its published perplexities (and ``cutoff.csv``) score each document as one line whose
lines are glued together. ``per_line=True`` (the default) scores lines as ``DocLM`` does;
``per_line=False`` reproduces the mined numbers. Unlike CCNet, a text that is empty or only
whitespace gets no perplexity (CCNet skips only the empty one). A lone surrogate, which
SentencePiece cannot take, is encoded as ``?``.
"""
from __future__ import annotations

from typing import List, Optional, Tuple

from thresher.transforms.filters.quality_model import local_model_path
from thresher.transforms.per_process import per_process
from thresher.transforms.text.ccnet_normalize import ccnet_normalize, ccnet_normalize_lines

INSTALL_HINT = "pip install 'thresher[perplexity]'"


def missing_library() -> Optional[str]:
    """One line naming the missing library and the extra to install; None when both import."""
    missing = []
    for module in ("kenlm", "sentencepiece"):
        try:
            __import__(module)
        except ImportError:
            missing.append(module)
    if not missing:
        return None
    return f"perplexity needs {' and '.join(missing)}, not installed: {INSTALL_HINT}"


def pp(log_score: float, length: int) -> float:
    """CCNet's perplexity of a document: ``10 ** (-log10 score / length)``, rounded to 1 decimal."""
    return round(10.0 ** (-log_score / length), 1)


def _safe(lines: List[str]) -> List[str]:
    return [line.encode("utf-8", "replace").decode("utf-8") for line in lines]


class CCNetLanguageModel:
    """A SentencePiece model and a KenLM model (ARPA or binary) of one language, loaded from local
    paths or gs:// (copied once to the temp folder: both libraries need a local file)."""

    def __init__(self, lm_path: str, sp_path: str):
        import kenlm
        import sentencepiece

        self.lm_path, self.sp_path = lm_path, sp_path
        self.sp = sentencepiece.SentencePieceProcessor(model_file=local_model_path(sp_path))
        config = kenlm.Config()
        config.show_progress = False  # no progress bar in the workers' logs
        self.lm = kenlm.Model(local_model_path(lm_path), config)

    def pieces(self, lines: List[str]) -> List[str]:
        """Each (normalised) line as its SentencePiece pieces joined by one space; one batched call."""
        try:
            encoded = self.sp.encode(lines, out_type=str, num_threads=1)  # a worker is one core: no pool
        except (UnicodeEncodeError, TypeError):  # lone surrogates
            encoded = self.sp.encode(_safe(lines), out_type=str, num_threads=1)
        return [" ".join(p) for p in encoded]

    def log_score(self, text: str, per_line: bool = True) -> Tuple[float, int]:
        """(sum of KenLM's log10 scores of the lines, sum of their lengths), as CCNet counts them."""
        lines = ccnet_normalize_lines(text) if per_line else [ccnet_normalize(text)]
        total, length = 0.0, 0
        score = self.lm.score
        for line in self.pieces(lines):
            total += score(line)
            length += len(line.split()) + 1
        return total, length

    def perplexity(self, text: str, per_line: bool = True) -> Optional[float]:
        """CCNet's perplexity of ``text``; None for an empty or all-whitespace text."""
        if not text.strip():
            return None
        return pp(*self.log_score(text, per_line))


def shared_language_model(lm_path: str, sp_path: str) -> CCNetLanguageModel:
    """The model pair, loaded once per worker process and shared by its threads."""
    return per_process(("CCNetLanguageModel", lm_path, sp_path), lambda: CCNetLanguageModel(lm_path, sp_path))
