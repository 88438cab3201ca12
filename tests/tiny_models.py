"""Tiny Hugging Face model folders the classifier tests build themselves (no download): a WordPiece
``tokenizer.json``, a ``config.json`` and a BERT-like ``model.onnx`` (embeddings, one masked
self-attention layer, masked mean pooling, a linear head) made with ``onnx.helper``; with torch,
a 2-layer ``BertForSequenceClassification`` saved by ``save_pretrained``."""
from __future__ import annotations

import json
import pathlib
import re
from typing import Dict, Iterable, List, Optional

import numpy as np

SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
WORDS = ("the a of and to in is was for on that with as by at from it this be are were which an or his her "
         "river valley farmers wheat barley water fields children market history school students learn lesson "
         "science math teacher book read write buy now click here casino free bonus cheap win offer "
         "museum bridge road coast salt fish bread price harvest garden season village old new").split()
HIDDEN = 16
MAX_POSITIONS = 512


def write_tokenizer(folder: pathlib.Path, extra_words: Iterable[str] = ()) -> Dict[str, int]:
    """A lower-casing WordPiece tokenizer ([CLS] text [SEP]) over WORDS and their letters; returns the vocab."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors

    words = list(dict.fromkeys([*WORDS, *extra_words]))
    letters = sorted({c for w in words for c in w} | set("abcdefghijklmnopqrstuvwxyz0123456789.,!?;:'-"))
    pieces = SPECIAL + words + letters + [f"##{c}" for c in letters]
    vocab = {p: i for i, p in enumerate(dict.fromkeys(pieces))}
    tok = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]", max_input_chars_per_word=100))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])])
    tok.save(str(folder / "tokenizer.json"))
    return vocab


def write_config(folder: pathlib.Path, labels: List[str], problem_type: Optional[str] = None,
                 vocab_size: int = 0, **more) -> None:
    config = {"architectures": ["BertForSequenceClassification"], "model_type": "bert",
              "num_labels": len(labels), "id2label": {str(i): l for i, l in enumerate(labels)},
              "label2id": {l: i for i, l in enumerate(labels)}, "max_position_embeddings": MAX_POSITIONS,
              "pad_token_id": 0, "vocab_size": vocab_size, **more}
    if problem_type:
        config["problem_type"] = problem_type
    (folder / "config.json").write_text(json.dumps(config, indent=1))


def onnx_graph(vocab_size: int, num_labels: int, seed: int = 0, int32_inputs: bool = False):
    """A BERT-shaped ONNX classifier: inputs input_ids, attention_mask, token_type_ids (batch, sequence);
    output logits (batch, num_labels). Padding is masked in attention and pooling."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    h = HIDDEN

    def weight(name, *shape, scale=0.5):
        return numpy_helper.from_array((rng.standard_normal(shape) * scale).astype(np.float32), name)

    inits = [weight("word", vocab_size, h), weight("type", 2, h), weight("pos", MAX_POSITIONS, h),
             weight("wq", h, h), weight("wk", h, h), weight("wv", h, h), weight("wc", h, num_labels, scale=1.0),
             weight("bc", num_labels, scale=0.1),
             numpy_helper.from_array(np.array(0, np.int64), "zero_s"), numpy_helper.from_array(np.array(1, np.int64), "one_s"),
             numpy_helper.from_array(np.array([1], np.int64), "ax1"), numpy_helper.from_array(np.array([2], np.int64), "ax2"),
             numpy_helper.from_array(np.array(1.0 / np.sqrt(h), np.float32), "scale"),
             numpy_helper.from_array(np.array(1.0, np.float32), "onef"),
             numpy_helper.from_array(np.array(1e4, np.float32), "big")]
    n = helper.make_node
    kind = TensorProto.INT32 if int32_inputs else TensorProto.INT64
    nodes = [
        n("Cast", ["input_ids"], ["ids"], to=TensorProto.INT64),
        n("Cast", ["token_type_ids"], ["tids"], to=TensorProto.INT64),
        n("Cast", ["attention_mask"], ["maskf"], to=TensorProto.FLOAT),
        n("Gather", ["word", "ids"], ["we"]), n("Gather", ["type", "tids"], ["te"]),
        n("Shape", ["ids"], ["shape"]), n("Gather", ["shape", "one_s"], ["seq"]),
        n("Range", ["zero_s", "seq", "one_s"], ["positions"]), n("Gather", ["pos", "positions"], ["pe"]),
        n("Add", ["we", "te"], ["x0"]), n("Add", ["x0", "pe"], ["x"]),
        n("MatMul", ["x", "wq"], ["q"]), n("MatMul", ["x", "wk"], ["k"]), n("MatMul", ["x", "wv"], ["v"]),
        n("Transpose", ["k"], ["kt"], perm=[0, 2, 1]), n("MatMul", ["q", "kt"], ["s0"]), n("Mul", ["s0", "scale"], ["s1"]),
        n("Unsqueeze", ["maskf", "ax1"], ["m1"]), n("Sub", ["m1", "onef"], ["m2"]), n("Mul", ["m2", "big"], ["bias"]),
        n("Add", ["s1", "bias"], ["s2"]), n("Softmax", ["s2"], ["attn"], axis=-1),
        n("MatMul", ["attn", "v"], ["ctx"]), n("Add", ["ctx", "x"], ["r"]), n("Tanh", ["r"], ["hs"]),
        n("Unsqueeze", ["maskf", "ax2"], ["m3"]), n("Mul", ["hs", "m3"], ["hm"]),
        n("ReduceSum", ["hm", "ax1"], ["summed"], keepdims=0), n("ReduceSum", ["maskf", "ax1"], ["count"], keepdims=1),
        n("Div", ["summed", "count"], ["pooled"]),
        n("MatMul", ["pooled", "wc"], ["l0"]), n("Add", ["l0", "bc"], ["logits"]),
    ]
    inputs = [helper.make_tensor_value_info(name, kind, ["batch", "sequence"])
              for name in ("input_ids", "attention_mask", "token_type_ids")]
    outputs = [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", num_labels])]
    graph = helper.make_graph(nodes, "tiny_classifier", inputs, outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def onnx_model_dir(folder: pathlib.Path, labels: List[str], problem_type: Optional[str] = None,
                   seed: int = 0, extra_words: Iterable[str] = (), int32_inputs: bool = False) -> pathlib.Path:
    """A model folder (config.json, tokenizer.json, model.onnx) with ``labels`` (one label: regression)."""
    import onnx

    folder.mkdir(parents=True, exist_ok=True)
    vocab = write_tokenizer(folder, extra_words)
    write_config(folder, labels, problem_type or ("regression" if len(labels) == 1 else None), len(vocab))
    onnx.save(onnx_graph(len(vocab), len(labels), seed, int32_inputs), str(folder / "model.onnx"))
    return folder


def words_of(texts: Iterable[str]) -> List[str]:
    return sorted({w for t in texts for w in re.findall(r"[a-z]+", t.lower())})


def torch_model_dir(folder: pathlib.Path, labels: List[str], seed: int = 0) -> pathlib.Path:
    """A 2-layer, hidden-32 ``BertForSequenceClassification`` with random weights, saved with
    ``save_pretrained`` next to the tokenizer.json (and a fast tokenizer's files)."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification, PreTrainedTokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    vocab = write_tokenizer(folder)
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=MAX_POSITIONS, num_labels=len(labels),
                        id2label=dict(enumerate(labels)), label2id={l: i for i, l in enumerate(labels)},
                        problem_type="regression" if len(labels) == 1 else "single_label_classification")
    model = BertForSequenceClassification(config).eval()
    model.save_pretrained(str(folder))
    fast = PreTrainedTokenizerFast(tokenizer_file=str(folder / "tokenizer.json"), pad_token="[PAD]",
                                   unk_token="[UNK]", cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]",
                                   model_input_names=["input_ids", "token_type_ids", "attention_mask"])  # as BERT's
    fast.save_pretrained(str(folder))
    return folder
