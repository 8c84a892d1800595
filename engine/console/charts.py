"""Server-side SVG bar charts: no JavaScript and nothing fetched, so the console works offline.

`bar_chart` draws horizontal bars, one group per category and one bar per series in it, with the
value written at the end of each bar and a legend when there is more than one series. Every text
that comes from data is XML-escaped (labels are clause titles, region codes and the like), and
long labels are shortened with the full text kept in a <title> tooltip.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from xml.sax import saxutils

import markupsafe

#: Bar colours per series, colour-blind friendly (Okabe–Ito).
PALETTE = ("#0072B2", "#009E73", "#E69F00", "#D55E00", "#CC79A7", "#56B4E9")
WIDTH = 720
LABEL_WIDTH = 230
VALUE_WIDTH = 90
BAR = 14
GAP = 10
TOP = 34
LEGEND = 24
MAX_LABEL = 16
#: Categories drawn at most (the table below a chart lists them all).
MAX_ROWS = 20


def _text(value: str) -> str:
    return saxutils.escape(value)


def _attr(value: str) -> str:
    return saxutils.quoteattr(value)


def _number(value: float | int | Decimal) -> str:
    if isinstance(value, Decimal | float) and value != int(value):
        return f"{value:,.2f}"
    return f"{int(value):,}"


def _short(label: str) -> str:
    return label if len(label) <= MAX_LABEL else label[: MAX_LABEL - 1] + "…"


def bar_chart(title: str, categories: Sequence[str], series: Sequence[tuple[str, Sequence[float | int | Decimal]]]) -> markupsafe.Markup:
    """An SVG chart of `series` (name, one value per category) over `categories`."""
    categories = list(categories)[:MAX_ROWS]
    series = [(name, list(values)[: len(categories)]) for name, values in series]
    group = len(series) * BAR + GAP
    legend = LEGEND if len(series) > 1 else 0
    height = TOP + legend + max(1, len(categories)) * group + 8
    plot = WIDTH - LABEL_WIDTH - VALUE_WIDTH
    peak = max((float(v) for _, values in series for v in values), default=0.0) or 1.0
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" role="img" aria-label={_attr(title)} font-family="sans-serif" font-size="12">',
        f"<title>{_text(title)}</title>",
        f'<text x="0" y="18" font-size="14" font-weight="bold">{_text(title)}</text>',
    ]
    for index, (name, _) in enumerate(series if legend else ()):
        x = LABEL_WIDTH + index * 110
        parts.append(f'<rect x="{x}" y="{TOP - 8}" width="12" height="12" fill="{PALETTE[index % len(PALETTE)]}"/>')
        parts.append(f'<text x="{x + 16}" y="{TOP + 2}">{_text(name)}</text>')
    if not categories:
        parts.append(f'<text x="{LABEL_WIDTH}" y="{TOP + legend + 14}" fill="#666">暂无数据</text>')
    for row, category in enumerate(categories):
        y0 = TOP + legend + row * group
        parts.append(
            f'<text x="{LABEL_WIDTH - 8}" y="{y0 + len(series) * BAR / 2 + 4:.0f}" text-anchor="end">'
            f"<title>{_text(category)}</title>{_text(_short(category))}</text>"
        )
        for index, (name, values) in enumerate(series):
            value = values[row] if row < len(values) else 0
            width = max(0.0, float(value)) / peak * plot
            y = y0 + index * BAR
            parts.append(
                f'<rect x="{LABEL_WIDTH}" y="{y}" width="{width:.1f}" height="{BAR - 2}" fill="{PALETTE[index % len(PALETTE)]}">'
                f"<title>{_text(f'{category} · {name}：{_number(value)}')}</title></rect>"
            )
            parts.append(f'<text x="{LABEL_WIDTH + width + 4:.1f}" y="{y + BAR - 3}">{_number(value)}</text>')
    parts.append("</svg>")
    # Safe: every piece of data above went through _text/_attr.
    return markupsafe.Markup("".join(parts))
