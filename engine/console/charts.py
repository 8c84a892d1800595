"""Server-side SVG charts: no JavaScript and nothing fetched, so the console works offline.

`bar_chart` draws horizontal bars, one group per category and one bar per series in it, with the
category's full label in a column on the left (wrapped over as many lines as it needs, never cut)
and the value written at the end of each bar. `column_chart` draws a time series: one group of
upright bars per period, in order along a time axis, with a value scale. Both have a legend when
there is more than one series.

Every chart scales to its container: it has a viewBox and a width of 100%, no fixed pixel size.
Every text that comes from data is XML-escaped (labels are clause titles, region names and the like).
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Sequence
from decimal import Decimal
from xml.sax import saxutils

import markupsafe

#: Bar colours per series, colour-blind friendly (Okabe–Ito).
PALETTE = ("#0072B2", "#009E73", "#E69F00", "#D55E00", "#CC79A7", "#56B4E9")
#: The drawing's own units (the viewBox); the browser scales it to the page's width.
WIDTH = 760
#: The column of category labels, and how wide a label line may be in it.
LABEL_WIDTH = 300
VALUE_WIDTH = 100
BAR = 14
GAP = 10
LINE = 15
TOP = 34
LEGEND = 24
#: Estimated advance of a character at font size 12: CJK and full-width ones, and the rest.
WIDE_CHAR, NARROW_CHAR = 12.0, 7.0
#: Categories drawn at most (the table below a chart lists them all).
MAX_ROWS = 20
#: Periods drawn at most on a time axis (the latest ones; the table lists them all).
MAX_PERIODS = 24
#: A time-axis label needs about this much room; crowded axes label every few periods.
PERIOD_LABEL = 52
PLOT_HEIGHT = 220
AXIS_LEFT = 70
Number = float | int | Decimal


def _text(value: str) -> str:
    return saxutils.escape(value)


def _attr(value: str) -> str:
    return saxutils.quoteattr(value)


def _number(value: Number) -> str:
    if isinstance(value, Decimal | float) and value != int(value):
        return f"{value:,.2f}"
    return f"{int(value):,}"


def _advance(char: str) -> float:
    return WIDE_CHAR if unicodedata.east_asian_width(char) in ("W", "F") else NARROW_CHAR


def wrap(label: str, width: float = LABEL_WIDTH - 12) -> list[str]:
    """`label` in lines no wider than `width` (estimated), every character kept; a line of Latin
    text breaks after a space where it can."""
    lines: list[str] = []
    line, used = "", 0.0
    for char in label:
        step = _advance(char)
        if line and used + step > width:
            cut = line.rfind(" ")
            if cut > 0 and not line.isspace():
                lines.append(line[: cut + 1])  # the space stays, at the end of the line: nothing is lost
                line = line[cut + 1:]
                used = sum(_advance(c) for c in line)
            else:
                lines.append(line)
                line, used = "", 0.0
        line += char
        used += step
    if line or not lines:
        lines.append(line)
    return lines


def _open(title: str, height: float) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="100%" viewBox="0 0 {WIDTH} {height:.0f}" '
        f'preserveAspectRatio="xMinYMin meet" role="img" aria-label={_attr(title)} font-family="sans-serif" font-size="12">',
        f"<title>{_text(title)}</title>",
        f'<text x="0" y="18" font-size="14" font-weight="bold">{_text(title)}</text>',
    ]


def _legend(series: Sequence[tuple[str, Sequence[Number]]], x0: float) -> list[str]:
    parts = []
    x = x0
    for index, (name, _) in enumerate(series if len(series) > 1 else ()):
        parts.append(f'<rect x="{x:.0f}" y="{TOP - 8}" width="12" height="12" fill="{PALETTE[index % len(PALETTE)]}"/>')
        parts.append(f'<text x="{x + 16:.0f}" y="{TOP + 2}">{_text(name)}</text>')
        x += 24 + sum(_advance(c) for c in name)
    return parts


def _peak(series: Sequence[tuple[str, Sequence[Number]]]) -> float:
    return max((float(v) for _, values in series for v in values), default=0.0) or 1.0


def bar_chart(
    title: str, categories: Sequence[str], series: Sequence[tuple[str, Sequence[Number]]], *, stacked: bool = False
) -> markupsafe.Markup:
    """Horizontal bars of `series` (name, one value per category) over `categories`, in the order
    given: side by side, or `stacked` into one bar per category (its total written at the end)."""
    categories = list(categories)[:MAX_ROWS]
    series = [(name, list(values)[: len(categories)]) for name, values in series]
    legend = LEGEND if len(series) > 1 else 0
    labels = [wrap(category) for category in categories]
    bars = 1 if stacked else len(series)
    heights = [max(bars * BAR, len(lines) * LINE) + GAP for lines in labels]
    height = TOP + legend + (sum(heights) if categories else BAR + GAP) + 8
    plot = WIDTH - LABEL_WIDTH - VALUE_WIDTH
    if stacked:
        sums = [sum(float(values[i]) for _, values in series if i < len(values)) for i in range(len(categories))]
        peak = max(sums, default=0.0) or 1.0
    else:
        peak = _peak(series)
    parts = [*_open(title, height), *_legend(series, LABEL_WIDTH)]
    if not categories:
        parts.append(f'<text x="{LABEL_WIDTH}" y="{TOP + legend + 14}" fill="#666">暂无数据</text>')
    y0 = TOP + legend
    for row, (category, lines) in enumerate(zip(categories, labels, strict=True)):
        block = heights[row] - GAP
        first = y0 + (block - len(lines) * LINE) / 2 + LINE - 3
        tspans = "".join(f'<tspan x="0" y="{first + i * LINE:.0f}">{_text(line)}</tspan>' for i, line in enumerate(lines))
        parts.append(f'<text class="label"><title>{_text(category)}</title>{tspans}</text>')
        bars_top = y0 + (block - bars * BAR) / 2
        x, total = float(LABEL_WIDTH), 0.0
        for index, (name, values) in enumerate(series):
            value = values[row] if row < len(values) else 0
            width = max(0.0, float(value)) / peak * plot
            y = bars_top + (0 if stacked else index * BAR)
            parts.append(
                f'<rect x="{x if stacked else LABEL_WIDTH:.1f}" y="{y:.0f}" width="{width:.1f}" height="{BAR - 2}" '
                f'fill="{PALETTE[index % len(PALETTE)]}"><title>{_text(f"{category} · {name}：{_number(value)}")}</title></rect>'
            )
            if stacked:
                x, total = x + width, total + float(value)
            else:
                parts.append(f'<text x="{LABEL_WIDTH + width + 4:.1f}" y="{y + BAR - 3:.0f}">{_number(value)}</text>')
        if stacked:
            parts.append(f'<text x="{x + 4:.1f}" y="{bars_top + BAR - 3:.0f}">{_number(total)}</text>')
        y0 += heights[row]
    parts.append("</svg>")
    # Safe: every piece of data above went through _text/_attr.
    return markupsafe.Markup("".join(parts))


def _ticks(peak: float, *, whole: bool) -> list[float]:
    """Four or five round values from 0 to at least `peak` for the value scale; whole numbers only
    when the values are counts."""
    raw = peak / 4
    magnitude = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    if whole:
        step = max(1, math.ceil(step))
    return [step * i for i in range(0, math.ceil(peak / step) + 1)]


def column_chart(title: str, periods: Sequence[str], series: Sequence[tuple[str, Sequence[Number]]]) -> markupsafe.Markup:
    """Upright bars of `series` per period, the periods in order along a time axis (the latest
    MAX_PERIODS of them), with a value scale on the left."""
    periods = list(periods)[-MAX_PERIODS:]
    cut = len(periods)
    series = [(name, list(values)[-cut:] if cut else []) for name, values in series]
    legend = LEGEND if len(series) > 1 else 0
    top = TOP + legend + 6
    height = top + PLOT_HEIGHT + 40
    plot_width = WIDTH - AXIS_LEFT - 10
    parts = [*_open(title, height), *_legend(series, AXIS_LEFT)]
    if not periods:
        parts.append(f'<text x="{AXIS_LEFT}" y="{top + 14}" fill="#666">暂无数据</text></svg>')
        return markupsafe.Markup("".join(parts))
    ticks = _ticks(_peak(series), whole=all(isinstance(v, int) or not v for _, values in series for v in values))
    scale = PLOT_HEIGHT / ticks[-1]
    base = top + PLOT_HEIGHT
    for tick in ticks:
        y = base - tick * scale
        parts.append(f'<line x1="{AXIS_LEFT}" x2="{WIDTH - 10}" y1="{y:.1f}" y2="{y:.1f}" stroke="#d9e2ec"/>')
        parts.append(f'<text x="{AXIS_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" fill="#616e7c">{_number(tick)}</text>')
    group = plot_width / len(periods)
    every = max(1, math.ceil(PERIOD_LABEL / group))
    bar = max(1.0, min(18.0, (group - 6) / len(series)))
    for column, period in enumerate(periods):
        x0 = AXIS_LEFT + column * group + (group - bar * len(series)) / 2
        for index, (name, values) in enumerate(series):
            value = values[column] if column < len(values) else 0
            h = max(0.0, float(value)) * scale
            parts.append(
                f'<rect x="{x0 + index * bar:.1f}" y="{base - h:.1f}" width="{bar - 1:.1f}" height="{h:.1f}" '
                f'fill="{PALETTE[index % len(PALETTE)]}"><title>{_text(f"{period} · {name}：{_number(value)}")}</title></rect>'
            )
        if (len(periods) - 1 - column) % every == 0:  # the latest period is always labelled
            parts.append(f'<text class="period" x="{AXIS_LEFT + (column + 0.5) * group:.1f}" y="{base + 18}" '
                         f'text-anchor="middle">{_text(period)}</text>')
    parts.append(f'<line x1="{AXIS_LEFT}" x2="{WIDTH - 10}" y1="{base}" y2="{base}" stroke="#616e7c"/>')
    parts.append("</svg>")
    # Safe: every piece of data above went through _text/_attr.
    return markupsafe.Markup("".join(parts))
