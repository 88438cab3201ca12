"""Megatron-LM's own reader on a run's token shards: every sequence as the run says it is.

Run it with a Python that has ``megatron-core`` (and numpy, pyarrow, tokenizers), not the
project's venv: Thresher does not depend on Megatron. For every ``tokens/*.idx`` of each run
output directory it opens the shard with ``megatron.core.datasets.indexed_dataset.IndexedDataset``
(mmap; no GPTDataset, no torch.distributed) and checks, against the run's own files:

- the ``.idx`` dtype is the manifest's (``tokens.json``), ``len(ds)`` is the provenance Parquet's
  row count and the manifest's document count, the document indices are ``0..len(ds)``;
- ``ds.sequence_lengths`` are the provenance ``token_length``s, whose running sum is ``token_offset``;
- every ``ds[i]`` equals the same span of an independent ``numpy.fromfile`` of the ``.bin``, whose
  size is the manifest's token count; with EOS on, every sequence ends with ``eos_id``;
- (unless ``--no-text``, and when the run wrote ``data/``) every sequence is the re-encoding of
  its document's Parquet text with ``tokens/tokenizer.json`` (plus EOS).

Prints one verdict line per shard and exits 1 on any mismatch (2 when there is nothing to check).
Usage: /tmp/megatron-venv/bin/python benchmarks/megatron_check.py OUT [OUT...] [--no-text]
"""
from __future__ import annotations

import argparse
import glob
import json
import logging
import os
import sys
import warnings
from typing import Dict, List, Optional, Tuple

import numpy as np
import pyarrow.parquet as pq

MAX_REPORTED = 3  # mismatching documents named per check


def tokens_dir(path: str) -> str:
    """``OUT/tokens`` of a run output directory (or the directory itself when it holds tokens.json)."""
    if os.path.exists(os.path.join(path, "tokens.json")):
        return path
    return os.path.join(path, "tokens")


def load_texts(out: str, ids: set) -> Optional[Dict[str, str]]:
    """id -> text of the run's Parquet documents whose id is in ``ids``; None when there is no data/."""
    files = sorted(glob.glob(os.path.join(out, "data", "*.parquet")))
    if not files:
        return None
    texts: Dict[str, str] = {}
    for f in files:
        table = pq.read_table(f, columns=["id", "text"])
        for doc_id, text in zip(table.column("id").to_pylist(), table.column("text").to_pylist()):
            if doc_id in ids:
                texts[doc_id] = text
    return texts


def check_shard(prefix: str, manifest: dict, entry: Optional[dict], texts: Optional[Dict[str, str]],
                tokenizer) -> List[str]:
    """The problems found in one shard (empty when it is as the run says)."""
    from megatron.core.datasets.indexed_dataset import IndexedDataset

    problems: List[str] = []
    name = os.path.basename(prefix)
    dtype = np.dtype(manifest["dtype"])
    ds = IndexedDataset(prefix, mmap=True)
    prov = pq.read_table(prefix + ".provenance.parquet").to_pydict()
    n = len(ds)
    rows = len(prov["id"])
    if np.dtype(ds.index.dtype) != dtype:
        problems.append(f".idx dtype {np.dtype(ds.index.dtype).name}, manifest {dtype.name}")
    if n != rows:
        problems.append(f"IndexedDataset has {n} sequences, provenance {rows} rows")
    if entry is None:
        problems.append("shard missing from tokens.json")
    elif entry.get("documents") != n:
        problems.append(f"tokens.json says {entry.get('documents')} documents, IndexedDataset {n}")
    if not np.array_equal(ds.document_indices, np.arange(n + 1)):
        problems.append("document indices are not 0..sequences (one sequence per document)")
    if set(prov["shard"]) - {name}:
        problems.append(f"provenance shard column holds {sorted(set(prov['shard']) - {name})[:3]}")
    if prov["doc_index"] != list(range(rows)):
        problems.append("provenance doc_index is not 0..rows-1")
    lengths = np.asarray(ds.sequence_lengths, dtype=np.int64)
    want_len = np.asarray(prov["token_length"], dtype=np.int64)
    if lengths.shape != want_len.shape or not np.array_equal(lengths, want_len):
        problems.append("sequence lengths differ from provenance token_length")
    offsets = np.concatenate([[0], np.cumsum(want_len)[:-1]]) if rows else np.zeros(0, np.int64)
    if not np.array_equal(np.asarray(prov["token_offset"], dtype=np.int64), offsets):
        problems.append("provenance token_offset is not the running sum of token_length")

    raw = np.fromfile(prefix + ".bin", dtype=dtype.newbyteorder("<"))
    total = int(want_len.sum())
    if raw.size != total:
        problems.append(f".bin holds {raw.size} tokens, provenance lengths sum to {total}")
    if entry is not None and entry.get("tokens") != raw.size:
        problems.append(f"tokens.json says {entry.get('tokens')} tokens, .bin holds {raw.size}")
    eos_id = manifest.get("eos_id") if manifest.get("eos") else None
    bad_span, bad_eos, bad_text, missing = [], [], [], []
    seqs = []
    for i in range(min(n, rows)):
        seq = ds[i]
        start, length = int(offsets[i]), int(want_len[i])
        if not np.array_equal(seq, raw[start:start + length]):
            bad_span.append(i)
        if eos_id is not None and (len(seq) == 0 or int(seq[-1]) != eos_id):
            bad_eos.append(i)
        seqs.append(seq)
    if bad_span:
        problems.append(f"{len(bad_span)} sequences differ from the numpy read of .bin "
                        f"(first {bad_span[:MAX_REPORTED]})")
    if bad_eos:
        problems.append(f"{len(bad_eos)} sequences do not end with EOS {eos_id} (first {bad_eos[:MAX_REPORTED]})")
    if texts is not None and tokenizer is not None:
        docs = []
        for i, doc_id in enumerate(prov["id"][:len(seqs)]):
            if doc_id in texts:
                docs.append((i, texts[doc_id]))
            else:
                missing.append(doc_id)
        encoded = tokenizer.encode_batch([t for _, t in docs], add_special_tokens=False)
        tail = [eos_id] if eos_id is not None else []
        for (i, _), enc in zip(docs, encoded):
            if seqs[i].tolist() != enc.ids + tail:
                bad_text.append(prov["id"][i])
        if missing:
            problems.append(f"{len(missing)} provenance ids not in data/ (first {missing[:MAX_REPORTED]})")
        if bad_text:
            problems.append(f"{len(bad_text)} sequences are not the re-encoded Parquet text "
                            f"(first {bad_text[:MAX_REPORTED]})")
    return problems


