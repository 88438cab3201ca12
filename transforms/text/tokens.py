"""Token counts: exact with a Hugging Face ``tokenizers`` file, else an estimate.

The estimate is one token per 4 bytes of UTF-8 (rounded up): the usual rule of
thumb for byte-level BPE tokenizers (GPT-2, Llama) on English web text, and a
byte count keeps it sensible for CJK text, where a character is 3 bytes and
roughly one token. It is what the funnel in ``stats.json`` reports, and what
``mix`` uses when the recipe names no tokenizer.

Also the helpers of the token shards (``thresher.transforms.io.token_shards``): the EOS id,
the token dtype a shard format needs for a vocabulary, and a tokenizer's identity.
"""
from __future__ import annotations

import hashlib
import threading
from typing import Dict, List, Optional

import numpy as np

from thresher.transforms.base import ParamError
from thresher.transforms.io.schema import clean

BYTES_PER_TOKEN = 4
EOS_CANDIDATES = ("<|endoftext|>", "<|end_of_text|>", "</s>", "<eos>", "<|eos|>")
# dtypes each shard format can hold; "auto" picks the smallest that fits the vocabulary
FORMAT_DTYPES = {"megatron": ("uint16", "int32"), "datatrove": ("uint16", "uint32")}
MEGATRON_UINT16_VOCAB = 65500  # Megatron's DType.optimal_dtype: uint16 below this vocabulary size

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


def eos_id(tokenizer, eos_token: Optional[str] = None) -> int:
    """The id of ``eos_token``, or of the first of ``EOS_CANDIDATES`` in the vocabulary."""
    names = (eos_token,) if eos_token else EOS_CANDIDATES
    for name in names:
        found = tokenizer.token_to_id(name)
        if found is not None:
            return found
    looked = f"eos_token {eos_token!r}" if eos_token else f"none of {', '.join(EOS_CANDIDATES)}"
    raise ParamError("eos_token", f"tokens: the tokenizer has no end-of-document token ({looked} is in its "
                                  f"vocabulary); set eos_token to one it has, or eos: false")


def token_dtype(format: str, vocab_size: int, dtype: str = "auto") -> np.dtype:
    """The numpy dtype of a shard's token ids: ``auto`` is the smallest ``format`` has for ``vocab_size``
    (megatron: uint16 below 65500, else int32; datatrove: uint16 up to 65536, else uint32)."""
    if format not in FORMAT_DTYPES:
        raise ParamError("format", f"tokens: format must be one of {', '.join(FORMAT_DTYPES)}, got {format!r}")
    small, large = FORMAT_DTYPES[format]
    if dtype == "auto":
        fits_small = vocab_size < MEGATRON_UINT16_VOCAB if format == "megatron" else vocab_size <= 1 << 16
        return np.dtype(small if fits_small else large)
    if dtype not in FORMAT_DTYPES[format]:
        raise ParamError("dtype", f"tokens: dtype for {format} must be auto, {small} or {large}, got {dtype!r}")
    limit = int(np.iinfo(np.dtype(dtype)).max) + 1  # ids 0 .. vocab_size - 1 must fit
    if vocab_size > limit:
        raise ParamError("dtype", f"tokens: dtype {dtype} holds ids below {limit}, but the tokenizer's "
                                  f"vocabulary has {vocab_size} tokens; use {large} or auto")
    return np.dtype(dtype)


def tokenizer_identity(path: str) -> Dict[str, object]:
    """``{"path", "sha256" of the file's bytes, "vocab_size" (added tokens included)}``."""
    from apache_beam.io.filesystems import FileSystems
    with FileSystems.open(path) as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    return {"path": path, "sha256": digest, "vocab_size": load_tokenizer(path).get_vocab_size(with_added_tokens=True)}


class TokenCounter:
    """Counts tokens with the tokenizer file at ``path``, or estimates them when it is None.
    The tokenizer counts the text as written (``schema.clean``: lone surrogates replaced; they would
    not encode). count_eos: every count is one more (the end-of-document token the token shards append)."""

    def __init__(self, path: Optional[str] = None, count_eos: bool = False):
        self.path, self.count_eos = path, count_eos
        self._tok = load_tokenizer(path) if path else None

    @property
    def method(self) -> str:
        method = f"tokenizer {self.path}" if self.path else f"estimate: UTF-8 bytes / {BYTES_PER_TOKEN}"
        return method + " + 1 end-of-document token" if self.count_eos else method

    def count(self, text: str) -> int:
        extra = int(self.count_eos)
        if self._tok is None:
            return estimate_tokens(text) + extra
        return len(self._tok.encode(clean(text), add_special_tokens=False).ids) + extra

    def count_batch(self, texts: List[str]) -> List[int]:
        extra = int(self.count_eos)
        if self._tok is None:
            return [estimate_tokens(t) + extra for t in texts]
        encoded = self._tok.encode_batch([clean(t) for t in texts], add_special_tokens=False)
        return [len(e.ids) + extra for e in encoded]
