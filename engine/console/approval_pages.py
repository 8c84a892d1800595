"""二次确认: decisions waiting for an operator, a page at a time, filtered by clause and region;
approved or rejected (with one reason) singly, by the rows checked, the whole page, or every one
matching the filter.

One form carries the reason, the choice of what to act on (`target`) and the checkboxes; its
buttons say what to do: "approve" / "reject" act on the target, "approve:<id>" / "reject:<id>" on
one row. The console runs no scripts (its CSP has `script-src 'none'`), so "the whole page" and
"every one matching" are choices of that form rather than a box that ticks the others. "Every one
matching" is bounded by the newest id the operator was shown (`upto`): decisions arriving after the
page was drawn are not swept in unseen. Storage does the work and the audit (`resolve_approvals`,
one entry per decision, actor "<username> (<role>)", with the reason); a rejection without a reason
is refused before anything changes, and decisions outside the operator's regions are never touched.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from aiohttp import web

from engine import constants
from engine.console import keys, labels, security, view
from engine.console.read_model import READ_MODEL, PendingFilters, PendingPage, page_number
from engine.core.scopes import Scope
from engine.http import auth
from engine.notices import worker

#: The approved/rejected counts the page reports after a POST: plain whole numbers.
_COUNT = re.compile(r"[0-9]{1,9}")

ERRORS = {
    "nothing": "请至少勾选一条判定。",
    "reason": "驳回必须填写理由；未作任何更改。",
    "action": "未知的操作。",
    "target": "未知的处理范围。",
    "upto": "页面已过期，请刷新后再对筛选出的全部判定操作；未作任何更改。",
}
#: What the form's buttons act on: the checked rows, every row of the page, every pending decision
#: matching the filter (in the operator's regions).
TARGETS = ("checked", "page", "all")
_REGION = re.compile(r"[0-9]{2}(?:[0-9]{2}(?:[0-9]{2})?)?")
_NUMBER = re.compile(r"[0-9]{1,10}")


def _shown(text: str) -> str:
    return text if len(text) <= 30 else text[:30] + "…"


def parse_filters(values: Mapping[str, Any], scope: Scope) -> PendingFilters:
    """The clause and region filters from a query string or a form. A region that is not a 2-, 4- or
    6-digit code, or lies outside the operator's regions, is a 400 naming it."""
    clause = str(values.get("clause", "")).strip()
    region = str(values.get("region", "")).strip()
    if region and not _REGION.fullmatch(region):
        raise web.HTTPBadRequest(text=f"地区应为 2、4 或 6 位数字的地区代码，而不是“{_shown(region)}”。")
    if region and not scope.overlaps(region):
        raise web.HTTPBadRequest(text=f"地区“{labels.region_name(region) or region}”不在您可查看的地区内。")
    return PendingFilters(clause=clause, region=region)


def _whole(text: Any, default: int | None = None) -> int | None:
    """A whole number from 1 to MAX_ID out of a form field, else `default`."""
    value = str(text or "").strip()
    return int(value) if _NUMBER.fullmatch(value) and 0 < int(value) <= constants.MAX_ID else default


def _ids(values: Sequence[Any]) -> list[int]:
    # An id beyond the database's integers names no decision: left out like any other nonsense.
    return sorted({n for n in (_whole(v) for v in values) if n is not None})


def _done(query: Mapping[str, str]) -> str | None:
    """The flash message after an action (?done=approved|rejected&n=…&stale=…&all=1)."""
    if query.get("done") not in ("approved", "rejected"):
        return None
    # The counts come back from the redirect after a POST; an edited address is refused, not a 500
    # ("²".isdigit() is true, and int() of thousands of digits raises).
    counts = {key: query.get(key, "0").strip() for key in ("n", "stale")}
    if not all(_COUNT.fullmatch(text) for text in counts.values()):
        raise web.HTTPBadRequest(text=f"地址中的处理条数应为整数：{counts['n'][:30]}、{counts['stale'][:30]}。")
    verb = "批准" if query["done"] == "approved" else "驳回"
    whole = "筛选出的全部" if query.get("all") == "1" else ""
    done = f"已{verb}{whole} {int(counts['n'])} 条判定" + ("，相应通知已生成。" if query["done"] == "approved" else "。")
    if int(counts["stale"]):
        done += f"另有 {int(counts['stale'])} 条已由他人处理，未再变更。"
    return done


def _regions(counts: Mapping[str, int], chosen: str) -> list[tuple[str, str]]:
    """The region filter's choices: (code, name with its pending count), by code; the chosen region
    is kept as a choice even when nothing of it is pending any more."""
    choices = {code: f"{labels.region_name(code) or code}（{n} 条）" for code, n in counts.items()}
    if chosen and chosen not in choices:
        choices[chosen] = labels.region_name(chosen) or chosen
    return sorted(choices.items())


