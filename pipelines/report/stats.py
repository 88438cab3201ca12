"""Run accounting: ``stats.json`` (``build_stats``), the run's status and markers, and the summary table
(``finalize.FinalizeRun`` writes them at the end of a run).

``stats.json`` says, for the whole run and for every step, how many documents
came in, went out, were dropped (per reason) and raised errors, such that
``input.total == output.documents + dropped_total + errors_total`` holds
exactly (``balanced``). Output documents are the rows actually written (the token
shards' documents with ``output.format: none``); with token shards, ``balanced`` also
needs the shards to hold every output document (``token_stats``).
"""
from __future__ import annotations

import json
import time
from typing import Any, Dict, Iterable, List, Tuple

from apache_beam.io.filesystems import FileSystems

from thresher.pipelines.report import count_keys as keys
from thresher.pipelines.report.summaries import view
from thresher.pipelines.report.token_stats import tokens_line, token_stats
from thresher.transforms.base import COPIES_ADDED
from thresher.transforms.redact import redact

SUCCESS_MARKER = "_SUCCESS"
RUNNING_MARKER = "_RUNNING"  # host, pid and runner of the run writing the directory; removed when it ends
STATS_FILE = "stats.json"


def build_stats(counts: Dict[Tuple, int], summary: Dict[str, Any], files: Iterable[Dict[str, Any]],
                facts: Iterable[Tuple[str, Any, Any]] = ()) -> Dict[str, Any]:
    """Assemble the stats document from (``count_keys.CountKey`` -> count) pairs, the files written and the
    steps' facts: ``("summary", step index, dict)``, ``("profile", 0, dict)``,
    ``("examples", (step label, reason), [example, ...])``."""
    files = sorted(files, key=lambda f: (f["kind"], f["path"]))
    facts = list(facts)
    counts = keys.typed(counts)
    summaries = {key: value for kind, key, value in facts if kind == "summary"}
    by_source = {name: {"documents": counts.get(keys.read_docs(name), 0),
                        "errors": counts.get(keys.read_errors(name), 0),
                        # records the reader passed over (not documents), by type
                        "skipped": dict(sorted(keys.details(counts, "read", name, "skipped").items()))}
                 for name in summary["inputs"]}
    skipped: Dict[str, int] = {}
    for source in by_source.values():
        for kind, n in source["skipped"].items():
            skipped[kind] = skipped.get(kind, 0) + n
    read_docs = sum(s["documents"] for s in by_source.values())
    read_errors = sum(s["errors"] for s in by_source.values())
    read_tokens = sum(counts.get(keys.read_docs(name).tokens(), 0) for name in summary["inputs"])
    steps, docs_in, tokens = [], read_docs, read_tokens
    for s in summary["steps"]:
        i = s["index"]
        dropped = keys.details(counts, "step", i, "dropped")
        report = keys.details(counts, "step", i, "report")
        entry = {
            "index": i, "step": s["step"], "in": docs_in,
            "out": counts.get(keys.step_out(i), 0),
            "dropped": dict(sorted(dropped.items())),
            "dropped_total": sum(dropped.values()),
            "errors": counts.get(keys.step_errors(i), 0),
            # copies a step adds (mix upsampling): out may exceed in by this much
            "added": report.get(COPIES_ADDED, 0),
            "tokens_out": counts.get(keys.step_out(i).tokens(), 0),
        }
        if report:
            entry["report"] = dict(sorted(report.items()))
        if i in summaries:
            entry["summary"] = summaries[i]
        entry["balanced"] = entry["in"] + entry["added"] == entry["out"] + entry["dropped_total"] + entry["errors"]
        steps.append(entry)
        docs_in, tokens = entry["out"], entry["tokens_out"]
    rows = {kind: sum(f["rows"] for f in files if f["kind"] == kind) for kind in ("data", "rejected", "errors")}
    recipe_output = ((summary.get("run") or {}).get("recipe") or {}).get("output") or {}
    text_written = recipe_output.get("format", "parquet") != "none"
    tokens_section = token_stats(summary, files, rows["data"] if text_written else None)
    if tokens_section is not None and not text_written:  # output.format none: the shards are the output
        rows["data"] = tokens_section["documents"]
    dropped_total = sum(s["dropped_total"] for s in steps)
    added_total = sum(s["added"] for s in steps)
    errors_total = read_errors + sum(s["errors"] for s in steps)
    total_in = read_docs + read_errors
    stats = {
        "recipe": summary["recipe"],
        "input": {"documents": read_docs, "read_errors": read_errors, "total": total_in, "tokens": read_tokens,
                  "skipped": dict(sorted(skipped.items())), "by_source": by_source},
        "steps": steps,
        "output": {"documents": rows["data"], "files": sum(1 for f in files if f["kind"] == "data"),
                   "tokens": tokens},
        "dropped_total": dropped_total,
        "errors_total": errors_total,
        "added_total": added_total,
        "rejected_written": rows["rejected"],
        "errors_written": rows["errors"],
        "balanced": (total_in + added_total == rows["data"] + dropped_total + errors_total
                     and (tokens_section is None or tokens_section["balanced"])),
        "files": [{"kind": f["kind"], "path": f["path"], "rows": f["rows"]} for f in files],
    }
    if tokens_section is not None:
        stats["tokens"] = tokens_section
    cache = cache_stats(counts)
    if cache is not None:
        stats["cache"] = cache
    if "input_files" in summary:
        listed = summary["input_files"]
        stats["input"].update(files=listed["listed"], file_count=listed["count"], bytes=listed["bytes"])
    if "run" in summary:
        stats["run"] = run_facts(summary["run"])
    for kind, key, value in facts:
        if kind == "profile":
            stats["profile"] = value
        elif kind == "examples":
            label, reason = key
            stats.setdefault("examples", {}).setdefault(label, {})[reason] = value
    if "examples" in stats:
        stats["examples"] = {label: dict(sorted(r.items())) for label, r in sorted(stats["examples"].items())}
    return stats


