"""The match log (list and CSV export), the decision detail, and requeuing a notice from it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from engine import constants
from engine.console import approval_pages, csv_export, keys, labels, read_model, redact, security, view
from engine.console.read_model import READ_MODEL, DecisionFilters, page_number
from engine.core import notice_status
from engine.http import auth
from engine.notices import operator_actions, worker

#: ?done= / ?error= codes after a redirect, and what they tell the operator.
MESSAGES = {
    "requeued": "通知已重新排队，将尽快发送。",
    "not_retryable": "该通知当前状态不可重发（只有“已终止”或“未送达”的通知可以重发）。",
    "released": "通知已放行，将尽快发送；通知中会写明政策期限已经结束。",
    "not_releasable": "该通知当前状态不可放行（只有“已暂缓”的通知可以放行）。",
    "approved": "已批准该判定，相应通知已生成。",
    "rejected": "已驳回该判定。",
    "approval_stale": "该判定已不在等待审批（已由他人处理），未再变更。",
}
#: Explanation keys the detail page lays out itself; any other key is listed as it is.
EXPLAINED = ("status", "conditions", "jurisdiction", "validity", "amount", "missing", "needs", "basis")


def _filters(request: web.Request) -> tuple[DecisionFilters, list[str]]:
    return DecisionFilters.parse(request.query)


def _choices(request: web.Request) -> dict[str, Any]:
    """The filter form's drop-downs (documents and clauses from the catalogue)."""
    catalogue = view.catalogue(request)
    return {
        "documents": list(catalogue.documents) if catalogue is not None else [],
        "clauses": list(catalogue.clauses) if catalogue is not None else [],
        "verdicts": labels.VERDICT, "modes": labels.MODE, "approvals": labels.APPROVAL_FILTER,
    }


@security.require("viewer")
async def decision_list(request: web.Request) -> web.Response:
    """GET /console/decisions: the filtered, paginated match log, newest first."""
    filters, errors = _filters(request)
    catalogue = view.catalogue(request)
    page = await request.app[READ_MODEL].decision_page(filters.for_catalogue(catalogue), page_number(request.query), scope=view.scope(request))
    titles = {c.id: c.display_title for c in catalogue.clauses} if catalogue is not None else {}
    return view.render(request, "decisions.html", {
        "page": page, "filters": filters, "params": filters.as_query(), "errors": errors, "titles": titles, **_choices(request),
    })


@security.require("viewer")
async def decision_csv(request: web.Request) -> web.StreamResponse:
    """GET /console/decisions.csv: the same filtered set, streamed (see engine.console.csv_export)."""
    filters, _ = _filters(request)
    catalogue = view.catalogue(request)
    unmasked = security.can_see_pii(request)
    if unmasked:
        await security.record_unmasked_view(request, "export", "decisions.csv", ["contact.mobile", "contact.email"])
    batches = request.app[READ_MODEL].decision_batches(filters.for_catalogue(catalogue), read_model.CSV_BATCH, scope=view.scope(request))
    return await csv_export.stream(request, batches, catalogue, unmasked=unmasked)


def _decision_id(request: web.Request) -> int:
    try:
        decision_id = int(request.match_info["id"])
    except ValueError:
        raise view.not_found("没有这条判定记录。") from None
    if not 0 < decision_id <= constants.MAX_ID:  # no row has such an id; the database could not even compare it
        raise view.not_found("没有这条判定记录。")
    return decision_id


async def _notices(request: web.Request, decision_id: int, unmasked: bool) -> tuple[list[dict[str, Any]], list[str]]:
    """The decision's notices with their timelines, and which PII fields they show."""
    store = request.app[keys.STORAGE]
    shown: set[str] = set()
    notices = []
    for notice_id in await request.app[READ_MODEL].decision_notice_ids(decision_id):
        notice = await store.get_notice(notice_id)
        # A notice that went out in a digest shares its message, kept on the digest's first notice.
        digest = await store.digest_notices(notice.digest_id) if notice.digest_id is not None else [notice]
        message = notice.message or next((n.message for n in digest if n.message is not None), None) or {}
        recipient = message.get("phone" if notice.channel == "sms" else "to")
        if recipient:
            shown.add("contact.mobile" if notice.channel == "sms" else "contact.email")
        attempts = []
        for attempt in await store.notice_attempts(notice_id):
            raw = redact.show(attempt.response, True)
            if redact.has_pii(raw):
                shown.add("provider.response")
            attempts.append({"at": attempt.at, "kind": attempt.kind, "outcome": attempt.outcome, "status": attempt.status_after.value,
                             "provider_id": attempt.provider_id, "reason": attempt.reason, "response": redact.show(attempt.response, unmasked)})
        notices.append({"notice": notice, "recipient": recipient, "attempts": attempts, "digest_size": len(digest),
                        "retryable": notice.status in notice_status.RETRYABLE_BY_OPERATOR,
                        "releasable": notice.status in notice_status.RELEASABLE_BY_OPERATOR})
    return notices, sorted(shown)


