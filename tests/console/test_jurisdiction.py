"""Jurisdiction-scoped accounts: every console route × every kind of scope, against the running app on
SQLite and PostgreSQL. An account sees exactly the firms of its regions — in lists, page counts,
filters, CSV, detail pages, clause counts, statistics, 待审批 and 企业异议 — and a firm, decision or
notice of another region answers like one that does not exist."""

from __future__ import annotations

import csv
import datetime
import io
import re

import pytest
import sqlalchemy as sa

from connectors import sql_models as models
from engine import console
from engine.console import accounts
from engine.core import scopes
from tests import factories
from tests.console import conftest as console_conftest
from tests.console import seed
from tests.notices import helpers

pytestmark = console_conftest.SQL_ONLY

NOW = datetime.datetime(2026, 12, 1, 8, 0, tzinfo=datetime.UTC)
#: Three firms: two counties of 西宁市 (青海) and one of 昆明市 (云南).
EAST, WEST = helpers.FIRM, seed.OTHER  # 630102 城东区, 630104 城西区
SOUTH = factories.uscc(93, region="530102")  # 五华区
SOUTH_NAME = "昆明五华测试科技有限公司"
NAMES = {EAST: "阳泉市城区示例商贸有限公司", WEST: seed.OTHER_NAME, SOUTH: SOUTH_NAME}
CLAUSE = "qinghai-2022-2"

#: Scope (as typed) → the firms it sees.
SCOPES = {
    ("630102",): {EAST},
    ("630104",): {WEST},
    ("6301",): {EAST, WEST},
    ("630102", "530102"): {EAST, SOUTH},
    ("53",): {SOUTH},
    ("all",): {EAST, WEST, SOUTH},
}

_COUNT = re.compile(r"共 (\d+) 条")
_FIRM_LINK = re.compile(r'href="/console/firms/([0-9A-Z]{18})"')


async def seeded(store) -> dict[str, list]:
    """Three firms, each with decisions (unknown, then met), notices and an objection; the met ones
    are then put back to 待审批 so that the approval queue holds decisions of every firm."""
    await seed.two_firms(store)
    await helpers.feed(store, *seed.firm_events(SOUTH, region="530102", name=SOUTH_NAME, mobile="13700137000", email="km@example.cn"))
    await helpers.make_worker(store)[0].run_once()
    decisions = {firm: await store.decisions(firm) for firm in NAMES}
    for firm, stored in decisions.items():
        met = [d for d in stored if d.decision.status.value == "met"][-1]
        await store.record_response(firm, CLAUSE, met.id, "object", f"{NAMES[firm]}的异议", NOW)
    async with store.write() as connection:
        await connection.execute(sa.update(models.Decision.__table__).where(models.Decision.__table__.c.status == "met").values(approval="pending"))
    return decisions


async def get(client, path: str) -> tuple[int, str]:
    response = await client.get(path, allow_redirects=False)
    return response.status, await response.text()


def count(html: str) -> int:
    found = _COUNT.search(html)
    assert found, "no 共 N 条 on the page"
    return int(found.group(1))


def clause_row(html: str) -> list[int]:
    """The clause list's numbers for CLAUSE: met, decisions, notices."""
    row = re.search(rf'<a href="/console/clauses/{CLAUSE}">.*?</tr>', html, re.S)
    assert row, "no row for the clause"
    return [int(n) for n in re.findall(r'<td class="num">(\d+)</td>', row.group(0))]


