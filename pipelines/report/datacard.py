"""The data card: ``report.html`` (self-contained: inline CSS and SVG, no scripts) and ``report.md``.

Both are rendered from ``stats.json`` (pipelines/report/stats.py). Every section renders only what the
stats hold, so older stats files without provenance, tokens, profile or examples still render.
Sections are built once as a list of blocks, then written as HTML or as Markdown; everything that
comes from data (ids, urls, texts, reasons, values) is escaped, as web text is hostile.
"""
from __future__ import annotations

import argparse
import json
import math
import re
import sys
from typing import Any, Dict, List, Optional, Tuple

import yaml
from apache_beam.io.filesystems import FileSystems

from thresher.pipelines.report.datacard_format import Block, to_html, to_markdown
from thresher.pipelines.report.datacard_tokens import tokens_blocks
from thresher.pipelines.report.stats import cache_line, human_bytes, read_stats, write_text
from thresher.pipelines.report.summaries import view
from thresher.pipelines.report.svg_charts import DROP, fmt_num, fmt_short, funnel_chart, hbar_chart, histogram

HTML_FILE, MD_FILE = "report.html", "report.md"
TOP_VALUES = 15  # categorical values shown; the rest are counted as "(other)"
TOP_REASONS = 15
EXAMPLE_CHARS = 300


def _pct(part: Optional[float], whole: Optional[float]) -> str:
    return f"{100.0 * part / whole:.1f}%" if part is not None and whole else ""


def _step_name(step: Dict[str, Any]) -> str:
    return f"{step.get('index', 0):02d} {step.get('step', '?')}"


def _duration(seconds: float) -> str:
    minutes, sec = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    clock = f"{hours} h {minutes} min" if hours else (f"{minutes} min {sec} s" if minutes else "")
    return f"{seconds:.1f} s" + (f" ({clock})" if clock else "")


def _warnings(stats: Dict[str, Any]) -> List[Block]:
    """Red warnings first: a failed run (stats ``status``) and a run that wrote no document."""
    blocks: List[Block] = []
    if stats.get("status") == "failed":
        reason = str(stats.get("status_reason") or "").strip()
        reason = reason if not reason or reason[-1] in ".?!" else reason + "."
        blocks.append(("warning", "This run FAILED" + (f": {reason}" if reason else ".")
                       + " Its output is incomplete: do not use it."))
    if not stats.get("output", {}).get("documents", 0):
        read = stats.get("input", {}).get("documents", 0)
        blocks.append(("warning", f"No document was written ({fmt_num(read)} read): the output is empty."))
    return blocks


def _accounting(stats: Dict[str, Any]) -> List[Block]:
    inp, out = stats.get("input", {}), stats.get("output", {})
    total, docs, added = inp.get("total", 0), out.get("documents", 0), stats.get("added_total", 0)
    dropped, errors = stats.get("dropped_total", 0), stats.get("errors_total", 0)
    ok = bool(stats.get("balanced"))
    blocks: List[Block] = [("h", 2, "Accounting", "accounting"),
                           ("badge", ok, "Balanced: yes" if ok else "Balanced: NO")]
    left = f"input total {fmt_num(total)}" + (f" + copies added {fmt_num(added)}" if added else "")
    relation = "=" if total + added == docs + dropped + errors else "≠"
    blocks.append(("p", f"{left} {relation} output {fmt_num(docs)} + dropped {fmt_num(dropped)} "
                        f"+ errors {fmt_num(errors)}"))
    unbalanced = [_step_name(s) for s in stats.get("steps", []) if s.get("balanced") is False]
    if unbalanced:
        blocks.append(("p", "steps that do not balance: " + ", ".join(unbalanced)))
    blocks.append(("kv", [("rejected documents written", stats.get("rejected_written", 0)),
                          ("error records written", stats.get("errors_written", 0)),
                          ("output files", out.get("files", 0))]))
    return blocks


_RUN_KEYS = ("recipe_file", "started", "finished", "wall_s", "runner", "workers", "versions", "recipe")