@security.require("viewer")
async def decision_detail(request: web.Request) -> web.Response:
    """GET /console/decisions/{id}: facts, rule, explanation, amount, the events behind it, its notices."""
    return await _detail_page(request, await _decision_in_scope(request))


async def _decision_in_scope(request: web.Request) -> read_model.DecisionDetail:
    """The decision the path names, or 404 — also for one of a firm outside the operator's regions."""
    row = await request.app[READ_MODEL].decision_detail(_decision_id(request), scope=view.scope(request))
    if row is None:
        raise view.not_found("没有这条判定记录。")
    return row


async def _detail_page(request: web.Request, row: read_model.DecisionDetail, *, error: str | None = None, reason: str = "",
                       status: int = 200) -> web.Response:
    store = request.app[keys.STORAGE]
    decision_id = row.id
    catalogue = view.catalogue(request)
    clause = catalogue.by_id.get(row.clause_id) if catalogue is not None else None
    event = await store.get_event(row.event_id) if row.event_id else None
    # The firm's events up to the one that led to this decision (arrival order), or up to its recording.
    events = [e for e in await store.firm_events(row.uscc)
              if (e.seq <= event.seq if event is not None else e.received_at <= row.created_at)]
    unmasked = security.can_see_pii(request)
    notices, shown = await _notices(request, decision_id, unmasked)
    if unmasked and shown:
        await security.record_unmasked_view(request, "decision", str(decision_id), shown)
    explanation = row.explanation or {}
    return view.render(request, "decision.html", {
        "d": row, "clause": clause, "event": event, "events": events, "notices": notices,
        "explanation": explanation, "other": {k: v for k, v in explanation.items() if k not in EXPLAINED},
        "done": MESSAGES.get(request.query.get("done", "")) if status == 200 else None,
        "error": error or MESSAGES.get(request.query.get("error", "")), "reason": reason,
        "may_retry": auth.role_allows(security.current_operator(request).role, "operator"),
        "responses": [r for r in await store.firm_responses(row.uscc) if r.decision_id == decision_id],
    }, status=status)


@security.require("operator")
async def decision_approval(request: web.Request) -> web.Response:
    """POST /console/decisions/{id}/approval: approve or reject (with a reason) this decision while it
    waits for 二次确认; audited by storage like an approval from the list."""
    data = await security.form(request)
    row = await _decision_in_scope(request)
    action, reason = str(data.get("action", "")), str(data.get("reason", "")).strip()
    problem = ("action" if action not in ("approve", "reject") else "reason" if action == "reject" and not reason else None)
    if problem is not None:
        return await _detail_page(request, row, error=approval_pages.ERRORS[problem], reason=reason, status=400)
    resolved = await approval_pages.resolve(request, [row.id], action == "approve", reason)
    done = ("approved" if action == "approve" else "rejected") if resolved else "approval_stale"
    raise web.HTTPSeeOther(f"/console/decisions/{row.id}?done={done}")


@security.require("operator")
async def notice_retry(request: web.Request) -> web.Response:
    """POST /console/notices/{notice_id}/retry: requeue a dead or undelivered notice (audited)."""
    return await _operator_action(request, operator_actions.requeue, "notice.requeued", "requeued", "not_retryable")


@security.require("operator")
async def notice_release(request: web.Request) -> web.Response:
    """POST /console/notices/{notice_id}/release: send a held notice (audited)."""
    return await _operator_action(request, operator_actions.release, "notice.released", "released", "not_releasable")


async def _operator_action(
    request: web.Request, action: Callable[[Any, str, str], Awaitable[Any]], audited: str, done: str, refused: str
) -> web.Response:
    await security.form(request)
    store = request.app[keys.STORAGE]
    notice_id = request.match_info["notice_id"]
    notice = await store.get_notice(notice_id)
    # A notice of a firm outside the operator's regions is as absent as one that does not exist.
    if notice is None:
        raise view.not_found("没有这条通知。")
    own = view.scope(request)
    if not own.is_all and not own.covers(await request.app[READ_MODEL].firm_region(notice.uscc)):
        raise view.not_found("没有这条通知。")
    target = f"/console/decisions/{notice.decision_id}"
    try:
        await action(store, notice_id, view.actor(request))
    except notice_status.IllegalTransition:
        raise web.HTTPSeeOther(f"{target}?error={refused}#notices") from None
    await security.audit_action(request, audited, "notice", notice_id,
                                {"decision_id": notice.decision_id, "uscc": notice.uscc, "from": notice.status.value})
    if worker.DELIVERY in request.app:
        request.app[worker.DELIVERY].wake()
    raise web.HTTPSeeOther(f"{target}?done={done}#notices")
