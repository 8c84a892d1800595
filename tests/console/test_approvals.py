"""二次确认 in the console: pending decisions listed a page at a time (filterable by clause and region),
approved singly, by the rows checked, the whole page or all matching (which creates their notices), or
from the decision page; rejected only with a reason; by operators and up — never viewers — and only
within their regions; every one audited with the operator and the reason."""

from __future__ import annotations

import re

from engine import console, constants
from engine.console import accounts
from engine.core import matching, scopes
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


# A queue across clauses, counties and pages ---------------------------------------------------------

CLAUSES = ((helpers.CLAUSE, "qinghai-2022#(二)"), ("qinghai-2022-3", "qinghai-2022#(三)"))
EAST = [factories.uscc(n, region="630102") for n in (81, 82, 83)]  # 西宁市城东区
WEST = [factories.uscc(n, region="630104") for n in (84, 85)]  # 西宁市城西区
LATE = factories.uscc(86, region="630102")
_HIDDEN = re.compile(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)">')


class TwoClauses:
    """Met on both gated clauses once the firm has declared VAT (unknown before)."""

    def match(self, firm_profile, as_of, context):
        met = bool(firm_profile.get("tax", {}).get("vat"))
        verdict = matching.Verdict.MET if met else matching.Verdict.UNKNOWN
        return [matching.Decision(clause, cite, "v1", verdict, None, {"why": "test"}, {}, period=str(as_of.year) if met else None)
                for clause, cite in CLAUSES]


async def add_firm(store, firm: str, region: str, name: str) -> list[int]:
    """A firm met on both clauses: its two pending decisions, oldest first."""
    await seed.feed_with(store, TwoClauses(), *seed.firm_events(firm, region=region, name=name))
    return sorted(d.id for d in await store.decisions(firm) if d.approval == "pending")


async def queue(store) -> dict[str, list[int]]:
    """Both clauses gated; three firms of 城东区 and two of 城西区 met on both: ten pending decisions."""
    for clause, _ in CLAUSES:
        await store.set_clause_approval(clause, True, "admin")
    firms = {firm: await add_firm(store, firm, "630102", f"城东待审企业{n}") for n, firm in enumerate(EAST)}
    firms.update({firm: await add_firm(store, firm, "630104", f"城西待审企业{n}") for n, firm in enumerate(WEST)})
    return firms


def ids_of(firms: dict[str, list[int]], which=None) -> list[int]:
    return sorted(i for firm, ids in firms.items() if which is None or firm in which for i in ids)


async def pending(store) -> list[int]:
    return sorted(d.id for d in await store.pending_approvals())


async def audited(store, action: str) -> list[tuple[str, str, str | None]]:
    return [(e.subject_id, e.actor, e.payload["reason"]) async for e in store.audit_entries() if e.action == action]


async def post_form(client, query: str, **fields) -> object:
    """Submit the approvals form as the browser would: the page's hidden fields (filters, page, the
    rows' ids, the bound of "all matching"), then `fields` over them."""
    html = await (await client.get(PAGE + query)).text()
    data = [(k, v) for k, v in _HIDDEN.findall(html) if k not in fields]
    for key, value in fields.items():
        data += [(key, v) for v in (value if isinstance(value, list) else [value])]
    return await client.post(PAGE, data=data, allow_redirects=False)


async def test_the_queue_comes_a_page_at_a_time_with_its_count(console_client, login, store, monkeypatch):
    monkeypatch.setattr(constants, "APPROVALS_PAGE_SIZE", 4)
    firms = await queue(store)
    everything = ids_of(firms)
    await login(console_client, "wang", "viewer")
    html = await (await console_client.get(PAGE)).text()
    assert seed.decision_ids(html) == everything[:4] and "第 1 / 3 页，共 10 条" in html  # oldest first
    assert 'href="/console/approvals?page=2" rel="next"' in html
    assert seed.decision_ids(await (await console_client.get(PAGE + "?page=3")).text()) == everything[8:]
    assert seed.decision_ids(await (await console_client.get(PAGE + "?page=99")).text()) == everything[8:]  # the last page left
    one_clause = await (await console_client.get(f"{PAGE}?clause={helpers.CLAUSE}")).text()
    first_of_each = [ids[0] for ids in firms.values()]
    assert seed.decision_ids(one_clause) == first_of_each[:4] and "共 5 条" in one_clause
    assert f'href="/console/approvals?clause={helpers.CLAUSE}&amp;page=2"' in one_clause  # the filter stays on the next page
    assert seed.decision_ids(await (await console_client.get(f"{PAGE}?clause={helpers.CLAUSE}&page=2")).text()) == first_of_each[4:]