def cache_line(cache: Dict[str, Any]) -> str:
    """What the prefix cache gave, in words (summary table, data card, dataset card)."""
    damaged = cache.get("entries_damaged", 0)
    return (f"{cache['files_from_cache']} input file(s) from the cache, {cache.get('files_partly_from_cache', 0)} "
            f"with their extracted text from it, {cache['files_computed']} read and processed"
            + (f" ({damaged} damaged entries replaced)" if damaged else ""))


def cache_stats(counts: Dict[keys.CountKey, int]) -> Dict[str, Any] | None:
    """Input files the prefix cache gave whole (``files_from_cache``), gave extracted (the steps after
    extraction run again: ``files_partly_from_cache``), computed (and stored), and damaged entries
    (computed again); None when the run used no cache."""
    found = {key: n for key, n in counts.items() if key.kind == "cache"}
    if not found:
        return None
    total = lambda detail: sum(n for key, n in found.items() if key.detail == detail)
    return {"files_from_cache": total("hit"), "files_partly_from_cache": total("partial"),
            "files_computed": total("computed"), "entries_damaged": total("corrupt")}


def run_facts(run: Dict[str, Any]) -> Dict[str, Any]:
    """Provenance: start, finish and wall time, plus what the caller recorded (runner, versions, recipe)."""
    import datetime

    started = run.get("started_unix")
    finished = time.time()
    facts = {k: v for k, v in run.items() if k != "started_unix"}
    if started is not None:
        iso = lambda t: datetime.datetime.fromtimestamp(t, datetime.timezone.utc).isoformat(timespec="seconds")
        facts.update(started=iso(started), finished=iso(finished), wall_s=round(finished - started, 3))
    return facts


def write_text(path: str, text: str) -> None:
    with FileSystems.create(path) as f:
        f.write(text.encode("utf-8"))


def read_stats(output_dir: str) -> Dict[str, Any]:
    with FileSystems.open(FileSystems.join(output_dir, STATS_FILE)) as f:
        return json.loads(f.read().decode("utf-8"))


