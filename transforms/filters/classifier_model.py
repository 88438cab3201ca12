"""The classifier step's model side: a Hugging Face model folder, batches of tokens, RunInference handlers.

A model folder holds ``config.json`` (``id2label``, ``num_labels``, ``problem_type``),
``tokenizer.json`` and ``model.onnx`` and/or ``model.safetensors``/``pytorch_model.bin``.
Documents are tokenized together (``encode_batch``), sorted by token count and cut into
batches padded to their longest; one RunInference element is one such batch, an int64 array
``(3, rows, length)`` of input ids, attention mask and token type ids, so a score does not
depend on its batch (padding is masked).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import xxhash
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

#: the rows of a batch array, by the model input each one feeds
INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")
ONNX_FILE = "model.onnx"
TORCH_FILES = ("model.safetensors", "pytorch_model.bin")
HUB_NAME = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")


def join(folder: str, name: str) -> str:
    return FileSystems.join(folder, name) if FileSystems.get_scheme(folder) not in (None, "file") \
        else os.path.join(folder, name)


def is_hub_name(model: str) -> bool:
    """``org/name`` that is no local path: a Hugging Face hub model (read with the torch backend)."""
    return (FileSystems.get_scheme(model) in (None, "file") and not os.path.exists(model)
            and HUB_NAME.fullmatch(model) is not None and ".." not in model)


def resolve(model: str) -> str:
    """The model folder: a hub name's local copy (downloaded once into the Hugging Face cache), else ``model``."""
    if not is_hub_name(model):
        return model
    from huggingface_hub import snapshot_download

    return snapshot_download(model, allow_patterns=["*.json", "*.safetensors", "*.bin", "*.txt", "*.model"])


def read_text(path: str) -> str:
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        return f.read().decode("utf-8")


def exists(path: str) -> bool:
    return FileSystems.exists(path)


class ModelConfig:
    """What ``config.json`` says of the outputs: label names by index, regression or classes."""

    def __init__(self, config: Dict):
        labels = config.get("id2label") or {}
        self.num_labels = int(config.get("num_labels") or len(labels) or 2)
        self.labels: List[str] = [str(labels.get(str(i), labels.get(i, f"LABEL_{i}"))) for i in range(self.num_labels)]
        self.problem_type = config.get("problem_type")
        self.max_positions = config.get("max_position_embeddings")
        self.pad_token_id = config.get("pad_token_id")

    @classmethod
    def read(cls, folder: str) -> "ModelConfig":
        return cls(json.loads(read_text(join(folder, "config.json"))))

    def sigmoid(self) -> bool:
        """A label's probability is its sigmoid (multi-label, or one logit) rather than a softmax share."""
        return self.problem_type == "multi_label_classification" or self.num_labels == 1


class BatchTokenizer:
    """A ``tokenizers`` tokenizer truncating to ``max_tokens`` (special tokens included, as the
    transformers pipeline truncates) that cuts documents into length-sorted padded batches."""

    def __init__(self, tokenizer_json: str, max_tokens: int, pad_id: Optional[int] = None):
        from tokenizers import Tokenizer

        tok = Tokenizer.from_str(tokenizer_json)
        if pad_id is None:
            padding = tok.padding
            pad_id = padding["pad_id"] if padding else next(
                (tok.token_to_id(t) for t in ("[PAD]", "<pad>", "<|pad|>") if tok.token_to_id(t) is not None), 0)
        tok.no_padding()
        tok.enable_truncation(max_length=max_tokens)
        self.tokenizer, self.pad_id, self.max_tokens = tok, int(pad_id), max_tokens

    def encode(self, texts: Sequence[str]):
        return self.tokenizer.encode_batch(list(texts))

    def batches(self, encodings, batch_size: int, batch_tokens: Optional[int]) -> List[Tuple[List[int], np.ndarray]]:
        """[(positions of the documents in the batch, its (3, rows, length) int64 array)]: documents
        sorted by token count, a batch ends at ``batch_size`` rows or ``batch_tokens`` padded tokens."""
        lengths = [len(e.ids) for e in encodings]
        order = sorted(range(len(encodings)), key=lengths.__getitem__)
        out, start = [], 0
        while start < len(order):
            end = start + 1
            while end < len(order) and end - start < batch_size and (
                    batch_tokens is None or (end - start + 1) * lengths[order[end]] <= batch_tokens):
                end += 1
            rows = order[start:end]
            out.append((rows, self.array([encodings[i] for i in rows])))
            start = end
        return out

    def array(self, encodings) -> np.ndarray:
        length = max(1, max(len(e.ids) for e in encodings))
        arr = np.zeros((3, len(encodings), length), dtype=np.int64)
        arr[0].fill(self.pad_id)
        for row, enc in enumerate(encodings):
            n = len(enc.ids)
            arr[0, row, :n] = enc.ids
            arr[1, row, :n] = 1
            arr[2, row, :n] = enc.type_ids
        return arr


def scores_from_logits(logits: np.ndarray, output: str, config: ModelConfig):
    """(float64 scores, label names or None) of one batch's ``(rows, num_labels)`` logits: the single
    logit for ``regression``, the label's index for ``argmax`` (names returned), else that label's probability."""
    logits = np.asarray(logits, dtype=np.float64).reshape(len(logits), -1)
    if output == "regression":
        return logits[:, 0], None
    if output == "argmax":
        best = logits.argmax(axis=1)
        return best.astype(np.float64), [config.labels[i] for i in best]
    index = config.labels.index(output)
    if config.sigmoid():
        return 1.0 / (1.0 + np.exp(-logits[:, index])), None
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted[:, index] / shifted.sum(axis=1), None


