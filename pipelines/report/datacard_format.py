"""The data card's blocks written as HTML (inline CSS, no scripts) or as Markdown.

A block is a tuple: ``("h", level, text, anchor)``, ``("p", text)``, ``("badge", ok, text)``, ``("warning", text)``,
``("kv", [(key, value)])``, ``("table", headers, rows)``, ``("chart", svg, label header, [(label, value)])``
or ``("pre", text)``. Text from blocks is escaped here; an SVG chart is escaped by pipelines/report/svg_charts.py.
"""
from __future__ import annotations

import html
import re
from typing import Any, List, Sequence, Tuple

from thresher.pipelines.report.svg_charts import esc, fmt_num

Block = Tuple[Any, ...]
TEXT_BAR = 30  # width of a Markdown text bar, in block characters

_CSS = """body{font-family:sans-serif;margin:2em auto;max-width:1100px;color:#222;padding:0 1em}
h1{margin-bottom:.2em}h2{border-bottom:2px solid #ddd;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;margin:.6em 0;font-size:13px}td,th{border:1px solid #ccc;padding:3px 8px;
text-align:left;vertical-align:top}th{background:#f2f2f2}td.n{text-align:right;font-variant-numeric:tabular-nums}
td.t{max-width:520px;overflow-wrap:anywhere}pre{background:#f6f6f6;padding:.8em;overflow-x:auto;font-size:12px}
.badge{display:inline-block;font-size:1.6em;font-weight:bold;padding:.3em .8em;border-radius:6px;color:#fff}
.ok{background:#2e7d32}.bad{background:#c62828}dl.kv{display:grid;grid-template-columns:max-content auto;
gap:2px 14px;font-size:14px}dl.kv dt{font-weight:bold}dl.kv dd{margin:0;overflow-wrap:anywhere}
svg.chart{display:block;max-width:100%;height:auto;margin:.6em 0}nav a{margin-right:1em}
.warning{background:#c62828;color:#fff;font-weight:bold;font-size:1.2em;padding:.6em 1em;border-radius:6px}"""


def _cell_html(value: Any) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f'<td class="n">{esc(fmt_num(value))}</td>'
    return f'<td class="t">{esc("" if value is None else value)}</td>'


def to_html(blocks: Sequence[Block], title: str) -> str:
    """A self-contained HTML page: a title, links to the sections, the blocks."""
    out, nav = [], []
    for block in blocks:
        kind = block[0]
        if kind == "h":
            anchor = f' id="{block[3]}"' if block[3] else ""
            if block[3]:
                nav.append(f'<a href="#{block[3]}">{esc(block[2])}</a>')
            out.append(f"<h{block[1]}{anchor}>{esc(block[2])}</h{block[1]}>")
        elif kind == "p":
            out.append(f"<p>{esc(block[1])}</p>")
        elif kind == "badge":
            out.append(f'<p><span class="badge {"ok" if block[1] else "bad"}">{esc(block[2])}</span></p>')
        elif kind == "warning":
            out.append(f'<p class="warning" role="alert">⚠ {esc(block[1])}</p>')
        elif kind == "kv":
            out.append('<dl class="kv">' + "".join(f"<dt>{esc(k)}</dt><dd>{esc(fmt_num(v))}</dd>"
                                                  for k, v in block[1]) + "</dl>")
        elif kind == "table":
            head = "".join(f"<th>{esc(h)}</th>" for h in block[1])
            body = "".join("<tr>" + "".join(_cell_html(c) for c in row) + "</tr>" for row in block[2])
            out.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        elif kind == "chart":
            out.append(block[1])
        elif kind == "pre":
            out.append(f"<pre>{esc(block[1])}</pre>")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{esc(title)}</title><style>{_CSS}</style></head><body>"
            f"<h1>{esc(title)}</h1><nav>{''.join(nav)}</nav>\n" + "\n".join(out) + "\n</body></html>\n")


def md_escape(value: Any) -> str:
    """Text safe in a Markdown table cell: no HTML, links, code spans or cell breaks."""
    text = html.escape(re.sub(r"\s+", " ", str(value)), quote=False)
    return re.sub(r"([\\`*\[\]|])", r"\\\1", text)


def _cell_md(value: Any) -> str:
    return md_escape("" if value is None else fmt_num(value))


def to_markdown(blocks: Sequence[Block], title: str) -> str:
    """Markdown: the same blocks, with a table of text bars for each chart."""
    out = [f"# {md_escape(title)}", ""]
    for block in blocks:
        kind = block[0]
        if kind == "h":
            out += ["#" * block[1] + " " + md_escape(block[2]), ""]
        elif kind == "p":
            out += [md_escape(block[1]), ""]
        elif kind == "badge":
            out += [f"**{md_escape(block[2])}**", ""]
        elif kind == "warning":
            out += [f"> **⚠ WARNING: {md_escape(block[1])}**", ""]
        elif kind == "kv":
            out += [f"- **{md_escape(k)}**: {_cell_md(v)}" for k, v in block[1]] + [""]
        elif kind in ("table", "chart"):
            headers, rows = (block[1], block[2]) if kind == "table" else _text_bars(block[2], block[3])
            out.append("| " + " | ".join(md_escape(h) for h in headers) + " |")
            out.append("|" + "|".join("---" for _ in headers) + "|")
            out += ["| " + " | ".join(_cell_md(c) for c in row) + " |" for row in rows] + [""]
        elif kind == "pre":
            fence = "`" * max(3, 1 + max((len(m) for m in re.findall(r"`+", block[1])), default=0))
            out += [fence + "yaml", block[1].rstrip("\n"), fence, ""]
    return "\n".join(out)


def _text_bars(label: str, bars: Sequence[Tuple[str, float]]) -> Tuple[Tuple[str, ...], List[Tuple[Any, ...]]]:
    top = max((v for _, v in bars if v is not None), default=0)
    rows = [(name, value, "█" * max(1, round(TEXT_BAR * value / top)) if top and value else "")
            for name, value in bars]
    return (label, "documents", ""), rows
