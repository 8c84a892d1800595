"""Finding 2: a viewer read a firm's contact data in clear through `GET /api/events/{id}` (the raw
`contact.updated` body), with the event id taken from its own masked `/api/firms` answer; an
operator reading the same was not audited. The walk below visits every route the service serves,
as a viewer, with a firm whose contact details are known, and finds them nowhere."""

from __future__ import annotations

import re

from engine.core import pii
from tests import conftest
from tests.console.conftest import SQL_ONLY
from tests.notices import helpers

pytestmark = SQL_ONLY

MOBILE = "13812348000"
EMAIL = "Finance.Lead@Example.cn"
#: Every spelling of the contact details that would let someone use them.
CLEAR = re.compile(r"1381234\s*8000|finance\.lead@", re.IGNORECASE)

#: Routes a viewer is not shown anything by: the signed webhooks (they answer with an
#: acknowledgement), the unsubscribe page, reached only through the signed link in a notice, and the
#: firm's own page, which the firm's signed link opens and which shows the firm its own contact
#: details unmasked, by design (tests/firm_page/test_page.py checks no other firm's data shows there).
NOT_FOR_VIEWERS = {
    ("GET", "/my/{token}"), ("GET", "/m/{token}"), ("POST", "/my/{token}/items/{clause_id}/confirm"),
    ("POST", "/my/{token}/items/{clause_id}/object"), ("POST", "/my/{token}/preferences"),
    ("POST", "/webhooks/events"), ("POST", "/webhooks/sms-report"), ("POST", "/webhooks/sms-reply"),
    ("GET", "/unsubscribe/{token}"), ("POST", "/unsubscribe/{token}"),
    ("POST", "/console/login"), ("POST", "/console/logout"),
}


async def _seed(store):
    events = helpers.eligible_firm_events(mobile=MOBILE, email=EMAIL)
    await helpers.feed(store, *events)
    delivery, _, _ = helpers.make_worker(store)
    await delivery.run_once()
    [decision, *_] = await store.decisions(helpers.FIRM)
    notices = await store.firm_notices(helpers.FIRM)
    return {
        "uscc": helpers.FIRM, "event_id": f"{helpers.FIRM}-contact", "id": str(decision.id),
        "notice_id": notices[0].notice_id, "clause_id": decision.decision.clause_id,
    }


async def test_a_viewer_finds_the_contact_details_on_no_route(console_client, login, store):
    values = await _seed(store)
    await login(console_client, "viewer-walk", "viewer")
    headers = await conftest.bearer(store, "viewer")
    token = re.search(r'name="csrf_token" value="([^"]*)"', await (await console_client.get("/console/decisions")).text()).group(1)
    extra = {  # query forms of the list pages that find the firm
        "/console/decisions": ["", f"?q={helpers.FIRM}"], "/console/decisions.csv": ["", f"?q={helpers.FIRM}"],
        "/console/firms": ["", f"?q={helpers.FIRM}"],
    }
    walked = set()
    for route in console_client.app.router.routes():
        method, path = route.method, route.resource.canonical
        if method == "HEAD" or (method, path) in NOT_FOR_VIEWERS:
            continue
        walked.add((method, path))
        url = re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], path)
        for query in extra.get(path, [""]):
            if method == "GET":
                response = await console_client.get(url + query, headers=headers if path.startswith("/api") else None)
            elif path.startswith("/api"):
                body = {"profile": {"uscc": helpers.FIRM}} if path == "/api/match" else {}
                response = await console_client.post(url, json=body, headers=headers)
            else:
                response = await console_client.post(url, data={"csrf_token": token}, allow_redirects=False)
            text = await response.text()
            assert response.status < 500, (method, url, text)
            assert not CLEAR.search(text), (method, url + query, CLEAR.search(text).group(0))
    # The routes that do show the firm's contact data (masked) were among those walked, with answers.
    assert {("GET", "/api/events/{event_id}"), ("GET", "/api/firms/{uscc}"), ("GET", "/console/firms/{uscc}")} <= walked
    event = await (await console_client.get(f"/api/events/{values['event_id']}", headers=headers)).json()
    assert event["body"]["data"]["mobile"] == pii.mask(MOBILE, "mobile")
    assert event["body"]["data"]["email"] == pii.mask(EMAIL, "email")
    assert not [e async for e in store.audit_entries() if e.action == "pii.viewed"]  # viewers see nothing in clear


async def test_an_operator_reading_an_event_in_clear_is_audited(console_client, store):
    values = await _seed(store)
    headers = await conftest.bearer(store, "operator")
    event = await (await console_client.get(f"/api/events/{values['event_id']}", headers=headers)).json()
    assert event["body"]["data"]["mobile"] == MOBILE
    [entry] = [e async for e in store.audit_entries() if e.action == "pii.viewed"]
    assert entry.subject_type == "event" and entry.subject_id == values["event_id"]
    assert entry.actor.startswith("api token #") and entry.actor.endswith("(operator)")
    assert entry.payload == {"fields": ["email", "mobile"], "via": "GET /api/events"}
    # An event without contact data is read without an audit entry.
    await (await console_client.get(f"/api/events/{helpers.FIRM}-vat", headers=headers)).read()
    assert len([e async for e in store.audit_entries() if e.action == "pii.viewed"]) == 1
