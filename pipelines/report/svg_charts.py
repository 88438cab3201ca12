"""Inline SVG bar charts for the data card: no scripts, no fonts, no external files.

Every chart is an ``<svg class="chart ...">`` element with a title, labelled bars, the value
beside each bar and a value axis. Every label passes through ``esc``: the text comes from data.
"""
from __future__ import annotations

import html
import math
from typing import List, Optional, Sequence, Tuple

BAR = "#2f6db5"  # documents; the colour the browser test looks for in the screenshot
BAR2 = "#e0902f"  # tokens
DROP = "#c4473a"  # drop reasons
AXIS, GRID, INK = "#555555", "#e3e3e3", "#222222"
FONT = 'font-family="sans-serif" font-size="12"'
WIDTH = 860
ROW = 22
MAX_LABEL = 48  # characters of a funnel label shown; the whole label is in the tooltip
WRAP = 44  # characters per line of a bar chart's label: longer labels wrap onto more lines
LINE = 14  # pixels per extra label line


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def fmt_num(value: float) -> str:
    """1234 -> '1,234'; 2345.67 -> '2,345.7'; 0.123456 -> '0.12346'; 1.5e9 -> '1.5e+09'."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer() and abs(value) < 1e15):
        return f"{int(value):,}"
    if isinstance(value, float):
        return f"{value:,.1f}" if abs(value) >= 1000 else f"{value:.5g}"
    return str(value)


def _short(label: str, limit: int = MAX_LABEL) -> str:
    return label if len(label) <= limit else label[:limit - 1] + "…"


def wrap_label(label: str, width: int = WRAP) -> List[str]:
    """``label`` in lines of at most ``width`` characters, broken before " (", else at a space, else
    after "_", "-", "/" or ".", else inside a word; no character but the spaces at breaks is lost."""
    lines: List[str] = []
    rest = label
    while len(rest) > width:
        candidates = (rest.rfind(" (", 1, width), rest.rfind(" ", 1, width + 1),
                      max(rest.rfind(c, 1, width) + 1 for c in "_-/."))
        cut = next((c for c in candidates if c > width // 3), width)
        lines.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    return lines + [rest]


def nice_ticks(top: float, count: int = 5, integer: bool = False) -> List[float]:
    """0 and round steps (1, 2, 5 x 10^k; at least 1 for counts) up to at least ``top``."""
    if top <= 0:
        return [0, 1]
    raw = top / count
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    step = max(step, 1) if integer else step
    n = math.ceil(top / step - 1e-9)
    return [i * step for i in range(n + 1)]


def _svg(kind: str, width: int, height: int, title: str, body: List[str]) -> str:
    return (f'<svg class="chart {kind}" role="img" aria-label="{esc(title)}" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" {FONT}><title>{esc(title)}</title>'
            f'<text x="0" y="14" font-weight="bold" fill="{INK}">{esc(title)}</text>' + "".join(body) + "</svg>")


def _value_axis(x0: int, span: int, y_top: int, y_bottom: int, ticks: Sequence[float], fmt) -> List[str]:
    """Vertical grid lines and tick labels under a horizontal bar chart."""
    out = []
    for t in ticks:
        x = x0 + round(span * t / ticks[-1])
        out.append(f'<line x1="{x}" y1="{y_top}" x2="{x}" y2="{y_bottom}" stroke="{GRID}"/>'
                   f'<text x="{x}" y="{y_bottom + 14}" text-anchor="middle" fill="{AXIS}">{esc(fmt(t))}</text>')
    out.append(f'<line x1="{x0}" y1="{y_bottom}" x2="{x0 + span}" y2="{y_bottom}" stroke="{AXIS}"/>')
    return out


def hbar_chart(rows: Sequence[Tuple[str, float]], title: str, color: str = BAR) -> str:
    """One horizontal bar per (label, value), longest first as given; long labels wrap onto more lines."""
    wrapped = [wrap_label(str(label)) for label, _ in rows]
    label_w = min(12 + 7 * WRAP, 12 + 7 * max((len(line) for lines in wrapped for line in lines), default=4))
    x0, top = label_w, 26
    span = WIDTH - x0 - 90
    heights = [ROW + LINE * (len(lines) - 1) for lines in wrapped]
    bottom = top + sum(heights)
    ticks = nice_ticks(max((v for _, v in rows), default=0), integer=True)
    body = _value_axis(x0, span, top, bottom, ticks, fmt_num)
    y = top
    for (label, value), lines, height in zip(rows, wrapped, heights):
        w = round(span * value / ticks[-1]) if value > 0 else 0
        text = "".join(f'<tspan x="{x0 - 6}" dy="{0 if k == 0 else LINE}">{esc(line)}</tspan>'
                       for k, line in enumerate(lines))
        mid = y + (height - ROW) // 2  # the bar sits beside the middle of its label
        body.append(f'<g class="bar"><title>{esc(label)}: {esc(fmt_num(value))}</title>'
                    f'<text x="{x0 - 6}" y="{y + 15}" text-anchor="end" fill="{INK}">{text}</text>'
                    f'<rect x="{x0}" y="{mid + 3}" width="{w}" height="{ROW - 6}" fill="{color}"/>'
                    f'<text x="{x0 + w + 4}" y="{mid + 15}" fill="{INK}">{esc(fmt_num(value))}</text></g>')
        y += height
    return _svg("hbar", WIDTH, bottom + 22, title, body)


def funnel_chart(stages: Sequence[Tuple[str, int, Optional[int]]], title: str, token_base: int = 0) -> str:
    """Documents (and tokens, when known) left after each stage, as a share of the first stage
    (above 100% when a step adds copies, as mixing does). Token shares are of stage ``token_base``
    (the extracted text); the stages before it count tokens of raw HTML, shown as numbers, not shares."""
    docs0 = stages[0][1] if stages else 0
    tokens0 = stages[token_base][2] if len(stages) > token_base else None
    with_tokens = bool(tokens0)
    shares = [v / first for i, (_, d, t) in enumerate(stages)
              for v, first in ((d, docs0), (t if i >= token_base else None, tokens0)) if v and first]
    ticks = [0, 25, 50, 75, 100] if max(shares, default=1) <= 1 else nice_ticks(100 * max(shares), 4)
    label_w = min(330, round(14 + 7.5 * max((len(_short(label)) for label, _, _ in stages), default=4)))
    x0, top, row = label_w, 44, (2 * ROW - 4 if with_tokens else ROW)
    span = WIDTH - x0 - 190  # room for "1,380,000 tokens (100.0%)"
    body = [f'<rect x="{x0}" y="22" width="12" height="12" fill="{BAR}"/>'
            f'<text x="{x0 + 16}" y="32" fill="{INK}">documents</text>']
    if with_tokens:
        body.append(f'<rect x="{x0 + 100}" y="22" width="12" height="12" fill="{BAR2}"/>'
                    f'<text x="{x0 + 116}" y="32" fill="{INK}">tokens</text>')
    body += _value_axis(x0, span, top, top + row * len(stages), ticks, lambda t: f"{t:g}%")
    for i, (label, docs, tokens) in enumerate(stages):
        y = top + i * row
        series = [(docs, docs0, BAR, "docs")]
        if with_tokens:
            series.append((tokens, tokens0, BAR2, "tokens"))
        parts = [f'<text x="{x0 - 6}" y="{y + 15}" text-anchor="end" fill="{INK}">{esc(_short(label))}</text>']
        for j, (value, first, color, unit) in enumerate(series):
            yy = y + 3 + j * (ROW - 4)
            if value is None:
                parts.append(f'<text x="{x0 + 4}" y="{yy + 12}" fill="{AXIS}">{unit}: not counted</text>')
                continue
            if unit == "tokens" and i < token_base:
                parts.append(f'<text x="{x0 + 4}" y="{yy + 12}" fill="{AXIS}">{esc(fmt_num(value))} tokens of '
                             f'raw HTML, before extraction (not a share)</text>')
                continue
            share = value / first if first else 0.0
            w = round(span * 100 * share / ticks[-1])
            parts.append(f'<rect x="{x0}" y="{yy}" width="{w}" height="{ROW - 8}" fill="{color}"/>'
                         f'<text x="{x0 + w + 4}" y="{yy + 12}" fill="{INK}">'
                         f'{esc(fmt_num(value))} {unit} ({share * 100:.1f}%)</text>')
        body.append(f'<g class="bar"><title>{esc(label)}</title>' + "".join(parts) + "</g>")
    return _svg("funnel", WIDTH, top + row * len(stages) + 22, title, body)


def histogram(bars: Sequence[Tuple[str, int, str]], title: str, caption: str = "") -> str:
    """Vertical bars (tick label, count, tooltip), left to right, with a count axis.
    A bar with an empty tick label and no count is a gap between bins."""
    x0, top, plot_h, width = 64, 36, 170, WIDTH
    span = width - x0 - 16
    n = max(len(bars), 1)
    ticks = nice_ticks(max((c for _, c, _ in bars), default=0), 4, integer=True)
    body = []
    for t in ticks:
        y = top + plot_h - round(plot_h * t / ticks[-1])
        body.append(f'<line x1="{x0}" y1="{y}" x2="{x0 + span}" y2="{y}" stroke="{GRID}"/>'
                    f'<text x="{x0 - 6}" y="{y + 4}" text-anchor="end" fill="{AXIS}">{esc(fmt_num(t))}</text>')
    every = max(1, math.ceil(n / 12))  # at most ~12 tick labels
    for i, (label, count, tip) in enumerate(bars):
        x1, x2 = x0 + round(span * i / n), x0 + round(span * (i + 1) / n)
        h = round(plot_h * count / ticks[-1]) if count > 0 else 0
        y = top + plot_h - h
        bar = (f'<g class="bar"><title>{esc(tip)}</title>'
               f'<rect x="{x1 + 1}" y="{y}" width="{max(x2 - x1 - 2, 1)}" height="{h}" fill="{BAR}"/>')
        if n <= 24 and count > 0:
            bar += (f'<text x="{(x1 + x2) / 2:.1f}" y="{y - 3}" text-anchor="middle" font-size="10" '
                    f'fill="{INK}">{esc(fmt_num(count))}</text>')
        body.append(bar + "</g>")
        if i % every == 0 and label:
            body.append(f'<text x="{(x1 + x2) / 2:.1f}" y="{top + plot_h + 14}" text-anchor="middle" '
                        f'fill="{AXIS}">{esc(label)}</text>')
    body.append(f'<line x1="{x0}" y1="{top + plot_h}" x2="{x0 + span}" y2="{top + plot_h}" stroke="{AXIS}"/>'
                f'<line x1="{x0}" y1="{top}" x2="{x0}" y2="{top + plot_h}" stroke="{AXIS}"/>')
    if caption:
        body.append(f'<text x="{x0}" y="{top + plot_h + 32}" fill="{AXIS}">{esc(caption)}</text>')
    return _svg("histogram", width, top + plot_h + (40 if caption else 24), title, body)


def fmt_short(value: float) -> str:
    """A tick label: 3 significant digits, k/M/G for thousands: 4870.9 -> '4.87k'."""
    for scale, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"{value / scale:.3g}{suffix}"
    return f"{value:.3g}"
