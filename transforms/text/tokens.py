"""Token counts: exact with a Hugging Face ``tokenizers`` file, else an estimate.

The estimate is one token per 4 bytes of UTF-8 (rounded up): the usual rule of
thumb for byte-level BPE tokenizers (GPT-2, Llama) on English web text, and a
byte count keeps it sensible for CJK text, where a character is 3 bytes and
roughly one token. It is what the funnel in ``stats.json`` reports, and what
``mix`` uses when the recipe names no tokenizer.
"""
from __future__ import annotations

import threading
from typing import Dict, List, Optional

BYTES_PER_TOKEN = 4

_tokenizers: Dict[str, object] = {}
_lock = threading.Lock()


def estimate_tokens(text: str) -> int:
    """ceil(UTF-8 bytes / 4); 0 for empty text."""
    size = len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))
    return -(-size // BYTES_PER_TOKEN)


def load_tokenizer(path: str):
    """A ``tokenizers.Tokenizer`` from a tokenizer.json (local or gs://), once per process."""
    with _lock:
        tok = _tokenizers.get(path)
        if tok is None:
            from apache_beam.io.filesystems import FileSystems
            from tokenizers import Tokenizer
            with FileSystems.open(path) as f:
                tok = Tokenizer.from_str(f.read().decode("utf-8"))
            _tokenizers[path] = tok
        return tok


class TokenCounter:
    """Counts tokens with the tokenizer file at ``path``, or estimates them when it is None."""

    def __init__(self, path: Optional[str] = None):
        self.path = path
        self._tok = load_tokenizer(path) if path else None

    @property
    def method(self) -> str:
        return f"tokenizer {self.path}" if self.path else f"estimate: UTF-8 bytes / {BYTES_PER_TOKEN}"

    def count(self, text: str) -> int:
        if self._tok is None:
            return estimate_tokens(text)
        return len(self._tok.encode(text, add_special_tokens=False).ids)

    def count_batch(self, texts: List[str]) -> List[int]:
        if self._tok is None:
            return [estimate_tokens(t) for t in texts]
        return [len(e.ids) for e in self._tok.encode_batch(texts, add_special_tokens=False)]