async def _page(request: web.Request, filters: PendingFilters, number: int, *, error: str | None = None, reason: str = "",
                checked: frozenset[int] = frozenset(), target: str = "checked", status: int = 200) -> web.Response:
    reads, scope = request.app[READ_MODEL], view.scope(request)
    page: PendingPage = await reads.pending_page(filters, number, constants.APPROVALS_PAGE_SIZE, scope=scope)
    if page.total and number > page.pages:
        # After the last rows of the last page were handled, show what is left rather than nothing.
        page = await reads.pending_page(filters, page.pages, constants.APPROVALS_PAGE_SIZE, scope=scope)
    catalogue = view.catalogue(request)
    return view.render(request, "approvals.html", {
        "page": page, "filters": filters, "params": filters.as_query(), "error": error, "reason": reason, "checked": checked,
        "target": target, "done": _done(request.query) if status == 200 else None,
        "regions": _regions(await reads.pending_regions(scope=scope), filters.region),
        "titles": {c.id: c.display_title for c in catalogue.clauses} if catalogue is not None else {},
        "clauses": list(catalogue.clauses) if catalogue is not None else [],
        "may_resolve": auth.role_allows(security.current_operator(request).role, "operator"),
    }, status=status)


@security.require("viewer")
async def approval_list(request: web.Request) -> web.Response:
    """GET /console/approvals?clause=&region=&page=: pending decisions, oldest first, a page at a time
    (viewers see them read-only)."""
    number = page_number(request.query)
    return await _page(request, parse_filters(request.query, view.scope(request)), number)


async def resolve(request: web.Request, ids: Sequence[int], approve: bool, reason: str) -> list[int]:
    """Approve or reject those of `ids` that are pending and in the operator's regions, in batches of
    APPROVAL_BATCH; storage audits each one with the operator and the reason. The ids resolved."""
    reads, store, scope = request.app[READ_MODEL], request.app[keys.STORAGE], view.scope(request)
    resolved: list[int] = []
    for start in range(0, len(ids), constants.APPROVAL_BATCH):
        # Decisions of firms outside the operator's regions are left alone and counted like ones that
        # are gone, so the answer does not tell them apart from ids that do not exist.
        allowed = sorted(await reads.in_scope(ids[start:start + constants.APPROVAL_BATCH], scope=scope))
        if allowed:
            resolved += await store.resolve_approvals(allowed, approve, view.actor(request), None if approve else reason)
    if approve and resolved and worker.DELIVERY in request.app:
        request.app[worker.DELIVERY].wake()  # the approval just created notices
    return resolved


@security.require("operator")
async def approval_resolve(request: web.Request) -> web.Response:
    """POST /console/approvals: approve or reject the chosen decisions, the page, or all matching."""
    data = await security.form(request)
    scope = view.scope(request)
    filters = parse_filters(data, scope)
    # The page only says where to come back to; a broken one brings the operator to page 1.
    number = _whole(data.get("page"), 1) or 1
    number = number if number <= constants.MAX_PAGE else 1
    reason = str(data.get("reason", "")).strip()
    action, _, single = str(data.get("action", "")).partition(":")
    target = "checked" if single else str(data.get("target", "checked"))
    upto = _whole(data.get("upto")) if target == "all" else None
    ids = (_ids([single]) if single else _ids(data.getall("page_id", [])) if target == "page"
           else _ids(data.getall("decision_id", [])))
    problem = ("action" if action not in ("approve", "reject") else "target" if target not in TARGETS
               else "reason" if action == "reject" and not reason else "upto" if target == "all" and upto is None
               else "nothing" if target != "all" and not ids else None)
    if problem is not None:
        return await _page(request, filters, number, error=ERRORS[problem], reason=reason, status=400,
                           checked=frozenset(_ids(data.getall("decision_id", []))), target=target)
    if target == "all" and upto is not None:
        ids = await request.app[READ_MODEL].pending_ids(filters, upto=upto, scope=scope)
    asked = _whole(data.get("total"), len(ids)) if target == "all" else len(ids)
    approve = action == "approve"
    resolved = await resolve(request, ids, approve, reason)
    params: dict[str, Any] = {
        **filters.as_query(), "page": number if number > 1 else None, "done": "approved" if approve else "rejected",
        "n": len(resolved), "stale": max((asked or 0) - len(resolved), 0) or None, "all": "1" if target == "all" else None,
    }
    raise web.HTTPSeeOther(view.link("/console/approvals", params))
