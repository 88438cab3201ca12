"""The Hugging Face dataset card: ``README.md`` beside ``data/``, rendered from ``stats.json``.

Its YAML header is what the Hub and ``datasets.load_dataset(OUTPUT_DIR)`` read: one ``default``
config whose ``train`` split is ``data/*.parquet`` (or ``data/*.jsonl.gz``), so ``rejected/`` and
``errors/`` are never loaded as training data; ``language`` (from the output's ``language``
annotation), ``size_categories`` and ``task_categories`` where known. The body says what the
recipe did, what each column holds, where the data came from, and points to ``report.html``.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional

import yaml
from apache_beam.io.filesystems import FileSystems

from thresher.pipelines.report.stats import cache_line, read_stats, write_text

CARD_FILE = "README.md"
DATA_GLOBS = {"parquet": "data/*.parquet", "jsonl": "data/*.jsonl.gz"}
TOP_REASONS = 3  # drop reasons named per step
#: (upper bound, Hugging Face size category) by output documents
SIZE_CATEGORIES = ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
                   (10 ** 7, "1M<n<10M"), (10 ** 8, "10M<n<100M"), (10 ** 9, "100M<n<1B"), (10 ** 10, "1B<n<10B"),
                   (10 ** 11, "10B<n<100B"), (10 ** 12, "100B<n<1T"))


def size_category(documents: int) -> str:
    for bound, name in SIZE_CATEGORIES:
        if documents < bound:
            return name
    return "n>1T"


def output_format(stats: Dict[str, Any]) -> str:
    """parquet or jsonl: from the resolved recipe, else from the data files' names."""
    recipe = (stats.get("run") or {}).get("recipe") or {}
    fmt = (recipe.get("output") or {}).get("format")
    if fmt in DATA_GLOBS or fmt == "none":
        return fmt
    data = [f.get("path", "") for f in stats.get("files") or [] if f.get("kind") == "data"]
    return "jsonl" if data and all(p.endswith(".jsonl.gz") for p in data) else "parquet"


def languages(stats: Dict[str, Any]) -> List[str]:
    """Values of the output's ``language`` annotation, most documents first."""
    values = ((stats.get("profile") or {}).get("language") or {}).get("values") or {}
    return [str(lang) for lang, n in sorted(values.items(), key=lambda x: (-x[1], str(x[0]))) if n and lang]


def header(stats: Dict[str, Any]) -> Dict[str, Any]:
    """The YAML metadata Hugging Face reads."""
    recipe = (stats.get("run") or {}).get("recipe") or {}
    fmt = output_format(stats)
    meta: Dict[str, Any] = {} if fmt not in DATA_GLOBS else {  # none: token shards only, no text to load
        "configs": [{"config_name": "default", "data_files": [{"split": "train", "path": DATA_GLOBS[fmt]}]}],
    }
    license_ = recipe.get("license") or (stats.get("run") or {}).get("license")
    if license_:
        meta["license"] = str(license_)
    langs = languages(stats)
    if langs:
        meta["language"] = langs
    meta["size_categories"] = [size_category(int((stats.get("output") or {}).get("documents", 0)))]
    meta["task_categories"] = ["text-generation"]
    meta["pretty_name"] = str(stats.get("recipe") or "Thresher output")
    meta["tags"] = ["thresher"]
    return meta


def _cell(value: Any) -> str:
    """A Markdown table cell: one line, pipes and HTML escaped (values may come from web data)."""
    text = " ".join(str("" if value is None else value).split())
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("|", "\\|")


def _table(head: List[str], rows: List[List[Any]]) -> List[str]:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return lines + ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]


def _reason_docs(step: str) -> Dict[str, str]:
    """The step class's ``DROP_REASONS`` (registered steps; empty for plugins and older classes)."""
    try:
        from thresher.pipelines.recipe.registry import STEPS
    except Exception:  # the card never fails for want of descriptions
        return {}
    return dict(getattr(STEPS.get(step), "DROP_REASONS", None) or {})


def _status(stats: Dict[str, Any]) -> List[str]:
    documents = (stats.get("output") or {}).get("documents", 0)
    if stats.get("status") == "failed":
        reason = stats.get("status_reason") or "see stats.json"
        return [f"> **Warning: this run failed** ({_cell(reason)}). The data is incomplete; do not train on it.", ""]
    if not documents:
        return ["> **Warning: this run wrote no document.** Check the drops below and `stats.json`.", ""]
    return []


def _steps(stats: Dict[str, Any]) -> List[str]:
    inp = stats.get("input") or {}
    lines = ["## What the recipe did", "",
             f"Read {inp.get('documents', 0):,} documents ({inp.get('read_errors', 0):,} read errors) "
             f"from {inp.get('file_count', '?')} file(s) of the inputs "
             f"{', '.join(sorted((inp.get('by_source') or {}))) or '(none)'}; "
             f"wrote {(stats.get('output') or {}).get('documents', 0):,}. Steps, in order:", ""]
    rows = []
    for s in stats.get("steps") or []:
        described = _reason_docs(s.get("step", ""))
        top = sorted((s.get("dropped") or {}).items(), key=lambda x: (-x[1], x[0]))[:TOP_REASONS]
        reasons = "; ".join(f"{r} {n:,}" + (f" ({described[r]})" if r in described else "") for r, n in top)
        rows.append([f"{s.get('index', 0):02d}", s.get("step", ""), f"{s.get('in', 0):,}", f"{s.get('out', 0):,}",
                     f"{s.get('dropped_total', 0):,}", f"{s.get('errors', 0):,}", reasons])
    if rows:
        lines += _table(["#", "step", "in", "out", "dropped", "errors", "top drop reasons"], rows)
    else:
        lines.append("No step: the documents were read and written as they are.")
    return lines + [""]


