"""二次确认: decisions waiting for an operator, approved singly or in bulk, or rejected with a reason.

One form carries the checkboxes; its buttons say what to do: "approve" / "reject" act on the
checked rows, "approve:<id>" / "reject:<id>" on one row. Storage does the work and the audit
(`resolve_approvals`, actor "<username> (<role>)"); a rejection without a reason is refused
before anything changes.
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from engine import constants
from engine.console import keys, security, view
from engine.console.read_model import READ_MODEL
from engine.http import auth
from engine.notices import worker

#: The approved/rejected counts the page reports after a POST: plain whole numbers.
_COUNT = re.compile(r"[0-9]{1,9}")

ERRORS = {
    "nothing": "请至少勾选一条判定。",
    "reason": "驳回必须填写理由；未作任何更改。",
    "action": "未知的操作。",
}


async def _page(request: web.Request, clause: str, *, error: str | None = None, reason: str = "", checked: frozenset[int] = frozenset(),
                status: int = 200) -> web.Response:
    catalogue = view.catalogue(request)
    rows = await request.app[READ_MODEL].pending_rows(clause or None, scope=view.scope(request))
    query = request.query
    done = None
    if query.get("done") in ("approved", "rejected"):
        # The counts come back from the redirect after a POST; an edited address is refused, not a 500
        # ("²".isdigit() is true, and int() of thousands of digits raises).
        counts = {key: query.get(key, "0").strip() for key in ("n", "stale")}
        if not all(_COUNT.fullmatch(text) for text in counts.values()):
            raise web.HTTPBadRequest(text=f"地址中的处理条数应为整数：{counts['n'][:30]}、{counts['stale'][:30]}。")
        verb = "批准" if query["done"] == "approved" else "驳回"
        done = f"已{verb} {int(counts['n'])} 条判定" + ("，相应通知已生成。" if query["done"] == "approved" else "。")
        if int(counts["stale"]):
            done += f"另有 {int(counts['stale'])} 条已由他人处理，未再变更。"
    return view.render(request, "approvals.html", {
        "rows": rows, "clause": clause, "error": error, "reason": reason, "checked": checked, "done": done,
        "titles": {c.id: c.display_title for c in catalogue.clauses} if catalogue is not None else {},
        "clauses": list(catalogue.clauses) if catalogue is not None else [],
        "may_resolve": auth.role_allows(security.current_operator(request).role, "operator"),
    }, status=status)


@security.require("viewer")
async def approval_list(request: web.Request) -> web.Response:
    """GET /console/approvals?clause=: pending decisions, oldest first (viewers see them read-only)."""
    return await _page(request, request.query.get("clause", "").strip())


def _ids(values: list[str]) -> list[int]:
    # An id beyond the database's integers names no decision: left out like any other nonsense.
    return sorted({int(v) for v in values if v.strip().isdigit() and int(v) <= constants.MAX_ID})


@security.require("operator")
async def approval_resolve(request: web.Request) -> web.Response:
    """POST /console/approvals: approve or reject the chosen decisions."""
    data = await security.form(request)
    clause = str(data.get("clause", "")).strip()
    reason = str(data.get("reason", "")).strip()
    action, _, single = str(data.get("action", "")).partition(":")
    ids = _ids([single]) if single else _ids([str(v) for v in data.getall("decision_id", [])])
    checked = frozenset(ids)
    problem = ("action" if action not in ("approve", "reject") else "nothing" if not ids
               else "reason" if action == "reject" and not reason else None)
    if problem is not None:
        return await _page(request, clause, error=ERRORS[problem], reason=reason, checked=checked, status=400)
    approve = action == "approve"
    # Decisions of firms outside the operator's regions are left alone and counted like ones that are
    # gone, so the answer does not tell them apart from ids that do not exist.
    allowed = sorted(await request.app[READ_MODEL].in_scope(ids, scope=view.scope(request)))
    resolved = (await request.app[keys.STORAGE].resolve_approvals(allowed, approve, view.actor(request), None if approve else reason)
                if allowed else [])
    params: dict[str, Any] = {"clause": clause, "done": "approved" if approve else "rejected", "n": len(resolved),
                              "stale": len(ids) - len(resolved) or None}
    if approve and worker.DELIVERY in request.app:
        request.app[worker.DELIVERY].wake()  # the approval just created notices
    raise web.HTTPSeeOther(view.link("/console/approvals", params))