def gpu_present() -> bool:
    """Whether this machine has a CUDA GPU (torch's view when torch is installed, else nvidia-smi)."""
    try:
        import torch

        return bool(torch.cuda.is_available())
    except ImportError:
        pass
    if not shutil.which("nvidia-smi"):
        return False
    try:
        listed = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return False
    return listed.returncode == 0 and "GPU" in listed.stdout


def onnx_inference(session, batch: Sequence[np.ndarray], inference_args=None):
    """Beam ``OnnxModelHandlerNumpy`` inference_fn: each element is a whole padded batch, fed to the
    inputs the graph declares (input ids, attention mask, token type ids); returns its logits."""
    feeds_by_name = {}
    for spec in session.get_inputs():
        if spec.name in INPUT_NAMES:
            feeds_by_name[spec.name] = spec.type
    results = []
    for element in batch:
        feeds = {name: element[INPUT_NAMES.index(name)].astype(np.int32 if kind == "tensor(int32)" else np.int64)
                 for name, kind in feeds_by_name.items()}
        results.append(session.run(None, feeds)[0])
    return results


def onnx_handler(model_dir: str, device: str):
    """Beam's ONNX Runtime handler on ``model.onnx``, one element (a whole batch) per call. With device
    auto or cuda, each worker takes CUDA where it has it (onnxruntime-gpu), else the CPU: the providers
    are chosen when the worker loads the model, not on the launcher."""
    from apache_beam.ml.inference.onnx_inference import OnnxModelHandlerNumpy

    class _OnnxHandler(OnnxModelHandlerNumpy):
        def load_model(self):
            import onnxruntime

            self._providers = [p for p in self._providers if p in onnxruntime.get_available_providers()]
            return super().load_model()

    providers = ["CPUExecutionProvider"] if device == "cpu" else ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return _OnnxHandler(join(model_dir, ONNX_FILE), providers=providers, inference_fn=onnx_inference,
                        min_batch_size=1, max_batch_size=1)


def local_model_dir(model_dir: str) -> str:
    """``model_dir`` itself when local; a gs:// folder is copied once to the temp folder (transformers reads local files)."""
    if FileSystems.get_scheme(model_dir) in (None, "file"):
        return model_dir
    local = os.path.join(tempfile.gettempdir(), "thresher-models", xxhash.xxh64_hexdigest(model_dir.encode()))
    if os.path.isfile(os.path.join(local, ".complete")):
        return local
    partial = f"{local}.{os.getpid()}.part"
    os.makedirs(partial, exist_ok=True)
    for meta in FileSystems.match([join(model_dir, "*")])[0].metadata_list:
        with FileSystems.open(meta.path, compression_type=CompressionTypes.UNCOMPRESSED) as src, \
                open(os.path.join(partial, meta.path.rstrip("/").rsplit("/", 1)[-1]), "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 22)
    open(os.path.join(partial, ".complete"), "w").close()
    try:
        os.replace(partial, local)
    except OSError:  # another process finished first
        shutil.rmtree(partial, ignore_errors=True)
    return local


def torch_inference(batch, model, device, inference_args=None, model_id=None):
    """PyTorch inference_fn: each element is a whole padded batch; the inputs ``model.forward`` takes."""
    import inspect

    import torch
    from apache_beam.ml.inference.base import PredictionResult

    accepted = inspect.signature(model.forward).parameters
    results = []
    with torch.inference_mode():
        for element in batch:
            feeds = {name: torch.from_numpy(element[i]).to(device)
                     for i, name in enumerate(INPUT_NAMES) if name in accepted}
            logits = model(**feeds).logits
            results.append(PredictionResult(element, logits.float().cpu().numpy(), model_id))
    return results


def torch_handler(model_dir: str, device: str, half: bool):
    """Beam's PyTorch keyed-tensor handler loading with transformers' ``AutoModelForSequenceClassification``
    (Beam's handler loads a state dict into a class; its Hugging Face handler imports TensorFlow).
    Device auto is resolved on the worker that loads the model (a launcher without a GPU may start GPU workers)."""
    from apache_beam.ml.inference.pytorch_inference import PytorchModelHandlerKeyedTensor

    class _HuggingFaceTorchHandler(PytorchModelHandlerKeyedTensor):
        def load_model(self):
            import torch
            from transformers import AutoModelForSequenceClassification

            import transformers

            if device == "auto" and not torch.cuda.is_available():
                self._device = torch.device("cpu")
            options = {}
            if half and self._device.type == "cuda":
                key = "dtype" if int(transformers.__version__.split(".")[0]) >= 5 else "torch_dtype"
                options[key] = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
            model = AutoModelForSequenceClassification.from_pretrained(local_model_dir(resolve(model_dir)), **options)
            model.to(self._device).eval().requires_grad_(False)
            return model

        def get_num_bytes(self, batch) -> int:
            return sum(int(element.nbytes) for element in batch)

    return _HuggingFaceTorchHandler(device="CPU" if device == "cpu" else "GPU", inference_fn=torch_inference,
                                    min_batch_size=1, max_batch_size=1)