def _columns(stats: Dict[str, Any]) -> List[str]:
    columns = (stats.get("run") or {}).get("output_columns") or []
    lines = ["## Columns", ""]
    if not columns:
        return lines + ["Not recorded in this run's `stats.json`; see the files' schema.", ""]
    if output_format(stats) == "jsonl":
        lines += ["JSON Lines: one flat object per document; the annotations not listed here are extra keys.", ""]
    rows = [[c.get("name", ""), c.get("type", ""), c.get("written_by", ""), c.get("description") or c.get("name", "")]
            for c in columns]
    return lines + _table(["column", "type", "written by", "meaning"], rows) + [""]


def _provenance(stats: Dict[str, Any]) -> List[str]:
    run = stats.get("run") or {}
    lines = ["## Provenance", ""]
    facts = [("recipe", stats.get("recipe")), ("recipe file", run.get("recipe_file")),
             ("started", run.get("started")), ("finished", run.get("finished")),
             ("runner", run.get("runner")), ("input files", (stats.get("input") or {}).get("file_count")),
             ("input bytes", (stats.get("input") or {}).get("bytes")),
             ("prefix cache", cache_line(stats["cache"]) if stats.get("cache") else None)]
    lines += [f"- {name}: {_cell(value)}" for name, value in facts if value not in (None, "")]
    versions = run.get("versions") or {}
    if versions:
        lines.append("- versions: " + ", ".join(f"{_cell(k)} {_cell(v)}" for k, v in versions.items()))
    lines.append("- the resolved recipe, with every parameter: `recipe.lock.yaml`")
    return lines + [""]


def _tokens(stats: Dict[str, Any]) -> List[str]:
    """One paragraph on the token shards (``tokens/``), when the run wrote them."""
    tokens = stats.get("tokens")
    if not tokens:
        return []
    from thresher.pipelines.report.datacard_tokens import eos_text, tokenizer_text
    splits = tokens.get("splits") or {}
    per_split = ", ".join(f"{name} {s.get('tokens', 0):,} tokens in {s.get('shards', 0)} shard(s)"
                          for name, s in splits.items())
    return ["## Token shards", "",
            f"`tokens/` holds {tokens.get('tokens', 0):,} tokens of {tokens.get('documents', 0):,} documents as "
            f"{_cell(tokens.get('format'))} shards ({_cell(tokens.get('dtype'))}; {per_split}), tokenizer "
            f"{_cell(tokenizer_text(tokens))}, end of document: {_cell(eos_text(tokens))}; each shard has a "
            "`.provenance.parquet` index (document, source file, annotations per token range). `tokens/tokens.json` "
            "describes them; `thresher tokens` looks documents up.", ""]


def render(stats: Dict[str, Any]) -> str:
    """README.md's text: YAML header, then the card."""
    name = _cell(stats.get("recipe") or "Thresher output")
    fmt = output_format(stats)
    if fmt in DATA_GLOBS:
        body = [f"# {name}", ""] + _status(stats) + [
            f"Pretraining text curated by Thresher with the recipe `{name}`: "
            f"`data/` holds the kept documents ({fmt}), the `train` split.", "",
            "```python", "from datasets import load_dataset", "",
            'dataset = load_dataset("path/to/this/directory", split="train")', "```", ""]
    else:
        body = [f"# {name}", ""] + _status(stats) + [
            f"Pretraining data curated by Thresher with the recipe `{name}`, written as token shards only "
            "(`tokens/`): no text files.", ""]
    body += _tokens(stats) + _steps(stats) + _columns(stats) + _provenance(stats)
    body += ["## More", "",
             "- `report.html` (and `report.md`): the data card: accounting, token funnel, drops by reason, "
             "distributions of every annotation, examples of dropped documents.",
             "- `stats.json`: every count of the run; `errors/`: records that could not be read or processed.",
             "- `rejected/` (when the recipe keeps them): dropped documents with `drop_step` and `drop_reason`; "
             "not part of the `train` split.", ""]
    head = yaml.safe_dump(header(stats), sort_keys=False, allow_unicode=True)
    return f"---\n{head}---\n\n" + "\n".join(body)


def write_dataset_card(output_dir: str, stats: Optional[Dict[str, Any]] = None) -> str:
    """Write ``README.md`` in ``output_dir`` (stats read from there when not given); returns its path."""
    if stats is None:
        stats = read_stats(output_dir)
    path = FileSystems.join(output_dir, CARD_FILE)
    write_text(path, render(stats))
    return path
