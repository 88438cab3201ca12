"""Speed of the ``classifier`` step with a model of FineWeb-Edu's classifier architecture.

The model: ``BertForSequenceClassification`` as HuggingFaceFW/fineweb-edu-classifier (BERT-base:
12 layers, hidden 768, 12 heads, intermediate 3072, vocabulary 30,522, one regression output),
random weights (seed 0; the speed is the same), saved with ``save_pretrained`` next to a
``model.onnx`` exported from it with ``torch.onnx.export`` and a WordPiece ``tokenizer.json``
trained on the texts (the published classifier's tokenizer is BERT's uncased WordPiece of the
same size; none can be downloaded here). Texts: the real pages of
``bench/real-pages.texts.jsonl.gz`` with at least ``--max-tokens`` tokens, truncated to it, so
every document is ``--max-tokens`` tokens long. Batches: ``--batch`` documents, as the step
cuts them. Prints docs/s and tokens/s of:

a. a plain ``transformers`` loop over the batches (torch, CPU, ``torch.inference_mode``);
b. an ONNX Runtime session over the same batches (CPU provider);
c. the ``classifier`` step through ``thresher run`` (a JSONL input, the step, Parquet output),
   backend ``onnx`` and ``torch``, on 1 and 2 workers, each run in a fresh child process; the
   step's time is the run's wall time less that of the same run without the step (model loading
   included), against the plain loop of the same backend run again just before it (a shared
   machine's speed drifts): how close the step comes to a plain loop (goal on CPU: within 1.3x);
GPU, only where CUDA is available: the plain loop in bf16 and the step with ``device: cuda,
half: true``: docs/s, tokens/s and the fraction of the GPU's dense bf16 peak (``--peak-tflops``,
989 for an H200) from FLOPs per document = 2 x encoder parameters x tokens + 4 x layers x
tokens^2 x hidden (attention scores and their weighted sum).
Prints figures, asserts nothing. Needs torch, transformers, onnx and onnxruntime next to the
project (``pip install -e '.[dev,torch]'``; CI has no torch).
Usage: python benchmarks/classifier_bench.py [--docs 96] [--batch 16] [--parts a b c gpu]
       [--workers 1 2] [--gpu-docs 8192] [--gpu-batch 128] [--model-dir DIR (kept, reused)]
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import SHARED_DATA, cpu_count  # noqa: E402

TEXTS = SHARED_DATA / "bench" / "real-pages.texts.jsonl.gz"
RESULT = "CLASSIFIER_BENCH_RESULT "  # prefix of the child's result line
#: HuggingFaceFW/fineweb-edu-classifier's architecture (its config.json, Snowflake arctic-embed-m's encoder)
ARCH = dict(vocab_size=30522, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
            intermediate_size=3072, max_position_embeddings=512, num_labels=1, problem_type="regression")


# ---- model and texts ---------------------------------------------------------------------------

def read_texts() -> List[str]:
    with gzip.open(TEXTS, "rt", encoding="utf-8") as f:
        return [json.loads(line)["text"] for line in f]


def build_model(folder: Path, texts: List[str]) -> None:
    """config.json + model.safetensors (random BERT-base regression), tokenizer.json, model.onnx."""
    import torch
    from tokenizers import BertWordPieceTokenizer
    from transformers import BertConfig, BertForSequenceClassification

    tok = BertWordPieceTokenizer(lowercase=True)
    tok.train_from_iterator(texts, vocab_size=ARCH["vocab_size"], min_frequency=1)
    tok.save(str(folder / "tokenizer.json"))
    torch.manual_seed(0)
    model = BertForSequenceClassification(BertConfig(**ARCH, id2label={0: "LABEL_0"}, label2id={"LABEL_0": 0})).eval()
    model.save_pretrained(folder)
    build_model.parameters = sum(p.numel() for p in model.parameters())
    ids = torch.ones(2, 16, dtype=torch.long)
    names = ["input_ids", "attention_mask", "token_type_ids"]
    axes = {n: {0: "batch", 1: "tokens"} for n in names}
    axes["logits"] = {0: "batch"}
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (ids, torch.ones_like(ids), torch.zeros_like(ids)), str(folder / "model.onnx"),
                          input_names=names, output_names=["logits"], dynamic_axes=axes, opset_version=17,
                          dynamo=False)


def long_texts(folder: Path, texts: List[str], max_tokens: int, docs: int) -> List[str]:
    """The first ``docs`` texts of at least ``max_tokens`` tokens (cycled when there are fewer)."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
    long = [t for t, e in zip(texts, tok.encode_batch(texts)) if len(e.ids) >= max_tokens]
    return [long[i % len(long)] for i in range(docs)]