async def test_the_queue_is_filtered_by_region_chosen_by_name(console_client, login, store):
    firms = await queue(store)
    await login(console_client, "wang", "viewer")
    html = await (await console_client.get(PAGE)).text()
    assert '<option value="630102">西宁市城东区（6 条）</option>' in html and '<option value="630104">西宁市城西区（4 条）</option>' in html
    west = await (await console_client.get(f"{PAGE}?region=630104")).text()
    assert seed.decision_ids(west) == ids_of(firms, WEST) and "共 4 条" in west
    assert '<option value="630104" selected>' in west
    both = await (await console_client.get(f"{PAGE}?region=630104&clause={helpers.CLAUSE}")).text()
    assert seed.decision_ids(both) == [firms[firm][0] for firm in WEST]
    assert seed.decision_ids(await (await console_client.get(f"{PAGE}?region=6301")).text()) == ids_of(firms)
    for bad in ("abc", "6301021", "63010"):
        response = await console_client.get(f"{PAGE}?region={bad}")
        assert response.status == 400 and f"地区应为 2、4 或 6 位数字的地区代码，而不是“{bad}”" in await response.text()


async def test_the_whole_page_then_all_matching_with_one_reason(console_client, login, store, monkeypatch):
    monkeypatch.setattr(constants, "APPROVALS_PAGE_SIZE", 4)
    monkeypatch.setattr(constants, "APPROVAL_BATCH", 4)  # six decisions: two transactions
    firms = await queue(store)
    everything = ids_of(firms)
    await login(console_client, "li", "operator")
    html = await (await console_client.get(PAGE)).text()
    # The reason and the buttons come before the rows.
    assert html.index('name="reason"') < html.index("批准所选") < html.index("data-decision-id")
    assert "本页全部 4 条" in html and "筛选出的全部 10 条" in html

    response = await post_form(console_client, "?page=2", action="approve", target="page")
    location = response.headers["Location"]
    assert response.status == 303 and "page=2" in location and "n=4" in location
    assert await pending(store) == everything[:4] + everything[8:]
    assert "已批准 4 条判定" in await (await console_client.get(location)).text()

    before = [e.seq async for e in store.audit_entries()]
    refused = await post_form(console_client, "", action="reject", target="all", reason="  ")
    assert refused.status == 400 and "驳回必须填写理由" in await refused.text()
    assert len(await pending(store)) == 6 and [e.seq async for e in store.audit_entries()] == before

    # A broken page field only means coming back to page 1.
    response = await post_form(console_client, "", action="reject", target="all", reason="名单待核实", page="x")
    location = response.headers["Location"]
    assert response.status == 303 and "n=6" in location and "all=1" in location and "page=" not in location
    assert await pending(store) == []
    assert "已驳回筛选出的全部 6 条判定。" in await (await console_client.get(location)).text()
    rejected = await audited(store, "decision.rejected")
    assert sorted(rejected) == sorted((str(i), "li (operator)", "名单待核实") for i in everything[:4] + everything[8:])
    approved = await audited(store, "decision.approved")
    assert sorted(approved) == sorted((str(i), "li (operator)", None) for i in everything[4:8])


async def test_all_matching_is_what_the_page_counted(console_client, login, store):
    firms = await queue(store)
    await login(console_client, "li", "operator")
    html = await (await console_client.get(f"{PAGE}?region=630102")).text()
    fields = [(k, v) for k, v in _HIDDEN.findall(html)]
    assert ("total", "6") in fields
    late = await add_firm(store, LATE, "630102", "城东迟到企业")  # arrives after the page was drawn
    east = ids_of(firms, EAST)
    await store.resolve_approvals([east[0]], True, "zhao (admin)", None)  # someone else was quicker with one
    response = await console_client.post(PAGE, data=fields + [("action", "approve"), ("target", "all")], allow_redirects=False)
    location = response.headers["Location"]
    assert response.status == 303 and "region=630102" in location and "n=5" in location and "stale=1" in location
    assert await pending(store) == sorted(ids_of(firms, WEST) + late)
    assert "已批准筛选出的全部 5 条判定" in await (await console_client.get(location)).text()
    stale_form = [(k, v) for k, v in fields if k != "upto"] + [("upto", ""), ("action", "approve"), ("target", "all")]
    response = await console_client.post(PAGE, data=stale_form, allow_redirects=False)
    assert response.status == 400 and "页面已过期" in await response.text() and len(await pending(store)) == 6


