"""二次确认 in the console: pending decisions listed (filterable by clause), approved singly or in bulk
(which creates their notices), rejected only with a reason, by operators and up — never viewers."""

from __future__ import annotations

from tests import factories
from tests.console import conftest as console_conftest
from tests.console import seed
from tests.notices import helpers

pytestmark = console_conftest.SQL_ONLY

PAGE = "/console/approvals"
FIRMS = [factories.uscc(n, region="630102") for n in (71, 72, 73)]


async def pending_firms(store) -> dict[str, int]:
    """Gate qinghai-2022-2, then make three firms `met` on it: three decisions wait for approval."""
    await store.set_clause_approval(helpers.CLAUSE, True, "admin")
    for n, firm in enumerate(FIRMS):
        await helpers.feed(store, *seed.firm_events(firm, region="630102", name=f"待审企业{n}"))
    return {d.uscc: d.id for d in await store.pending_approvals()}


async def submit(client, data: dict, *, query: str = "") -> object:
    html = await (await client.get(PAGE + query)).text()
    return await client.post(PAGE, data={**data, "csrf_token": console_conftest.csrf_token(html)}, allow_redirects=False)


async def notices(store, firm: str) -> list[str]:
    return sorted(n.channel for n in await store.firm_notices(firm))


async def test_pending_decisions_are_listed_and_filtered_by_clause(console_client, login, store):
    pending = await pending_firms(store)
    await login(console_client, "li", "operator")
    html = await (await console_client.get(PAGE)).text()
    assert set(seed.decision_ids(html)) == set(pending.values()) and 'name="decision_id"' in html
    assert [await notices(store, firm) for firm in FIRMS] == [[], [], []]  # nothing is sent while they wait
    assert seed.decision_ids(await (await console_client.get(f"{PAGE}?clause={helpers.CLAUSE}")).text()) == sorted(pending.values())
    assert seed.decision_ids(await (await console_client.get(f"{PAGE}?clause=qinghai-2022-3")).text()) == []
    assert set(seed.decision_ids(await (await console_client.get("/console/decisions?approval=pending")).text())) == set(pending.values())


async def test_approve_one_then_the_rest_in_bulk_creates_their_notices(console_client, login, store):
    pending = await pending_firms(store)
    await login(console_client, "li", "operator")
    first = pending[FIRMS[0]]
    response = await submit(console_client, {"action": f"approve:{first}", "decision_id": str(pending[FIRMS[1]])})
    assert response.status == 303 and "done=approved" in response.headers["Location"] and "n=1" in response.headers["Location"]
    assert await notices(store, FIRMS[0]) == ["email", "sms"] and await notices(store, FIRMS[1]) == []  # the row's button only
    assert "已批准 1 条判定" in await (await console_client.get(response.headers["Location"])).text()

    rest = [pending[FIRMS[1]], pending[FIRMS[2]]]
    response = await submit(console_client, {"action": "approve", "decision_id": [str(i) for i in rest]})
    assert response.status == 303 and "n=2" in response.headers["Location"]
    assert [await notices(store, firm) for firm in FIRMS] == [["email", "sms"]] * 3
    assert await store.pending_approvals() == []
    states = {d.uscc: d.approval for firm in FIRMS for d in await store.decisions(firm) if d.approval}
    assert states == {firm: "approved" for firm in FIRMS}
    approved = [(e.actor, e.subject_id) async for e in store.audit_entries() if e.action == "decision.approved"]
    assert sorted(approved) == sorted(("li (operator)", str(i)) for i in pending.values())
    # Approving again changes nothing and says so.
    response = await submit(console_client, {"action": "approve", "decision_id": [str(first)]})
    assert "n=0" in response.headers["Location"] and "stale=1" in response.headers["Location"]
    assert "另有 1 条已由他人处理" in await (await console_client.get(response.headers["Location"])).text()


async def test_a_rejection_needs_a_reason_and_without_one_nothing_changes(console_client, login, store):
    pending = await pending_firms(store)
    await login(console_client, "zhao", "admin")
    chosen = [str(pending[FIRMS[0]]), str(pending[FIRMS[1]])]
    before = [e.seq async for e in store.audit_entries()]
    for blank in ("", "   "):
        response = await submit(console_client, {"action": "reject", "decision_id": chosen, "reason": blank})
        html = await response.text()
        assert response.status == 400 and "驳回必须填写理由" in html
        assert 'value="{}" aria-label="选择判定 {}" checked'.format(chosen[0], chosen[0]) in html  # the choice is kept
    assert len(await store.pending_approvals()) == 3 and [e.seq async for e in store.audit_entries()] == before
    nothing = await submit(console_client, {"action": "approve"})
    assert nothing.status == 400 and "请至少勾选一条判定" in await nothing.text()

    response = await submit(console_client, {"action": "reject", "decision_id": chosen, "reason": "名单待核实"})
    assert response.status == 303 and "done=rejected" in response.headers["Location"]
    assert [d.id for d in await store.pending_approvals()] == [pending[FIRMS[2]]]
    assert await notices(store, FIRMS[0]) == [] and await notices(store, FIRMS[1]) == []
    rejected = [(e.actor, e.payload["reason"]) async for e in store.audit_entries() if e.action == "decision.rejected"]
    assert rejected == [("zhao (admin)", "名单待核实")] * 2
    response = await submit(console_client, {"action": f"reject:{pending[FIRMS[2]]}", "reason": "重复"})
    assert response.status == 303 and await store.pending_approvals() == []


async def test_viewers_see_the_list_but_may_not_approve(console_client, login, store):
    pending = await pending_firms(store)
    await login(console_client, "wang", "viewer")
    html = await (await console_client.get(PAGE)).text()
    assert set(seed.decision_ids(html)) == set(pending.values())
    assert 'name="decision_id"' not in html and "批准所选" not in html
    response = await submit(console_client, {"action": "approve", "decision_id": [str(i) for i in pending.values()]})
    assert response.status == 403 and len(await store.pending_approvals()) == 3
    await login(console_client, "li", "operator")
    forged = await console_client.post(PAGE, data={"action": "approve", "decision_id": str(pending[FIRMS[0]]), "csrf_token": "x"}, allow_redirects=False)
    assert forged.status == 403 and len(await store.pending_approvals()) == 3
