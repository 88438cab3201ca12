"""A step's summary (``stats.json``'s ``steps[i].summary``), one kind at a time: the mix table,
the contamination found, the quality cutoff, any other kind as its plain facts. This module alone
knows each kind's fields; the run's summary table (``stats.summary_lines``) and the data card
(``datacard``) only format what ``view`` gives them.
"""
from __future__ import annotations

import json
from typing import Any, Dict, List, NamedTuple, Optional, Sequence, Tuple

MAX_ITEMS = 100  # contaminated benchmark items listed
ITEM_CHARS = 300  # characters of a benchmark item shown

#: the mix table's columns, one row per source
MIX_COLUMNS = ("source", "weight", "available_tokens", "available_documents", "target", "rate",
               "achieved_tokens", "achieved_documents", "epochs", "shortfall")
MIX_FACTS = ("unit", "budget", "seed", "max_epochs", "token_counting")
CONTAMINATION_FACTS = ("ngram", "min_matches", "documents_checked", "documents_flagged")
QUALITY_FACTS = ("top_percent", "threshold", "cutoff", "scored")  # first, in this order, then the rest


class Table(NamedTuple):
    columns: Tuple[str, ...]
    rows: List[Tuple[Any, ...]]
    #: the columns the run's summary table prints, with a format for some (none: card only)
    brief: Tuple[str, ...] = ()
    brief_formats: Dict[str, str] = {}
    brief_names: Dict[str, str] = {}  # shorter headers there

    def headers(self, columns: Optional[Sequence[str]] = None,
                names: Optional[Dict[str, str]] = None) -> Tuple[str, ...]:
        return tuple((names or {}).get(c) or c.replace("_", " ") for c in (columns or self.columns))


class SummaryView(NamedTuple):
    headline: str  # one line for the run's summary table; empty: the kind is not printed there
    facts: List[Tuple[str, Any]]
    tables: List[Table]
    more: str = ""  # what the tables leave out


def view(summary: Dict[str, Any]) -> SummaryView:
    """What a summary says, by kind."""
    kind = summary.get("kind")
    if kind == "mix":
        return _mix(summary)
    if kind == "contamination":
        return _contamination(summary)
    rest = [(k, v) for k, v in summary.items() if k != "kind"]
    if kind == "quality":
        rest = ([(k, summary[k]) for k in QUALITY_FACTS if k in summary]
                + [(k, v) for k, v in rest if k not in QUALITY_FACTS])
    facts = [(k, v if isinstance(v, (int, float, str)) else json.dumps(v, default=str)) for k, v in rest]
    return SummaryView(_quality_line(summary) if kind == "quality" else "", facts, [])


def _mix(summary: Dict[str, Any]) -> SummaryView:
    epochs = "" if summary.get("max_epochs") is None else f", at most {summary['max_epochs']} epochs"
    rows = [tuple(s.get(c, "") for c in MIX_COLUMNS) for s in summary.get("sources", [])]
    table = Table(MIX_COLUMNS, rows, brief=tuple(c for c in MIX_COLUMNS if c != "rate"),
                  brief_formats={"weight": "{:.3g}", "epochs": "{:.2f}"},
                  brief_names={"available_documents": "available docs", "achieved_documents": "achieved docs"})
    return SummaryView(f"budget {summary.get('budget')} {summary.get('unit', 'tokens')}{epochs}",
                       [(k, summary[k]) for k in MIX_FACTS if k in summary], [table])


def _contamination(summary: Dict[str, Any]) -> SummaryView:
    benches = summary.get("benchmarks") or {}
    found = sum(b.get("items_found", 0) for b in benches.values())
    tables = []
    if benches:
        tables.append(Table(("benchmark", "items", "items found"),
                            [(b, v.get("items", 0), v.get("items_found", 0)) for b, v in benches.items()]))
    items = summary.get("items") or []
    if items:
        tables.append(Table(("benchmark", "item", "documents", "example ids"),
                            [(i.get("benchmark", ""), str(i.get("item", ""))[:ITEM_CHARS], i.get("documents", 0),
                              ", ".join(map(str, i.get("examples", [])))) for i in items[:MAX_ITEMS]]))
    more = f"{len(items) - MAX_ITEMS} more items in stats.json" if len(items) > MAX_ITEMS else ""
    headline = (f"{summary.get('documents_flagged', 0)} of {summary.get('documents_checked', 0)} documents "
                f"share {summary.get('ngram')}-grams with {found} benchmark item(s)")
    return SummaryView(headline, [(k, summary[k]) for k in CONTAMINATION_FACTS if k in summary], tables, more)


def _quality_line(summary: Dict[str, Any]) -> str:
    rule = (f"top {summary['top_percent']}%: cutoff {summary.get('cutoff')}" if "top_percent" in summary
            else f"threshold {summary.get('threshold')}")
    return f"{rule}, {summary.get('scored', 0)} scored"
