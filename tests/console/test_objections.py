"""Firms' answers from their own page, as operators see them: the objection queue (viewer), the answers on
the decision and firm pages, and revoking a firm's page links (operator, audited)."""

from __future__ import annotations

import datetime

from tests.console import conftest as console_conftest
from tests.firm_page import seed

pytestmark = console_conftest.SQL_ONLY

NOW = datetime.datetime(2026, 12, 1, 8, 0, tzinfo=datetime.UTC)
REASON = "我单位并非小微企业，不应享受此项政策"


async def _answered(store, production_matcher) -> int:
    await seed.two_firms(store, production_matcher)
    decision_id = await seed.decision_id(store, seed.APPLY)
    await store.record_response(seed.RENTER, seed.APPLY, decision_id, "object", REASON, NOW)
    grant_id = await seed.decision_id(store, seed.GRANT)
    await store.record_response(seed.RENTER, seed.GRANT, grant_id, "confirm", None, NOW)
    return decision_id


async def test_a_viewer_reads_the_objection_queue_with_firm_item_and_reason(console_client, login, store, production_matcher):
    decision_id = await _answered(store, production_matcher)
    await login(console_client, "wang", "viewer")
    response = await console_client.get("/console/objections")
    page = await response.text()
    assert response.status == 200
    assert seed.RENTER_NAME in page and seed.RENTER in page
    assert "yunnan-2022#一(三)" in page and "融资便利专项行动" in page
    assert REASON in page and f"/console/decisions/{decision_id}#firm-responses" in page
    assert "2026-12-01 16:00" in page  # China time
    assert page.count("<tr data-decision-id=") == 1  # the confirmation is no objection


async def test_answers_show_on_the_decision_and_the_firm_page(console_client, login, store, production_matcher):
    decision_id = await _answered(store, production_matcher)
    await login(console_client, "wang", "viewer")
    decision = await (await console_client.get(f"/console/decisions/{decision_id}")).text()
    assert "企业反馈" in decision and "有异议" in decision and REASON in decision
    grant = await (await console_client.get(f"/console/decisions/{await seed.decision_id(store, seed.GRANT)}")).text()
    assert '<tr class="response confirm">' in grant
    firm = await (await console_client.get(f"/console/firms/{seed.RENTER}")).text()
    assert "我的政策页面" in firm and REASON in firm and "确认" in firm
    assert "停用已发出" not in firm  # a viewer may not revoke


async def test_an_operator_revokes_a_firms_links_and_it_is_audited(console_client, login, store, production_matcher):
    await seed.two_firms(store, production_matcher)
    await login(console_client, "qian", "operator")
    firm = await (await console_client.get(f"/console/firms/{seed.RENTER}")).text()
    assert "停用已发出" in firm
    response = await console_client.post(f"/console/firms/{seed.RENTER}/revoke-links",
                                         data={"csrf_token": console_conftest.csrf_token(firm)}, allow_redirects=False)
    assert response.status == 303
    assert await store.links_revoked_before(seed.RENTER) is not None
    entries = [e async for e in store.audit_entries() if e.action == "firm.links_revoked"]
    assert [(e.actor, e.subject_id) for e in entries] == [("qian (operator)", seed.RENTER)]
    page = await (await console_client.get(response.headers["Location"])).text()
    assert "已停用此前发给该企业的全部" in page
    forged = await console_client.post(f"/console/firms/{seed.RENTER}/revoke-links", data={}, allow_redirects=False)
    assert forged.status == 403