async def test_a_county_officer_acts_on_its_county_only_by_every_path(console_client, login, store):
    firms = await queue(store)
    west = ids_of(firms, WEST)
    await accounts.create(console_client.app[console.ACCOUNTS], store, "east", console_conftest.PASSWORD, "operator",
                          actor="test", scope=scopes.parse(["630102"]))
    await console_conftest.log_in(console_client, "east", "operator")
    html = await (await console_client.get(PAGE)).text()
    assert seed.decision_ids(html) == ids_of(firms, EAST) and "城西" not in html and "630104" not in html
    response = await console_client.get(f"{PAGE}?region=630104")
    assert response.status == 400 and "地区“西宁市城西区”不在您可查看的地区内" in await response.text()

    forged = [str(i) for i in west]
    for fields in ({"decision_id": forged}, {"target": "page", "page_id": forged}, {"action": f"approve:{west[0]}"}):
        response = await post_form(console_client, "", **{"action": "approve", **fields})
        assert response.status == 303 and "n=0" in response.headers["Location"], fields
    response = await post_form(console_client, "", action="approve", target="all", region="630104", upto=str(constants.MAX_ID))
    assert response.status == 400
    for decision_id in west[:1]:
        assert (await console_client.get(f"/console/decisions/{decision_id}")).status == 404
        token = console_conftest.csrf_token(html)
        response = await console_client.post(f"/console/decisions/{decision_id}/approval",
                                             data={"csrf_token": token, "action": "reject", "reason": "越权"})
        assert response.status == 404
    assert await pending(store) == ids_of(firms)

    response = await post_form(console_client, "", action="reject", target="all", reason="核实中", upto=str(constants.MAX_ID))
    assert response.status == 303 and "n=6" in response.headers["Location"]
    assert await pending(store) == west
    assert {s for s, _, _ in await audited(store, "decision.rejected")} == {str(i) for i in ids_of(firms, EAST)}


async def test_the_decision_page_approves_and_rejects_a_pending_decision(console_client, login, store):
    pending_ids = await pending_firms(store)
    first, second = pending_ids[FIRMS[0]], pending_ids[FIRMS[1]]
    await login(console_client, "wang", "viewer")
    html = await (await console_client.get(f"/console/decisions/{first}")).text()
    assert "等待操作员批准或驳回" in html and f'action="/console/decisions/{first}/approval"' not in html
    refused = await console_client.post(f"/console/decisions/{first}/approval",
                                        data={"csrf_token": console_conftest.csrf_token(html), "action": "approve"})
    assert refused.status == 403 and len(await store.pending_approvals()) == 3

    await login(console_client, "li", "operator")
    html = await (await console_client.get(f"/console/decisions/{first}")).text()
    assert f'action="/console/decisions/{first}/approval"' in html
    token = console_conftest.csrf_token(html)
    before = [e.seq async for e in store.audit_entries() if e.action.startswith("decision.")]
    for data in ({"action": "reject", "reason": " "}, {"action": "delete"}):
        response = await console_client.post(f"/console/decisions/{first}/approval", data={"csrf_token": token, **data})
        assert response.status == 400 and "判定 #" in await response.text(), data
    assert len(await store.pending_approvals()) == 3
    assert [e.seq async for e in store.audit_entries() if e.action.startswith("decision.")] == before

    response = await console_client.post(f"/console/decisions/{first}/approval",
                                         data={"csrf_token": token, "action": "reject", "reason": "经营范围不符"}, allow_redirects=False)
    assert response.status == 303 and response.headers["Location"] == f"/console/decisions/{first}?done=rejected"
    html = await (await console_client.get(response.headers["Location"])).text()
    assert "已驳回该判定" in html and "理由：经营范围不符" in html and f'action="/console/decisions/{first}/approval"' not in html
    response = await console_client.post(f"/console/decisions/{second}/approval", data={"csrf_token": token, "action": "approve"},
                                         allow_redirects=False)
    assert response.headers["Location"] == f"/console/decisions/{second}?done=approved"
    assert await notices(store, FIRMS[1]) == ["email", "sms"] and await notices(store, FIRMS[0]) == []
    assert await audited(store, "decision.rejected") == [(str(first), "li (operator)", "经营范围不符")]
    assert await audited(store, "decision.approved") == [(str(second), "li (operator)", None)]
    again = await console_client.post(f"/console/decisions/{first}/approval", data={"csrf_token": token, "action": "approve"})
    assert "该判定已不在等待审批" in await again.text()
    assert [d.approval for d in await store.decisions(FIRMS[0]) if d.approval] == ["rejected"]