async def test_every_route_shows_only_the_firms_of_the_accounts_regions(console_client, store):
    decisions = await seeded(store)
    notices = {firm: await store.firm_notices(firm) for firm in NAMES}
    client = console_client
    for typed, visible in SCOPES.items():
        scope, hidden = scopes.parse(typed), set(NAMES) - visible
        username = "op" + "-".join(typed)
        await accounts.create(client.app[console.ACCOUNTS], store, username, console_conftest.PASSWORD, "operator",
                              actor="test", scope=scope)
        await console_conftest.log_in(client, username, "operator")
        seen = {firm: decisions[firm] for firm in visible}
        ids = {d.id for stored in seen.values() for d in stored}
        met = {d.id for stored in seen.values() for d in stored if d.decision.status.value == "met"}
        pages: dict[str, str] = {}

        status, html = await get(client, "/console/decisions")
        assert status == 200 and set(seed.decision_ids(html)) == ids and count(html) == len(ids), typed
        pages["decisions"] = html
        status, html = await get(client, "/console/decisions?region=63")  # a filter narrows within the scope, never widens it
        assert set(seed.decision_ids(html)) == {d.id for f in visible & {EAST, WEST} for d in decisions[f]}, typed
        status, html = await get(client, "/console/decisions?status=met")
        assert set(seed.decision_ids(html)) == met and count(html) == len(met), typed

        response = await client.get("/console/decisions.csv")
        body = (await response.read()).decode("utf-8-sig")
        lines = list(csv.DictReader(io.StringIO(body)))
        assert response.status == 200 and {int(line["记录编号"]) for line in lines} == ids, typed
        pages["csv"] = body

        status, html = await get(client, "/console/firms")
        assert status == 200 and set(_FIRM_LINK.findall(html)) == visible and count(html) == len(visible), typed
        pages["firms"] = html
        for firm in hidden:
            status, html = await get(client, f"/console/firms?q={NAMES[firm][:4]}")
            assert firm not in set(_FIRM_LINK.findall(html)), typed

        status, html = await get(client, "/console/clauses")
        assert status == 200 and clause_row(html) == [len(met), len(ids), sum(len(notices[f]) for f in visible)], typed
        pages["clauses"] = html
        status, html = await get(client, f"/console/clauses/{CLAUSE}")
        assert status == 200 and set(seed.decision_ids(html)) == ids, typed
        assert (f"{len(met)} 条待审批" in html) == bool(met), typed
        pages["clause"] = html

        status, html = await get(client, "/console/approvals")
        assert status == 200 and set(seed.decision_ids(html)) == met, typed
        pages["approvals"] = html
        status, html = await get(client, "/console/objections")
        assert status == 200 and set(seed.decision_ids(html)) == met, typed
        pages["objections"] = html
        status, html = await get(client, "/console/stats")
        assert status == 200 and f'<strong class="total-matches">{len(met)}</strong>' in html, typed
        pages["stats"] = html
        for table in ("clause", "document", "agency", "city", "county", "month", "funnel"):
            response = await client.get(f"/console/stats.csv?table={table}")
            assert response.status == 200, (typed, table)
            pages[f"stats.csv {table}"] = (await response.read()).decode("utf-8-sig")

        status, html = await get(client, "/console/")
        waiting = [re.search(rf'<tr data-key="{key}">.*?<td class="num">(\d+)</td>', html, re.S) for key in ("approvals", "objections")]
        assert status == 200 and [int(found.group(1)) for found in waiting] == [len(met), len(met)], typed
        pages["home"] = html

        status, html = await get(client, "/console/account")
        assert status == 200 and all(prefix in html for prefix in (scope.prefixes or ())), typed
        assert ("全部地区（含地区不明的企业）" in html) == scope.is_all, typed
        status, html = await get(client, "/console/audit")
        assert status == (200 if scope.is_all else 403), typed

        for firm in NAMES:
            expected = 200 if firm in visible else 404
            status, html = await get(client, f"/console/firms/{firm}")
            assert status == expected, (typed, firm)
            if firm in hidden:
                assert NAMES[firm] not in html and "没有统一社会信用代码" in html, (typed, firm)
            for stored in decisions[firm]:
                status, html = await get(client, f"/console/decisions/{stored.id}")
                assert status == expected, (typed, stored.id)
                if firm in visible:
                    pages[f"decision {stored.id}"] = html

        for name, html in pages.items():  # nothing of a hidden firm anywhere, not even its name or code
            for firm in hidden:
                assert firm not in html and NAMES[firm] not in html, (typed, name, firm)


async def test_actions_on_another_regions_firms_change_nothing(console_client, store):
    decisions = await seeded(store)
    client = console_client
    await accounts.create(client.app[console.ACCOUNTS], store, "east", console_conftest.PASSWORD, "admin",
                          actor="test", scope=scopes.parse(["630102"]))
    await console_conftest.log_in(client, "east", "admin")
    before = [e async for e in store.audit_entries()]
    token = console_conftest.csrf_token((await get(client, "/console/approvals"))[1])
    west_met = [d.id for d in decisions[WEST] if d.decision.status.value == "met"]
    east_met = [d.id for d in decisions[EAST] if d.decision.status.value == "met"]

    # Approving a mixed selection acts on this county's decision only; the other counts as already handled.
    response = await client.post("/console/approvals", data={"csrf_token": token, "action": "approve",
                                                             "decision_id": [str(i) for i in west_met + east_met]}, allow_redirects=False)
    assert response.status == 303 and "n=1" in response.headers["Location"] and "stale=1" in response.headers["Location"]
    assert all(d.approval == "pending" for d in await store.decisions(WEST) if d.id in west_met)
    assert all(d.approval == "approved" for d in await store.decisions(EAST) if d.id in east_met)
    response = await client.post("/console/approvals", data={"csrf_token": token, "action": "reject", "reason": "不符合",
                                                             "decision_id": [str(i) for i in west_met]}, allow_redirects=False)
    assert response.status == 303 and "n=0" in response.headers["Location"]
    assert all(d.approval == "pending" for d in await store.decisions(WEST) if d.id in west_met)
    # Nor do "all matching" (even with a forged bound or another county's filter) and the decision page.
    response = await client.post("/console/approvals", data={"csrf_token": token, "action": "approve", "target": "all",
                                                             "upto": str(max(west_met))}, allow_redirects=False)
    assert response.status == 303 and "n=0" in response.headers["Location"]
    response = await client.post("/console/approvals", data={"csrf_token": token, "action": "approve", "target": "all",
                                                             "region": "630104", "upto": str(max(west_met))}, allow_redirects=False)
    assert response.status == 400
    response = await client.post(f"/console/decisions/{west_met[0]}/approval", data={"csrf_token": token, "action": "approve"})
    assert response.status == 404
    assert all(d.approval == "pending" for d in await store.decisions(WEST) if d.id in west_met)

    west_notice = (await store.firm_notices(WEST))[0]
    for action in ("retry", "release"):
        response = await client.post(f"/console/notices/{west_notice.notice_id}/{action}", data={"csrf_token": token})
        assert response.status == 404, action
    response = await client.post(f"/console/firms/{WEST}/revoke-links", data={"csrf_token": token})
    assert response.status == 404 and await store.links_revoked_before(WEST) is None
    response = await client.post(f"/console/firms/{EAST}/revoke-links", data={"csrf_token": token}, allow_redirects=False)
    assert response.status == 303 and await store.links_revoked_before(EAST) is not None
    changed = [e for e in [e async for e in store.audit_entries()][len(before):] if e.action != "pii.viewed" and e.action != "login.succeeded"]
    assert WEST not in repr(changed) and not any(str(i) in (e.subject_id for e in changed) for i in west_met)


