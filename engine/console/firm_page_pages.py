"""What firms said on their own page (engine.firm_page), for operators: the queue of objections, each
with its firm, item and reason; and revoking a firm's page links."""

from __future__ import annotations

import datetime

from aiohttp import web

from engine.console import keys, security, view

#: Objections shown in the queue (newest first): more than a bureau reads in a sitting.
QUEUE_SIZE = 200


@security.require("viewer")
async def objection_list(request: web.Request) -> web.Response:
    """GET /console/objections: firms' objections to their decisions, newest first."""
    store = request.app[keys.STORAGE]
    catalogue = view.catalogue(request)
    clauses = catalogue.by_id if catalogue is not None else {}
    names: dict[str, str] = {}
    rows = []
    for objection in await store.objections(QUEUE_SIZE, scope=view.scope(request)):
        if objection.uscc not in names:
            firm = await store.get_firm(objection.uscc)
            names[objection.uscc] = str(firm.fields.get("name") or "") if firm is not None else ""
        clause = clauses.get(objection.clause_id)
        rows.append({
            "o": objection, "firm_name": names[objection.uscc],
            "cite": clause.cite if clause is not None else objection.clause_id,
            "title": clause.display_title if clause is not None else "",
        })
    return view.render(request, "objections.html", {"rows": rows, "limit": QUEUE_SIZE})


@security.require("operator")
async def revoke_links(request: web.Request) -> web.Response:
    """POST /console/firms/{uscc}/revoke-links: every link to the firm's page sent so far stops working
    (a forwarded or leaked email); links in later notices work. Audited by the store."""
    await security.form(request)
    uscc = request.match_info["uscc"].upper()
    store = request.app[keys.STORAGE]
    if await store.get_firm(uscc) is None:
        raise view.firm_missing(uscc)
    await view.require_firm_in_scope(request, uscc)
    await store.revoke_links(uscc, view.actor(request), datetime.datetime.now(datetime.UTC))
    raise web.HTTPSeeOther(f"/console/firms/{uscc}?done=links_revoked#firm-page")
