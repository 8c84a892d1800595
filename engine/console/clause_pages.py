"""The clause list and the clause page: text, citation, rule, matches, notices and the 二次确认 gate."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from engine.console import keys, labels, security, view
from engine.console.read_model import READ_MODEL, PendingFilters
from engine.http import auth

MESSAGES = {"gate_on": "已开启二次确认：此后新的“符合”判定须操作员审批后才发送通知。",
            "gate_off": "已关闭二次确认：此后新的“符合”判定将直接发送通知（已在等待审批的判定仍需处理）。"}


@security.require("viewer")
async def clause_list(request: web.Request) -> web.Response:
    """GET /console/clauses?document=&q=: every clause of the catalogue with its counts and gate."""
    store, reads = request.app[keys.STORAGE], request.app[READ_MODEL]
    catalogue = view.catalogue(request)
    document = request.query.get("document", "").strip()
    text = request.query.get("q", "").strip()
    scope = view.scope(request)
    decisions, notices = await reads.clause_decision_counts(scope=scope), await reads.clause_notice_counts(scope=scope)
    gates = await store.clause_settings()
    known = list(catalogue.clauses) if catalogue is not None else []
    ids = [c.id for c in known] + sorted(set(decisions) - {c.id for c in known})
    by_id = {c.id: c for c in known}
    rows = []
    for clause_id in ids:
        clause = by_id.get(clause_id)
        if document and (clause is None or clause.slug != document):
            continue
        if text and text not in clause_id and (clause is None or not _mentions(clause, text)):
            continue
        rows.append({"id": clause_id, "clause": clause, "decisions": decisions.get(clause_id, {}),
                     "notices": sum(notices.get(clause_id, {}).values()), "gated": gates.get(clause_id, False)})
    return view.render(request, "clauses.html", {
        "rows": rows, "document": document, "q": text,
        "documents": list(catalogue.documents) if catalogue is not None else [],
    })


def _mentions(clause: Any, text: str) -> bool:
    # The title as the page shows it (normalised), and as the rule file writes it.
    return any(text in words for words in (clause.display_title, clause.title, clause.cite))


def _document(catalogue: Any, slug: str) -> Any:
    return next((d for d in catalogue.documents if d.slug == slug), None) if catalogue is not None else None


@security.require("viewer")
async def clause_detail(request: web.Request) -> web.Response:
    """GET /console/clauses/{clause_id}."""
    store, reads = request.app[keys.STORAGE], request.app[READ_MODEL]
    clause_id = request.match_info["clause_id"]
    catalogue = view.catalogue(request)
    clause = catalogue.by_id.get(clause_id) if catalogue is not None else None
    scope = view.scope(request)
    decisions = (await reads.clause_decision_counts(clause_id, scope=scope)).get(clause_id, {})
    if clause is None and not decisions:
        raise view.not_found(f"规则目录中没有条款 {clause_id}。")
    notices = (await reads.clause_notice_counts(clause_id, scope=scope)).get(clause_id, {})
    return view.render(request, "clause.html", {
        "clause_id": clause_id, "clause": clause, "document": _document(catalogue, clause.slug) if clause else None,
        "decisions": decisions, "notices": notices, "recent": await reads.recent_decisions(clause_id, scope=scope),
        "gated": (await store.clause_settings()).get(clause_id, False),
        "pending": (await reads.pending_page(PendingFilters(clause=clause_id), 1, 1, scope=scope)).total,
        "is_admin": auth.role_allows(security.current_operator(request).role, "admin"),
        "done": MESSAGES.get(request.query.get("done", "")),
        "verdicts": labels.VERDICT,
    })


@security.require("admin")
async def clause_gate(request: web.Request) -> web.Response:
    """POST /console/clauses/{clause_id}/approval: an admin turns 二次确认 on or off (audited by storage)."""
    data = await security.form(request)
    clause_id = request.match_info["clause_id"]
    catalogue = view.catalogue(request)
    if catalogue is None or clause_id not in catalogue.by_id:
        raise view.not_found(f"规则目录中没有条款 {clause_id}。")
    needs = data.get("needs_approval") == "1"
    await request.app[keys.STORAGE].set_clause_approval(clause_id, needs, view.actor(request))
    raise web.HTTPSeeOther(f"/console/clauses/{clause_id}?done={'gate_on' if needs else 'gate_off'}")