def _provenance(stats: Dict[str, Any]) -> List[Block]:
    run, inp = stats.get("run") or {}, stats.get("input", {})
    pairs = [("recipe", stats.get("recipe", "")), ("recipe file", run.get("recipe_file")),
             ("started", run.get("started")), ("finished", run.get("finished")),
             ("wall time", _duration(run["wall_s"]) if run.get("wall_s") is not None else None),
             ("runner", run.get("runner")),
             ("workers", "runner default" if run.get("workers", 0) is None else run.get("workers"))]
    pairs += [(k, v) for k, v in run.items() if k not in _RUN_KEYS and isinstance(v, (str, int, float))]
    pairs += [("input documents", inp.get("documents")), ("input tokens", inp.get("tokens")),
              ("read errors", inp.get("read_errors")), ("input files", inp.get("file_count")),
              ("input bytes", f"{fmt_num(inp['bytes'])} ({human_bytes(inp['bytes'])})" if "bytes" in inp else None),
              ("prefix cache", cache_line(stats["cache"]) if stats.get("cache") else None)]
    blocks: List[Block] = [("h", 2, "Provenance", "provenance"), ("kv", [(k, v) for k, v in pairs if v is not None])]
    if inp.get("by_source"):
        blocks += [("h", 3, "Inputs", None), ("table", ("source", "documents", "read errors"),
                    [(name, s.get("documents", 0), s.get("errors", 0)) for name, s in inp["by_source"].items()])]
    if inp.get("files"):
        files = inp["files"]
        rows = [(f.get("source", ""), f.get("path", ""), f.get("bytes", 0), human_bytes(f.get("bytes", 0))) for f in files]
        count, total = inp.get("file_count", len(files)), inp.get("bytes", sum(f.get("bytes", 0) for f in files))
        shown = f"all {count} file(s)" + (f", {len(files)} listed" if count > len(files) else "")
        rows.append(("", shown, total, human_bytes(total)))
        blocks += [("h", 3, "Input files", None), ("table", ("source", "path", "bytes", "size"), rows)]
    if run.get("versions"):
        blocks += [("h", 3, "Package versions", None), ("table", ("package", "version"), list(run["versions"].items()))]
    if run.get("recipe"):
        try:
            text = yaml.safe_dump(run["recipe"], sort_keys=False, allow_unicode=True)
        except yaml.YAMLError:
            text = json.dumps(run["recipe"], indent=2, default=str)
        blocks += [("h", 3, "Resolved recipe", None),
                   ("p", "Every step parameter, the defaults filled in, as in recipe.lock.yaml."), ("pre", text)]
    return blocks


def _extraction(steps: List[Dict[str, Any]]) -> Optional[int]:
    """Index of the last ``extract`` step: before it, texts are raw HTML."""
    found = [i for i, s in enumerate(steps) if s.get("step") == "extract"]
    return found[-1] if found else None


def _funnel(stats: Dict[str, Any]) -> List[Block]:
    inp, steps, out = stats.get("input", {}), stats.get("steps", []), stats.get("output", {})
    docs0, raw_tokens = inp.get("documents", 0), inp.get("tokens")
    stages = ([("input (read)", docs0, raw_tokens)] + [(_step_name(s), s.get("out", 0), s.get("tokens_out"))
                                                       for s in steps]
              + [("output (written)", out.get("documents", 0), out.get("tokens"))])
    extract = _extraction(steps)
    # Token shares are of the extracted text: the tokens of raw HTML are no base for them.
    base = 0 if extract is None else extract + 1
    tokens0 = stages[base][2]
    added = any(s.get("added") for s in steps)
    balanced = {True: "yes", False: "NO"}

    def token_share(i: int, tokens: Optional[int]) -> str:
        return "raw HTML" if i < base and tokens is not None else _pct(tokens, tokens0)

    rows = [("input (read)", inp.get("total", docs0), docs0, 0, inp.get("read_errors", 0), raw_tokens,
             "100.0%" if docs0 else "", "100.0%" if raw_tokens and base == 0 else token_share(0, raw_tokens), "")]
    for i, s in enumerate(steps, 1):
        rows.append((_step_name(s), s.get("in", 0), s.get("out", 0), s.get("dropped_total", 0), s.get("errors", 0),
                     s.get("tokens_out"), _pct(s.get("out", 0), docs0), token_share(i, s.get("tokens_out")),
                     balanced.get(s.get("balanced"), ""), s.get("added", 0)))
    rows.append(("output (written)", "", out.get("documents", 0), "", "", out.get("tokens"),
                 _pct(out.get("documents", 0), docs0), _pct(out.get("tokens"), tokens0), ""))
    headers = ("stage", "in", "out", "dropped", "errors", "tokens out", "docs kept", "tokens kept", "balanced")
    if added:
        headers += ("copies added",)
        rows = [r + ("",) * (len(headers) - len(r)) for r in rows]
    else:
        rows = [r[:len(headers)] for r in rows]
    blocks: List[Block] = [("h", 2, "Funnel", "funnel")]
    if base and raw_tokens is not None:
        blocks.append(("p", f"Token shares are of the text after extraction ({_step_name(steps[extract])}: "
                            f"{fmt_num(tokens0 or 0)} tokens); the input's {fmt_num(raw_tokens)} tokens are "
                            "estimated on raw HTML and are no base for a share."))
    return blocks + [("chart", funnel_chart(stages, "Documents and tokens left after each step", base), "stage",
                      [(label, d) for label, d, _ in stages]),
                     ("table", headers, rows)]