def human_bytes(n: float) -> str:
    """``123456789`` -> ``"117.7 MiB"``."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:,} B" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return ""


def _listing(counts: Dict[str, int]) -> str:
    """``{"request": 2, "warcinfo": 1}`` -> ``"request 2, warcinfo 1"`` (largest first)."""
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def run_status(stats: Dict[str, Any], summary: Dict[str, Any]) -> Tuple[str, str]:
    """``("succeeded", "")`` or ``("failed", one line saying why and what to check)``.

    A run fails when an input's non-empty files gave no document, or when documents came in and
    none was written. Zero-byte inputs are an empty run, which succeeds."""
    listed = summary.get("input_files", {}).get("by_source", {})
    for name, source in stats["input"]["by_source"].items():
        files = listed.get(name, {})
        if source["documents"] or not files.get("nonempty_files"):
            continue
        skipped = source.get("skipped") or {}
        what = []
        if source["errors"]:
            what.append(f"{source['errors']} record(s) could not be read (first ones in errors/)")
        if skipped:
            what.append(f"{sum(skipped.values())} records passed over ({_listing(skipped)})")
        fmt = files.get("format", "auto")
        hint = (f"is `format: {fmt}` right for these files?" if fmt != "auto"
                else "do the files' extensions say their format? set `format:` if not")
        return "failed", (f"input '{name}': {files['nonempty_files']} non-empty file(s) ({human_bytes(files['bytes'])}) "
                          f"gave no document: {'; '.join(what) or 'no record found'} — {hint}")
    came_in = stats["input"]["documents"]
    if came_in and not stats["output"]["documents"]:
        errors = {s["step"]: s["errors"] for s in stats["steps"] if s["errors"]}
        dropped = [s for s in stats["steps"] if s["dropped_total"]]
        if errors and not dropped:
            return "failed", (f"{came_in} documents came in and none was written: every one raised an error "
                              f"({_listing(errors)}) — see errors/ and thresher.log")
        if dropped:
            worst = max(dropped, key=lambda s: s["dropped_total"])
            return "failed", (f"{came_in} documents came in and none was written: step {worst['index']:02d} "
                              f"{worst['step']} dropped {worst['dropped_total']} ({_listing(worst['dropped'])}) — "
                              f"check its parameters (`dry_run: true` shows what it would drop)")
        return "failed", f"{came_in} documents came in and none was written — check the output's settings"
    return "succeeded", ""


def _aligned(rows: List[Tuple[str, ...]], left: Tuple[int, ...]) -> List[str]:
    """Columns padded to their widest cell; numbers right-aligned, the ``left`` columns left-aligned."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(c.ljust(w) if i in left else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))).rstrip()
            for r in rows]


def summary_lines(label: str, summary: Dict[str, Any]) -> List[str]:
    """A step summary in a few lines (``summaries.view``): its headline, then the tables it shows here
    (the mix table per source); a kind without a headline prints nothing."""
    shown = view(summary)
    if not shown.headline:
        return []
    lines = [f"{label}: {shown.headline}"]
    for table in shown.tables:
        if not table.brief:
            continue
        at = [table.columns.index(c) for c in table.brief]
        rows = [table.headers(table.brief, table.brief_names)] + [
            tuple(table.brief_formats.get(c, "{}").format(row[i]) for c, i in zip(table.brief, at))
            for row in table.rows]
        lines += ["  " + line for line in _aligned(rows, left=(0,))]
    return lines


def summary_table(stats: Dict[str, Any], wall_s: float | None = None) -> str:
    """The short table printed at the end of a run."""
    rows: List[Tuple[str, ...]] = [("step", "in", "out", "dropped", "errors", "top drop reasons")]
    inp = stats["input"]
    rows.append(("read", str(inp["total"]), str(inp["documents"]), "0", str(inp["read_errors"]), ""))
    for s in stats["steps"]:
        top = ", ".join(f"{r} {n}" for r, n in sorted(s["dropped"].items(), key=lambda x: -x[1])[:3])
        rows.append((f"{s['index']:02d} {s['step']}", str(s["in"]), str(s["out"]),
                     str(s["dropped_total"]), str(s["errors"]), top))
    lines = _aligned(rows, left=(0, 5))
    if inp.get("skipped"):
        lines.append(f"read: {sum(inp['skipped'].values())} records passed over ({_listing(inp['skipped'])})")
    for s in stats["steps"]:
        if s.get("report"):
            facts = ", ".join(f"{k} {v}" for k, v in s["report"].items())
            lines.append(f"{s['index']:02d} {s['step']}: {facts}")
        lines += summary_lines(f"{s['index']:02d} {s['step']}", s.get("summary") or {})
    lines.append(f"output: {stats['output']['documents']} documents in {stats['output']['files']} file(s); "
                 f"balanced: {stats['balanced']}")
    if stats.get("tokens"):
        lines.append(tokens_line(stats["tokens"]))
    if stats.get("cache"):
        lines.append("cache: " + cache_line(stats["cache"]))
    if wall_s:
        lines.append(f"time: {wall_s:.1f} s, {inp['total'] / wall_s:.1f} input docs/s")
    return redact("\n".join(lines))
