"""Firm search and the firm page: its current profile and its timeline, newest first.

The timeline puts the four kinds of record on one axis, the time the service recorded them:
an event when it was received, a profile change when the event was folded, a decision and a
notice when they were created. Within one instant the causal order breaks ties (event → profile
change → decision → notice), so newest-first reads the chain backwards from its outcome.
"""

from __future__ import annotations

import dataclasses
import datetime
from typing import Any

from aiohttp import web

from engine.console import keys, security, view
from engine.console.read_model import READ_MODEL, page_number
from engine.core import pii
from engine.http import auth

#: Profile fields that hold personal data, and how each is masked (shared with the API).
PII_FIELDS = pii.PII_FIELDS
_RANK = {"event": 0, "profile": 1, "decision": 2, "notice": 3}


@dataclasses.dataclass(frozen=True)
class Entry:
    """One line of the firm timeline."""

    kind: str
    at: datetime.datetime
    title: str
    detail: Any
    link: str | None = None
    anchor: str | None = None
    order: int = 0

    @property
    def key(self) -> tuple[datetime.datetime, int, int]:
        return (self.at, _RANK[self.kind], self.order)


@security.require("viewer")
async def firm_list(request: web.Request) -> web.Response:
    """GET /console/firms?q=: firms by USCC or name."""
    text = request.query.get("q", "").strip()
    page = await request.app[READ_MODEL].search_firms(text, page_number(request.query), scope=view.scope(request))
    return view.render(request, "firms.html", {"page": page, "q": text, "params": {"q": text} if text else {}})


def _changes(history: list[Any]) -> list[Entry]:
    """Provenance rows grouped per event: one "profile change" entry for each event's assignments."""
    groups: dict[str, list[Any]] = {}
    for assignment in history:
        groups.setdefault(assignment.event_id, []).append(assignment)
    entries = []
    for order, (event_id, rows) in enumerate(groups.items()):
        fields = [(a.field, a.value, PII_FIELDS.get(a.field)) for a in rows]
        entries.append(Entry("profile", max(a.recorded_at for a in rows), f"{len(fields)} 个字段", fields,
                             anchor=f"profile-{event_id}", order=order))
    return entries


async def timeline(store: Any, uscc: str) -> list[Entry]:
    """Every event, profile change, decision and notice of the firm, newest first."""
    entries = [
        Entry("event", e.received_at, e.type, e, anchor=f"event-{e.event_id}", order=e.seq) for e in await store.firm_events(uscc)
    ]
    entries += _changes(await store.field_history(uscc))
    entries += [
        Entry("decision", d.created_at, d.decision.cite, d, link=f"/console/decisions/{d.id}", order=d.id)
        for d in await store.decisions(uscc)
    ]
    entries += [
        Entry("notice", n.created_at, n.channel, n, link=f"/console/decisions/{n.decision_id}#notices", order=i)
        for i, n in enumerate(await store.firm_notices(uscc))
    ]
    return sorted(entries, key=lambda e: e.key, reverse=True)


@security.require("viewer")
async def firm_detail(request: web.Request) -> web.Response:
    """GET /console/firms/{uscc}: the current profile (contact data masked per role) and the timeline."""
    store = request.app[keys.STORAGE]
    uscc = request.match_info["uscc"].upper()
    firm = await store.get_firm(uscc)
    if firm is None:
        raise view.firm_missing(uscc)
    await view.require_firm_in_scope(request, uscc)
    entries = await timeline(store, uscc)
    shown = {name for name in PII_FIELDS if firm.fields.get(name)}
    shown |= {field for e in entries if e.kind == "profile" for field, value, kind in e.detail if kind and value}
    if shown:
        await security.record_unmasked_view(request, "firm", uscc, sorted(shown))
    profile = [(name, firm.fields[name], PII_FIELDS.get(name)) for name in sorted(firm.fields)]
    return view.render(request, "firm.html", {
        "firm": firm, "name": firm.fields.get("name"), "region": await request.app[READ_MODEL].firm_region(uscc),
        "profile": profile, "entries": entries, "opt_outs": await store.opt_outs(uscc),
        "responses": await store.firm_responses(uscc), "sms_preference": await store.sms_preference(uscc),
        "links_revoked_before": await store.links_revoked_before(uscc),
        "may_revoke": auth.role_allows(security.current_operator(request).role, "operator"),
        "done": "已停用此前发给该企业的全部“我的政策”链接；之后的通知将带有新链接。"
        if request.query.get("done") == "links_revoked" else None,
    })
