"""The data card's Tokens section, from stats.json's ``tokens`` (``token_stats``): the tokenizer, the
shards' format, tokens per split and per source, tokens of upsampled copies, the shards and the
documents' lengths in tokens."""
from __future__ import annotations

from typing import Any, Dict, List, Tuple

from thresher.pipelines.report.datacard_format import Block
from thresher.pipelines.report.svg_charts import fmt_num, histogram

MAX_SHARD_ROWS = 50  # shards listed in the card; stats.json lists them all


def _pct(part: int, whole: int) -> str:
    return f"{100.0 * part / whole:.1f}%" if whole else ""


def tokenizer_text(tokens: Dict[str, Any]) -> str:
    """``tokenizer.json (sha256 1a2b3c4d5e6f…, 32,000 tokens)``."""
    tok = tokens.get("tokenizer") or {}
    return (f"{tok.get('path', '?')} (sha256 {str(tok.get('sha256', ''))[:12]}…, "
            f"vocabulary {fmt_num(tok.get('vocab_size', 0))})")


def eos_text(tokens: Dict[str, Any]) -> str:
    if not tokens.get("eos"):
        return "none appended"
    return f"{tokens.get('eos_token')!s} (id {tokens.get('eos_id')}) after every document"


def tokens_blocks(stats: Dict[str, Any]) -> List[Block]:
    """The section's blocks; none when the run wrote no token shards."""
    tokens = stats.get("tokens")
    if not tokens:
        return []
    total = tokens.get("tokens", 0)
    ok = bool(tokens.get("balanced"))
    blocks: List[Block] = [
        ("h", 2, "Tokens", "tokens"),
        ("p", "Training shards of token ids in tokens/ (globally shuffled by seed and id; validation documents "
              "chosen by a hash of id and seed), each with a Parquet provenance index: one row per document."),
        ("badge", ok, "Every output document is in the shards: yes" if ok else "Shards hold every output document: NO"),
        ("kv", [("tokenizer", tokenizer_text(tokens)), ("format", tokens.get("format")),
                ("dtype", tokens.get("dtype")), ("end of document", eos_text(tokens)),
                ("seed", tokens.get("seed")), ("validation fraction", tokens.get("validation_fraction")),
                ("tokens per shard (about)", tokens.get("shard_tokens")),
                ("documents", tokens.get("documents", 0)), ("tokens", total),
                ("tokens of upsampled copies", tokens.get("copy_tokens", 0))]),
        ("h", 3, "Splits", None),
        ("table", ("split", "shards", "documents", "tokens", "of tokens"),
         [(name, s.get("shards", 0), s.get("documents", 0), s.get("tokens", 0), _pct(s.get("tokens", 0), total))
          for name, s in (tokens.get("splits") or {}).items()]),
    ]
    if tokens.get("by_source"):
        blocks += [("h", 3, "Tokens per source", None),
                   ("table", ("source", "documents", "tokens", "of tokens"),
                    [(name, s.get("documents", 0), s.get("tokens", 0), _pct(s.get("tokens", 0), total))
                     for name, s in tokens["by_source"].items()])]
    shards = tokens.get("shards") or []
    if shards:
        rows = [(s.get("shard", ""), s.get("split", ""), s.get("documents", 0), s.get("tokens", 0))
                for s in shards[:MAX_SHARD_ROWS]]
        blocks += [("h", 3, "Shards", None), ("table", ("shard", "split", "documents", "tokens"), rows)]
        if len(shards) > MAX_SHARD_ROWS:
            blocks.append(("p", f"{len(shards) - MAX_SHARD_ROWS} more shard(s): see stats.json and "
                                "tokens/tokens.json."))
    bars: List[Tuple[str, int, str]] = [(label, n, f"{label} tokens: {fmt_num(n)} documents")
                                        for label, n in (tokens.get("length_histogram") or {}).items()]
    if bars:
        blocks += [("h", 3, "Document lengths in tokens", None),
                   ("chart", histogram(bars, "Documents by length in tokens (EOS included)"), "tokens",
                    [(label, n) for label, n, _ in bars])]
    return blocks