def batches(folder: Path, texts: List[str], max_tokens: int, batch: int):
    """The step's own batching (``classifier_model.BatchTokenizer``): [(3, rows, length) int64 arrays]."""
    from thresher.transforms.filters.classifier_model import BatchTokenizer

    tok = BatchTokenizer((folder / "tokenizer.json").read_text(), max_tokens)
    return [arr for _, arr in tok.batches(tok.encode(texts), batch, None)]


def flops_per_doc(tokens: int) -> float:
    """Forward FLOPs of one document: the encoder's matrix products plus attention's two products."""
    h, layers = ARCH["hidden_size"], ARCH["num_hidden_layers"]
    per_layer = 4 * h * h + 4 * h + 2 * h * ARCH["intermediate_size"] + ARCH["intermediate_size"] + h + 4 * h
    return 2.0 * layers * per_layer * tokens + 4.0 * layers * tokens * tokens * h


def line(label: str, docs: int, tokens: int, seconds: float, extra: str = "") -> Dict:
    print(f"  {label:<44} {docs / seconds:9.2f} docs/s {tokens / seconds:11.0f} tokens/s "
          f"({seconds:6.1f} s for {docs} docs){extra}", flush=True)
    return {"docs_s": docs / seconds, "tokens_s": tokens / seconds, "seconds": seconds}


# ---- a, b: plain loops -------------------------------------------------------------------------

def torch_loop(folder: Path, arrays, device: str = "cpu", half: bool = False) -> float:
    import torch
    from transformers import AutoModelForSequenceClassification

    dtype = torch.bfloat16 if half else None
    model = AutoModelForSequenceClassification.from_pretrained(folder, dtype=dtype).to(device).eval()
    names = ("input_ids", "attention_mask", "token_type_ids")
    feeds = [{n: torch.from_numpy(a[i]) for i, n in enumerate(names)} for a in arrays]
    with torch.inference_mode():
        model(**{n: t[:2].to(device) for n, t in feeds[0].items()})  # warm-up
        if device == "cuda":
            torch.cuda.synchronize()
        started = time.perf_counter()
        for feed in feeds:
            model(**{n: t.to(device, non_blocking=True) for n, t in feed.items()}).logits.float().cpu()
        if device == "cuda":
            torch.cuda.synchronize()
    return time.perf_counter() - started


def onnx_loop(folder: Path, arrays) -> float:
    import onnxruntime as ort

    session = ort.InferenceSession(str(folder / "model.onnx"), providers=["CPUExecutionProvider"])
    names = ("input_ids", "attention_mask", "token_type_ids")
    session.run(None, {n: arrays[0][i][:2] for i, n in enumerate(names)})  # warm-up
    started = time.perf_counter()
    for a in arrays:
        session.run(None, {n: a[i] for i, n in enumerate(names)})
    return time.perf_counter() - started


# ---- c: the step through thresher run, in a child ----------------------------------------------