def check_run(out: str, text: bool) -> Tuple[int, int]:
    """Checks every Megatron shard of one run; returns (shards, failed)."""
    tdir = tokens_dir(out)
    manifest_path = os.path.join(tdir, "tokens.json")
    if not os.path.exists(manifest_path):
        print(f"NONE {out}: no tokens/tokens.json")
        return 0, 0
    with open(manifest_path) as f:
        manifest = json.load(f)
    prefixes = sorted(p[:-len(".idx")] for p in glob.glob(os.path.join(tdir, "*.idx")))
    if not prefixes:
        print(f"NONE {out}: no .idx shard (format {manifest.get('format')})")
        return 0, 0
    entries = {s["name"]: s for s in manifest.get("shards", [])}
    listed = set(entries) - {os.path.basename(p) for p in prefixes}
    tokenizer, texts = None, None
    if text:
        ids = set()
        for p in prefixes:
            ids.update(pq.read_table(p + ".provenance.parquet", columns=["id"]).column("id").to_pylist())
        texts = load_texts(out, ids)
        if texts is None:
            print(f"note {out}: no data/*.parquet, the text check is skipped")
        else:
            from tokenizers import Tokenizer
            tokenizer = Tokenizer.from_file(os.path.join(tdir, "tokenizer.json"))
    failed = 0
    for prefix in prefixes:
        name = os.path.basename(prefix)
        try:
            problems = check_shard(prefix, manifest, entries.get(name), texts, tokenizer)
        except Exception as e:  # an unreadable shard is a verdict, not a traceback
            problems = [f"{type(e).__name__}: {e}"]
        if problems:
            failed += 1
            print(f"FAIL {prefix}: " + "; ".join(problems))
        else:
            ds_len = int(entries[name]["documents"])
            what = "re-encoded text, " if texts is not None else ""
            print(f"OK   {prefix}: {ds_len} documents, {entries[name]['tokens']} tokens ({manifest['dtype']}); "
                  f"IndexedDataset = numpy .bin = provenance = {what}tokens.json")
    if listed:
        failed += 1
        print(f"FAIL {out}: tokens.json lists shards with no .idx: {sorted(listed)[:MAX_REPORTED]}")
    return len(prefixes), failed


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("outputs", nargs="+", help="run output directories (OUT, holding tokens/)")
    parser.add_argument("--no-text", action="store_true", help="skip re-encoding the Parquet text")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")  # megatron-core warns about Transformer Engine/Apex on import
    logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)  # torch: no CUDA on a CPU machine
    import megatron.core
    shards = failed = 0
    for out in args.outputs:
        s, f = check_run(out, not args.no_text)
        shards, failed = shards + s, failed + f
    print(f"megatron-core {megatron.core.__version__}: {shards} shard(s), {failed} failed")
    if failed:
        return 1
    return 0 if shards else 2


if __name__ == "__main__":
    sys.exit(main())
