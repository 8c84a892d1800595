"""The statistics page (tables, each with its SVG charts and a CSV of it) and the tables as CSV.

Everything is limited to the operator's regions: the figures come from one scoped read
(ConsoleReadModel.stat_counts), rolled up by engine.console.stats.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from aiohttp import web

from engine.console import charts, csv_export, security, stats, view
from engine.console.read_model import READ_MODEL

#: Section id → (heading, what a row is). The order is the page's.
SECTIONS = {
    "clause": ("按条款", "条款"),
    "document": ("按政策文件", "政策文件"),
    "agency": ("按责任部门", "责任部门"),
    "city": ("按地区（地市）", "地区"),
    "county": ("按地区（区县）", "地区"),
}
MONTH = ("month", "按月份", "月份")
FUNNEL = ("funnel", "触达漏斗", "环节")
TABLES = (MONTH[0], FUNNEL[0], *SECTIONS)
#: Each table's heading, by its id.
TITLES = {MONTH[0]: MONTH[1], FUNNEL[0]: FUNNEL[1], **{key: title for key, (title, _) in SECTIONS.items()}}
NOTICE_HEADERS = tuple(heading for _, heading in stats.NOTICE_COLUMNS)


def _charts(title: str, rows: list[stats.StatRow]) -> list[Any]:
    """The matches, amounts and notices charts of one table: each picks and orders its own rows."""
    largest = stats.by_amount(rows)
    return [
        charts.bar_chart(f"{title}：符合判定数", [r.label for r in rows], [("符合", [r.matches for r in rows])]),
        charts.bar_chart(f"{title}：金额合计（元）", [r.label for r in largest], [("金额", [r.amount for r in largest])]),
        charts.bar_chart(f"{title}：通知（按当前状态）", [r.label for r in rows],
                         [(heading, [r.notices[column] for r in rows]) for column, heading in stats.NOTICE_COLUMNS], stacked=True),
    ]


def _month_charts(rows: list[stats.StatRow]) -> list[Any]:
    periods = [r.key for r in rows]
    return [
        charts.column_chart("按月份：符合判定、通知与企业确认", periods, [
            ("符合判定", [r.matches for r in rows]), ("通知合计", [r.notice_total for r in rows]),
            ("已送达", [r.notices["delivered"] for r in rows]), ("企业确认", [r.confirmed for r in rows]),
        ]),
        charts.column_chart("按月份：金额合计（元）", periods, [("金额", [r.amount for r in rows])]),
    ]


def _funnel_chart(steps: list[stats.FunnelStep]) -> Any:
    return charts.bar_chart("触达漏斗：符合 → 通知 → 送达 → 企业确认", [s.label for s in steps], [("数量", [s.count for s in steps])])


@security.require("viewer")
async def stats_page(request: web.Request) -> web.Response:
    """GET /console/stats: monthly series, the reach funnel, and per clause, document, agency and region."""
    result = await stats.collect(request.app[READ_MODEL], view.catalogue(request), view.scope(request))
    sections = [{"id": key, "title": title, "column": column, "rows": result.table(key), "charts": _charts(title, result.table(key))}
                for key, (title, column) in SECTIONS.items()]
    return view.render(request, "stats.html", {
        "months": {"id": MONTH[0], "title": MONTH[1], "rows": result.months, "charts": _month_charts(result.months)},
        "funnel": {"id": FUNNEL[0], "title": FUNNEL[1], "steps": result.funnel, "chart": _funnel_chart(result.funnel)},
        "sections": sections, "total": result.total, "columns": stats.NOTICE_COLUMNS,
    })


def _percent(value: Decimal | None) -> str:
    return "" if value is None else f"{value}"


def _money(value: Decimal) -> str:
    return f"{value:.2f}"


@security.require("viewer")
async def stats_csv(request: web.Request) -> web.Response:
    """GET /console/stats.csv?table=…: one table of the statistics page as CSV (400 naming the
    parameter for a table that does not exist)."""
    name = request.query.get("table", "").strip()
    if name not in TABLES:
        shown = name if len(name) <= 30 else name[:30] + "…"
        choices = "、".join(f"{TITLES[key]}（{key}）" for key in TABLES)
        problem = f"没有这张统计表：“{shown}”" if shown else "没有指明要导出哪张统计表"
        raise web.HTTPBadRequest(text=f"{problem}。参数 table 可为：{choices}。")
    result = await stats.collect(request.app[READ_MODEL], view.catalogue(request), view.scope(request))
    if name == FUNNEL[0]:
        return csv_export.table("stats-funnel", ("环节", "数量", "占符合判定（%）", "占上一环节（%）"),
                                [(s.label, s.count, _percent(s.of_matches), _percent(s.of_previous)) for s in result.funnel])
    if name == MONTH[0]:
        headers = ("月份", "符合判定", "金额（元）", "通知合计", *NOTICE_HEADERS, "企业确认")
        return csv_export.table("stats-month", headers, [
            (r.key, r.matches, _money(r.amount), r.notice_total, *(r.notices[c] for c, _ in stats.NOTICE_COLUMNS), r.confirmed)
            for r in result.months])
    column = SECTIONS[name][1]
    headers = (f"{column}编号" if name in ("clause", "document") else "代码" if name in ("city", "county") else "序号", column,
               "符合判定", "金额（元）", "通知合计", *NOTICE_HEADERS)
    rows = result.table(name)
    return csv_export.table(f"stats-{name}", headers, [
        (r.key if name != "agency" else index, r.label, r.matches, _money(r.amount), r.notice_total,
         *(r.notices[c] for c, _ in stats.NOTICE_COLUMNS))
        for index, r in enumerate(rows, 1)])
