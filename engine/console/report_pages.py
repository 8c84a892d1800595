"""Statistics (tables and SVG charts), the audit log with the chain's verdict, and the operator's own account."""

from __future__ import annotations

from aiohttp import web

from engine.console import audit_view, charts, security, stats, view
from engine.console.read_model import READ_MODEL, AuditFilters, page_number


def _charts(title: str, rows: list[stats.StatRow]) -> dict[str, object]:
    """A matches chart and a notices chart (grouped by outcome) for one table."""
    labels = [row.short or row.label for row in rows]
    return {
        "matches": charts.bar_chart(f"{title}：符合判定数", labels, [("符合", [r.matches for r in rows])]),
        "amount": charts.bar_chart(f"{title}：金额合计（元）", labels, [("金额", [r.amount for r in rows])]),
        "notices": charts.bar_chart(f"{title}：通知发送情况", labels, [
            ("已发送", [r.sent for r in rows]), ("已送达", [r.delivered for r in rows]),
            ("失败", [r.failed for r in rows]), ("已终止", [r.dead for r in rows]),
        ]),
    }


@security.require("viewer")
async def account_page(request: web.Request) -> web.Response:
    """GET /console/account: who is logged in, with which role, seeing which regions."""
    operator = security.current_operator(request)
    return view.render(request, "account.html", {"account": operator, "scope": operator.scope})


@security.require("viewer")
async def stats_page(request: web.Request) -> web.Response:
    """GET /console/stats: per clause, document and region (city)."""
    result = await stats.collect(request.app[READ_MODEL], view.catalogue(request), view.scope(request))
    sections = [
        ("clause", "按条款", "条款", result.clauses),
        ("document", "按文件", "政策文件", result.documents),
        ("region", "按地区（地市）", "地区", result.regions),
    ]
    return view.render(request, "stats.html", {
        "sections": [{"id": key, "title": title, "column": column, "rows": rows, "charts": _charts(title, rows)}
                     for key, title, column, rows in sections],
        "total": result.total,
    })


#: Why an account limited to some regions is not shown the audit trail.
AUDIT_NEEDS_ALL = "审计日志记录全部地区的企业和操作，仅限可查看全部地区的账号查看；您的账号只能查看{regions}。"


@security.require("viewer")
async def audit_page(request: web.Request) -> web.Response:
    """GET /console/audit: entries newest first, filtered, with the whole chain's verdict on top.
    Only for accounts that see every region: entries name firms of every region in their subjects
    and payloads, and filtering them by region would hide links of the chain the page verifies."""
    scope = view.scope(request)
    if not scope.is_all:
        raise web.HTTPForbidden(text=AUDIT_NEEDS_ALL.format(regions=scope.describe()))
    reads = request.app[READ_MODEL]
    filters = AuditFilters.parse(request.query)
    page = await audit_view.entries_page(reads, filters, page_number(request.query))
    check = await audit_view.verify_chain(reads)
    if (due := audit_view.checkpoint_due(check)) is not None:
        await security.audit_action(request, due.action, due.subject_type, due.subject_id, dict(due.payload))
    return view.render(request, "audit.html", {
        "page": page, "filters": filters, "params": filters.as_query(),
        "verdict": check.verdict, "check": check, "actions": await reads.audit_actions(),
    })