def _reason_doc(step: str, reason: str) -> str:
    """The registered step's one-line meaning of ``reason`` ("" for plugins and unknown reasons)."""
    try:
        from thresher.pipelines.recipe.registry import reason_doc  # imports every step module: only when a card is drawn
    except ImportError:
        return ""
    return reason_doc(step, reason) or ""


def _drops(stats: Dict[str, Any]) -> List[Block]:
    rows, top = [], []
    for s in stats.get("steps", []):
        for reason, n in sorted(s.get("dropped", {}).items(), key=lambda x: (-x[1], x[0])):
            rows.append((_step_name(s), reason, _reason_doc(str(s.get("step", "")), reason), n,
                         _pct(n, s.get("in", 0))))
            if n:
                top.append((f"{reason} ({_step_name(s)})", n))
    if not rows:
        return [("h", 2, "Drops", "drops"), ("p", "No documents were dropped.")]
    top = sorted(top, key=lambda x: -x[1])[:TOP_REASONS]
    return [("h", 2, "Drops", "drops"),
            ("chart", hbar_chart(top, "Top drop reasons (documents)", DROP), "reason", top),
            ("table", ("step", "reason", "meaning", "documents", "of step input"), rows)]


def _distributions(stats: Dict[str, Any]) -> List[Block]:
    profile = stats.get("profile") or {}
    if not profile:
        return []
    blocks: List[Block] = [("h", 2, "Distributions", "distributions"),
                           ("p", "Annotations of the output documents.")]
    first = [n for n in ("length_chars", "length_tokens") if n in profile]
    for name in first + sorted(n for n in profile if n not in first):
        p = profile[name]
        blocks.append(("h", 3, name, None))
        single = _single_value(p)
        if single is not None:  # one value: say it, a one-bar chart says nothing more
            blocks.append(("kv", [(k, p[k]) for k in ("count", "missing") if k in p] + [("every value", single[0])]))
            blocks.append(("p", f"Every one of the {fmt_num(single[1])} documents with {name} has the value "
                                f"{fmt_num(single[0])}."))
        elif p.get("kind") == "numeric":
            blocks.append(("kv", [(k, p[k]) for k in ("count", "missing", "min", "max", "mean") if k in p]))
            bars = _bin_bars(p.get("bins") or [])
            if bars:
                ranges = any(tip.startswith("[") for _, _, tip in bars)
                caption = ("bins [low, high) labelled by their low edge; an unlabelled gap stands for empty bins"
                           if ranges else "")
                blocks.append(("chart", histogram(bars, f"{name} (documents per bin)", caption), "bin",
                               [(tip.rsplit(":", 1)[0] if label else f"({tip})", n) for label, n, tip in bars]))
        else:
            values = sorted((p.get("values") or {}).items(), key=lambda x: (-x[1], str(x[0])))
            other = p.get("other", 0) + sum(n for _, n in values[TOP_VALUES:])
            bars = values[:TOP_VALUES] + ([("(other)", other)] if other else [])
            blocks.append(("kv", [(k, p[k]) for k in ("count", "missing") if k in p]
                           + [("values shown", len(values[:TOP_VALUES]))]))
            if bars:
                blocks.append(("chart", hbar_chart(bars, f"{name}: top values (documents)"), "value", bars))
    return blocks


def _single_value(p: Dict[str, Any]) -> Optional[Tuple[Any, int]]:
    """(value, documents) when every document with the annotation has the same value, else None."""
    if not p.get("count"):
        return None
    if p.get("kind") == "numeric":
        return (p["min"], p["count"]) if p.get("min") == p.get("max") else None
    values = p.get("values") or {}
    if len(values) == 1 and not p.get("other"):
        (value, n), = values.items()
        return value, n
    return None


def _bin_bars(bins: List[Dict[str, Any]]) -> List[Tuple[str, int, str]]:
    """Profile bins -> histogram bars (tick label, count, tooltip); a bin of one value has lo == hi
    (small integers); an unlabelled empty bar stands for the empty bins between two non-adjacent bins."""
    bars: List[Tuple[str, int, str]] = []
    end = None
    for b in bins:
        lo, hi, n = b.get("lo", 0), b.get("hi", 0), b.get("count", 0)
        if end is not None and lo > end and not math.isclose(lo, end):
            bars.append(("", 0, f"no documents in [{fmt_num(end)}, {fmt_num(lo)})"))
        if lo == hi:
            bars.append((fmt_short(lo), n, f"{fmt_num(lo)}: {fmt_num(n)}"))
        else:
            bars.append((fmt_short(lo), n, f"[{fmt_num(lo)}, {fmt_num(hi)}): {fmt_num(n)}"))
        end = lo + 1 if lo == hi else hi
    return bars


