"""The audit log with the chain's verdict, and the operator's own account."""

from __future__ import annotations

from aiohttp import web

from engine.console import audit_view, security, view
from engine.console.read_model import READ_MODEL, AuditFilters, page_number


@security.require("viewer")
async def account_page(request: web.Request) -> web.Response:
    """GET /console/account: who is logged in, with which role, seeing which regions."""
    operator = security.current_operator(request)
    return view.render(request, "account.html", {"account": operator, "scope": operator.scope})


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