async def test_a_change_of_regions_applies_at_the_next_page(console_client, store):
    await seeded(store)
    client = console_client
    await console_conftest.log_in(client, "li", "viewer")
    status, html = await get(client, "/console/firms")
    assert set(_FIRM_LINK.findall(html)) == set(NAMES) and "/console/audit" in html
    await accounts.set_scope(client.app[console.ACCOUNTS], store, "li", scopes.parse(["53"]), actor="test")
    status, html = await get(client, "/console/firms")  # the same session, no new login
    assert status == 200 and set(_FIRM_LINK.findall(html)) == {SOUTH}
    assert 'href="/console/audit"' not in html and "云南省（53）" in html


@pytest.mark.parametrize("path", ["/console/firms", "/console/decisions"])
async def test_a_firm_without_a_region_is_seen_by_all_region_accounts_only(console_client, store, path):
    await seeded(store)
    async with store.write() as connection:
        await connection.execute(sa.update(models.Firm.__table__).where(models.Firm.__table__.c.uscc == SOUTH).values(region=None))
    client = console_client
    await accounts.create(client.app[console.ACCOUNTS], store, "yunnan", console_conftest.PASSWORD, "viewer",
                          actor="test", scope=scopes.parse(["53"]))
    await console_conftest.log_in(client, "yunnan", "viewer")
    assert SOUTH not in (await get(client, path))[1]
    await console_conftest.log_in(client, "everyone", "viewer")
    assert SOUTH in (await get(client, path))[1]


#: Every console route, and where this file shows it keeps to the account's regions (or why it has no firm data).
ROUTES = {
    ("GET", "/console"): "a redirect", ("GET", "/console/"): "every_route",
    ("GET", "/console/login"): "no firm data", ("POST", "/console/login"): "no firm data", ("POST", "/console/logout"): "no firm data",
    ("GET", "/console/decisions"): "every_route", ("GET", "/console/decisions.csv"): "every_route",
    ("GET", "/console/decisions/{id}"): "every_route", ("GET", "/console/firms"): "every_route",
    ("GET", "/console/firms/{uscc}"): "every_route", ("GET", "/console/clauses"): "every_route",
    ("GET", "/console/clauses/{clause_id}"): "every_route", ("GET", "/console/approvals"): "every_route",
    ("GET", "/console/objections"): "every_route", ("GET", "/console/stats"): "every_route",
    ("GET", "/console/stats.csv"): "every_route",
    ("GET", "/console/audit"): "every_route (all-region accounts only)", ("GET", "/console/account"): "every_route",
    ("POST", "/console/approvals"): "actions", ("POST", "/console/decisions/{id}/approval"): "actions",
    ("POST", "/console/notices/{notice_id}/retry"): "actions",
    ("POST", "/console/notices/{notice_id}/release"): "actions", ("POST", "/console/firms/{uscc}/revoke-links"): "actions",
    ("POST", "/console/clauses/{clause_id}/approval"): "no firm data (a clause's 二次确认 switch)",
}


async def test_the_matrix_covers_every_console_route(console_client):
    routes = {(route.method, route.resource.canonical) for route in console_client.app.router.routes()
              if route.resource is not None and route.resource.canonical.startswith("/console") and route.method in ("GET", "POST")}
    assert routes == set(ROUTES)