def _summary(summary: Dict[str, Any]) -> List[Block]:
    """A step's summary (``summaries.view``): its facts, its tables, what they leave out."""
    shown = view(summary)
    blocks: List[Block] = [("kv", shown.facts)] + [("table", t.headers(), t.rows) for t in shown.tables]
    return blocks + [("p", shown.more)] if shown.more else blocks


def _shuffles(stats: Dict[str, Any]) -> List[Block]:
    """What each step's shuffles carried (``shuffle_bytes`` in its report, ``transforms/dedup/shuffle_bytes.py``)."""
    rows = [(_step_name(s), human_bytes(s["report"]["shuffle_bytes"]),
             fmt_num(s["report"].get("shuffle_bytes_per_doc", 0)), fmt_num(s.get("in", 0)))
            for s in stats.get("steps", []) if "shuffle_bytes" in (s.get("report") or {})]
    if not rows:
        return []
    return [("h", 2, "Shuffles", "shuffles"),
            ("p", "The bytes that crossed each step's shuffles, estimated from 1 record in 64 encoded with Beam's "
                  "coders: what Dataflow Shuffle bills and what Flink spills to disk or sends between machines. "
                  "Bytes per input document times the documents of a larger corpus estimate that corpus's run."),
            ("table", ("step", "bytes across its shuffles", "bytes per input document", "input documents"), rows)]


def _step_details(stats: Dict[str, Any]) -> List[Block]:
    blocks: List[Block] = []
    for s in stats.get("steps", []):
        if not (s.get("report") or s.get("summary")):
            continue
        blocks.append(("h", 3, _step_name(s), None))
        if s.get("report"):
            blocks.append(("kv", list(s["report"].items())))
        if isinstance(s.get("summary"), dict):
            kind = s["summary"].get("kind", "summary")
            blocks += [("p", f"summary ({kind})")] + _summary(s["summary"])
    return [("h", 2, "Step reports", "steps")] + blocks if blocks else []


def _examples(stats: Dict[str, Any]) -> List[Block]:
    examples = stats.get("examples") or {}
    blocks: List[Block] = []
    for step in sorted(examples):
        for reason, docs in sorted(examples[step].items()):
            rows = [(d.get("id", ""), d.get("url", ""), re.sub(r"\s+", " ", str(d.get("text", "")))[:EXAMPLE_CHARS])
                    for d in docs]
            blocks += [("h", 3, f"{step}: {reason}", None), ("table", ("id", "url", "first characters"), rows)]
    return [("h", 2, "Examples of dropped documents", "examples")] + blocks if blocks else []


def _files(stats: Dict[str, Any]) -> List[Block]:
    files = stats.get("files") or []
    if not files:
        return []
    rows = [(f.get("kind", ""), f.get("path", ""), f.get("rows", 0)) for f in files]
    return [("h", 2, "Files written", "files"), ("table", ("kind", "path", "rows"), rows)]


def sections(stats: Dict[str, Any]) -> List[Block]:
    """The data card's content, in order, as format-neutral blocks."""
    return (_warnings(stats) + _accounting(stats) + _provenance(stats) + _funnel(stats) + tokens_blocks(stats)
            + _drops(stats) + _distributions(stats) + _shuffles(stats) + _step_details(stats) + _examples(stats)
            + _files(stats))


def render_html(stats: Dict[str, Any]) -> str:
    """The self-contained HTML data card."""
    return to_html(sections(stats), f"Thresher data card: {stats.get('recipe', '')}")


def render_markdown(stats: Dict[str, Any]) -> str:
    """The data card as Markdown: the same sections, with tables and text bars instead of charts."""
    return to_markdown(sections(stats), f"Thresher data card: {stats.get('recipe', '')}")


def write_report(output_dir: str, stats: Optional[Dict[str, Any]] = None) -> List[str]:
    """Write report.html and report.md beside stats.json (read from there when ``stats`` is None)."""
    if stats is None:
        stats = read_stats(output_dir)
    paths = [FileSystems.join(output_dir, HTML_FILE), FileSystems.join(output_dir, MD_FILE)]
    write_text(paths[0], render_html(stats))
    write_text(paths[1], render_markdown(stats))
    from thresher.pipelines.report.dataset_card import write_dataset_card  # README.md: the Hugging Face dataset card
    paths.append(write_dataset_card(output_dir, stats))
    return paths


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The ``thresher report`` options."""
    parser.add_argument("dir", help="a run's output directory (holding stats.json); gs:// works")
    return parser


def run(args: argparse.Namespace) -> int:
    """``thresher report DIR``: (re)write the data card from DIR/stats.json."""
    try:
        stats = read_stats(args.dir)
    except Exception as exc:  # missing or unreadable: FileSystems raises BeamIOError, json ValueError
        print(f"error: cannot read {FileSystems.join(args.dir, 'stats.json')}: {exc}", file=sys.stderr)
        return 2
    print("\n".join(write_report(args.dir, stats)))
    return 0