RECIPE = """version: 1
name: classifier-bench
inputs:
  texts: {{paths: ["{texts}"], format: jsonl}}
steps:{steps}
output: {{path: "{out}", format: parquet}}
"""
STEP = """
  - step: classifier
    model: "{model}"
    annotation: edu_score
    output: regression
    max_tokens: {max_tokens}
    batch_size: {batch}
    backend: {backend}
    device: {device}
    half: {half}
"""


def child_run(recipe: str, workers: int) -> None:
    """``thresher run RECIPE --workers N`` in this process; prints its wall time and exit status."""
    from thresher.pipelines.commands.cli import main

    started = time.perf_counter()
    status = main(["run", recipe, "--workers", str(workers), "--overwrite", "--quiet"])
    print(RESULT + json.dumps({"wall": time.perf_counter() - started, "status": status}), flush=True)


def run_child(recipe: Path, workers: int) -> Dict:
    out = subprocess.run([sys.executable, __file__, "--child-run", str(recipe), str(workers)],
                         capture_output=True, text=True)
    found = [ln for ln in out.stdout.splitlines() if ln.startswith(RESULT)]
    if not found or json.loads(found[0][len(RESULT):])["status"] != 0:
        sys.exit(f"thresher run {recipe} failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
    return json.loads(found[0][len(RESULT):])


def step_runs(folder: Path, tmp: Path, texts: List[str], arrays, args, tokens: int) -> Dict:
    """Each (backend, workers): the plain loop of that backend, then the step; the ratio of the two
    (the loop is run again next to each step run, since a shared machine's speed drifts)."""
    data = tmp / "texts.jsonl"
    with open(data, "w") as f:
        for i, text in enumerate(texts):
            f.write(json.dumps({"id": f"doc-{i}", "text": text}) + "\n")
    results = {}
    loops = {"onnx": onnx_loop, "torch": torch_loop}
    for workers in args.workers:
        base = tmp / f"none-{workers}.yaml"
        base.write_text(RECIPE.format(texts=data, out=tmp / "out-none", steps=" []"))
        wall0 = min(run_child(base, workers)["wall"] for _ in range(2))
        print(f"  thresher run without the step, {workers} worker(s): {wall0:.1f} s", flush=True)
        for backend in ("onnx", "torch"):
            plain = loops[backend](folder, arrays)
            line(f"   plain {backend} loop just before", len(texts), tokens, plain)
            step = STEP.format(model=folder, max_tokens=args.max_tokens, batch=args.batch, backend=backend,
                               device="cpu", half="false")
            recipe = tmp / f"{backend}-{workers}.yaml"
            recipe.write_text(RECIPE.format(texts=data, out=tmp / f"out-{backend}", steps=step))
            wall = run_child(recipe, workers)["wall"]
            results[(backend, workers)] = line(
                f"c. step {backend}, {workers} worker(s) (run - no-step run)", len(texts), tokens, wall - wall0,
                f"  step / plain {backend} loop: {(wall - wall0) / plain:.2f}x")
            print(f"     whole run: {wall:.1f} s = {len(texts) / wall:.2f} docs/s", flush=True)
    return results


# ---- GPU ---------------------------------------------------------------------------------------

def gpu_section(folder: Path, tmp: Path, texts: List[str], args) -> None:
    import torch

    name = torch.cuda.get_device_name(0)
    print(f"\nGPU: {name}, bf16, batch {args.gpu_batch}, {args.gpu_docs} documents of {args.max_tokens} tokens")
    many = [texts[i % len(texts)] for i in range(args.gpu_docs)]
    arrays = batches(folder, many, args.max_tokens, args.gpu_batch)
    tokens = sum(int(a[1].sum()) for a in arrays)
    flops = sum(flops_per_doc(int(n)) for a in arrays for n in a[1].sum(axis=1))
    torch_loop(folder, arrays[:3], "cuda", half=True)  # warm-up: kernels chosen, memory pooled
    seconds = torch_loop(folder, arrays, "cuda", half=True)
    peak = args.peak_tflops * 1e12
    plain = line("plain transformers loop, cuda bf16", len(many), tokens, seconds,
                 f"  {flops / seconds / 1e12:.0f} TFLOPS = {flops / seconds / peak:.1%} of {args.peak_tflops:g}")
    data = tmp / "gpu-texts.jsonl"
    with open(data, "w") as f:
        for i, text in enumerate(many):
            f.write(json.dumps({"id": f"doc-{i}", "text": text}) + "\n")
    base = tmp / "gpu-none.yaml"
    base.write_text(RECIPE.format(texts=data, out=tmp / "gpu-out-none", steps=" []"))
    wall0 = run_child(base, 1)["wall"]
    step = STEP.format(model=folder, max_tokens=args.max_tokens, batch=args.gpu_batch, backend="torch",
                       device="cuda", half="true")
    recipe = tmp / "gpu-torch.yaml"
    recipe.write_text(RECIPE.format(texts=data, out=tmp / "gpu-out-torch", steps=step))
    wall = run_child(recipe, 1)["wall"]
    line("step torch cuda bf16, 1 worker (run - no-step run)", len(many), tokens, wall - wall0,
         f"  step / plain: {(wall - wall0) / plain['seconds']:.2f}x; "
         f"{flops / (wall - wall0) / peak:.1%} of peak; whole run {len(many) / wall:.0f} docs/s")


# ---- main --------------------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--docs", type=int, default=96)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--max-tokens", type=int, default=512)
    parser.add_argument("--parts", nargs="+", default=["a", "b", "c", "gpu"])
    parser.add_argument("--workers", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--gpu-docs", type=int, default=8192)
    parser.add_argument("--gpu-batch", type=int, default=128)
    parser.add_argument("--peak-tflops", type=float, default=989.0, help="dense bf16 peak (H200: 989)")
    parser.add_argument("--model-dir", help="keep the built model here (reused when it already holds model.onnx)")
    parser.add_argument("--child-run", nargs=2, metavar=("RECIPE", "WORKERS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_run:
        return child_run(args.child_run[0], int(args.child_run[1]))

    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # no progress bars from transformers here or in children
    import torch
    with tempfile.TemporaryDirectory(prefix="classifier-bench-") as tmpdir:
        tmp = Path(tmpdir)
        folder = Path(args.model_dir) if args.model_dir else tmp / "model"
        folder.mkdir(parents=True, exist_ok=True)
        all_texts = read_texts()
        if not (folder / "model.onnx").is_file():
            started = time.perf_counter()
            build_model(folder, all_texts)
            print(f"model: BERT-base regression, {build_model.parameters / 1e6:.1f} M parameters, "
                  f"built in {time.perf_counter() - started:.0f} s (safetensors + ONNX + tokenizer) in {folder}")
        texts = long_texts(folder, all_texts, args.max_tokens, args.docs)
        arrays = batches(folder, texts, args.max_tokens, args.batch)
        tokens = sum(int(a[1].sum()) for a in arrays)
        print(f"{len(texts)} real texts of >= {args.max_tokens} tokens, {len(arrays)} batches of {args.batch}, "
              f"{tokens} tokens; {cpu_count()} cores, torch {torch.__version__} ({torch.get_num_threads()} threads); "
              f"{flops_per_doc(args.max_tokens) / 1e9:.1f} GFLOP per document\n")
        if "a" in args.parts:
            line("a. plain transformers loop, CPU", len(texts), tokens, torch_loop(folder, arrays))
        if "b" in args.parts:
            line("b. ONNX Runtime session, CPU", len(texts), tokens, onnx_loop(folder, arrays))
        if "c" in args.parts:
            step_runs(folder, tmp, texts, arrays, args, tokens)
        if "gpu" in args.parts:
            if torch.cuda.is_available():
                gpu_section(folder, tmp, texts, args)
            else:
                print("\nGPU: none (torch.cuda.is_available() is False): GPU section not run")


if __name__ == "__main__":
    main()
