"""The ``tokens`` section of stats.json: the token shards a run wrote (file infos of kind ``tokens``,
one per shard, from ``WriteTokenShards``) summed per split and per source, with the resolved
configuration the run recorded (``summary["tokens"]``), and its line in the summary table."""
from __future__ import annotations

import re
from typing import Any, Dict, Iterable, List, Optional

from thresher.transforms.io.token_shards import SPLITS

_CONFIG = ("tokenizer", "format", "dtype", "eos", "eos_id", "eos_token", "seed", "validation_fraction",
           "shard_tokens", "annotations")


def bucket_order(label: str) -> float:
    """``"<=64"`` -> 64, ``">65536"`` -> just above 65536: the length histogram's labels in order."""
    number = re.search(r"\d+", label)
    value = float(number.group()) if number else float("inf")
    return value + 0.5 if label.startswith(">") else value


def token_stats(summary: Dict[str, Any], files: Iterable[Dict[str, Any]],
                output_documents: Optional[int] = None) -> Optional[Dict[str, Any]]:
    """The section, or None when the run wrote no token shards (no ``summary["tokens"]``).

    ``output_documents``: the documents of the text output; ``balanced`` says the shards hold exactly
    as many (None: no text output, the shards are the output)."""
    config = summary.get("tokens")
    if config is None:
        return None
    shards = sorted((f for f in files if f.get("kind") == "tokens"), key=lambda f: (f.get("split", ""), f["shard"]))
    splits = {name: {"documents": 0, "tokens": 0, "shards": 0} for name in SPLITS}
    by_source: Dict[str, Dict[str, int]] = {}
    histogram: Dict[str, int] = {}
    for shard in shards:
        split = splits.setdefault(shard.get("split", "train"), {"documents": 0, "tokens": 0, "shards": 0})
        split["documents"] += shard["rows"]
        split["tokens"] += shard["tokens"]
        split["shards"] += 1
        for source, counts in (shard.get("by_source") or {}).items():
            mine = by_source.setdefault(source, {"documents": 0, "tokens": 0})
            mine["documents"] += counts.get("documents", 0)
            mine["tokens"] += counts.get("tokens", 0)
        for label, n in (shard.get("length_histogram") or {}).items():
            histogram[label] = histogram.get(label, 0) + n
    documents = sum(s["documents"] for s in splits.values())
    section = {key: config.get(key) for key in _CONFIG if key in config}
    section.update({
        "documents": documents,
        "tokens": sum(s["tokens"] for s in splits.values()),
        "splits": splits,
        "by_source": dict(sorted(by_source.items())),
        "copy_tokens": sum(s.get("copy_tokens", 0) for s in shards),
        "shards": [{"shard": s["shard"], "split": s.get("split", ""), "documents": s["rows"], "tokens": s["tokens"],
                    "path": s["path"]} for s in shards],
        "length_histogram": dict(sorted(histogram.items(), key=lambda kv: bucket_order(kv[0]))),
        "balanced": output_documents is None or documents == output_documents,
    })
    return section


def tokens_line(tokens: Dict[str, Any]) -> str:
    """``tokens: 1,234,567 in 3 train + 1 validation shard(s) (megatron uint16, tokenizer 1a2b3c4d…)``."""
    splits = tokens.get("splits") or {}
    parts: List[str] = [f"{(splits.get(name) or {}).get('shards', 0)} {name}" for name in SPLITS]
    sha = str((tokens.get("tokenizer") or {}).get("sha256", ""))[:8]
    return (f"tokens: {tokens.get('tokens', 0):,} in {' + '.join(parts)} shard(s) "
            f"({tokens.get('format', '?')} {tokens.get('dtype', '?')}, tokenizer {sha}…); "
            f"balanced: {tokens.get('balanced')}")
