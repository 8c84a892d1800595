"""The signed-in officer's home page (/console/): today's and this month's notices by outcome (China
days and months), the amounts granted, what waits (二次确认, objections) and the problems needing
someone (dead and held notices, parked events) — each figure within the account's regions."""

from __future__ import annotations

import datetime
import re

import sqlalchemy as sa

from connectors import sql_models as models
from engine import console
from engine.console import accounts, home_pages
from engine.core import scopes
from tests.console import conftest as console_conftest
from tests.console import seed
from tests.notices import helpers

SQL_ONLY = console_conftest.SQL_ONLY
EAST, WEST = helpers.FIRM, seed.OTHER  # 630102 城东区, 630104 城西区
CLAUSE = helpers.CLAUSE
UTC = datetime.UTC
#: 12:00 on 5 December 2026 in China.
NOW = datetime.datetime(2026, 12, 5, 4, 0, tzinfo=UTC)
#: Each notice's state and when it was recorded: 16:30 UTC on 4 December is already the 5th in
#: China (today); 17:00 UTC on 30 November is 1 December (this month); 15:00 UTC on 30 November is
#: still November there.
NOTICES = {
    (EAST, "sms"): ("delivered", datetime.datetime(2026, 12, 4, 16, 30, tzinfo=UTC)),
    (EAST, "email"): ("dead", datetime.datetime(2026, 11, 30, 15, 0, tzinfo=UTC)),
    (WEST, "sms"): ("pending", datetime.datetime(2026, 12, 5, 3, 0, tzinfo=UTC)),
    (WEST, "email"): ("held", datetime.datetime(2026, 11, 30, 17, 0, tzinfo=UTC)),
}
#: Each firm's match: when it was recorded and its amount.
MATCHES = {EAST: (datetime.datetime(2026, 12, 5, 1, 0, tzinfo=UTC), 12345.6), WEST: (datetime.datetime(2026, 11, 20, 1, 0, tzinfo=UTC), 100000)}


async def scenario(store) -> None:
    """Two firms of two counties met, notified, and then: EAST's match waits for 二次确认 and EAST
    objects to it; WEST objected and then confirmed (nothing waits); one event of each is parked."""
    await seed.two_firms(store)
    notice, decision, event = models.Notice.__table__, models.Decision.__table__, models.Event.__table__
    async with store.write() as connection:
        for (firm, channel), (status, at) in NOTICES.items():
            await connection.execute(sa.update(notice).where(notice.c.uscc == firm, notice.c.channel == channel)
                                     .values(status=status, created_at=at))
        for firm, (at, amount) in MATCHES.items():
            await connection.execute(sa.update(decision).where(decision.c.uscc == firm).values(created_at=at))
            await connection.execute(sa.update(decision).where(decision.c.uscc == firm, decision.c.status == "met").values(amount=amount))
        await connection.execute(sa.update(decision).where(decision.c.uscc == EAST, decision.c.status == "met").values(approval="pending"))
        for firm in (EAST, WEST):
            [first] = (await connection.execute(sa.select(sa.func.min(event.c.seq)).where(event.c.uscc == firm))).one()
            await connection.execute(sa.update(event).where(event.c.seq == first).values(status="failed", error="test"))
    for firm, actions in ((EAST, ["object"]), (WEST, ["object", "confirm"])):
        [met] = [d for d in await store.decisions(firm) if d.decision.status.value == "met"]
        for action in actions:
            await store.record_response(firm, CLAUSE, met.id, action, "金额不对" if action == "object" else None, NOW)


def row(html: str, section: str, key: str) -> list[str]:
    """The numbers of one line of a home-page table."""
    body = html.split(f'<table class="{section}"', 1)[1].split("</table>", 1)[0]
    found = re.search(rf'<tr data-key="{key}">(.*?)</tr>', body, re.S)
    assert found, (section, key)
    return re.findall(r'<td class="num">([^<]*)</td>', found.group(1))


async def home(client) -> str:
    response = await client.get("/console/")
    assert response.status == 200 and response.url.path == "/console/"
    return await response.text()


@SQL_ONLY
async def test_home_page_shows_todays_and_this_months_figures(console_client, login, store, console_clock):
    await scenario(store)
    console_clock.at = NOW
    await login(console_client, "wang", "viewer")
    html = await home(console_client)
    # Columns: in all, 已送达, 已发送待回执, 发送失败, 已终止, 待发送, 按规则未发送.
    assert row(html, "home-pushes", "today") == ["2", "1", "0", "0", "0", "1", "0"]
    assert row(html, "home-pushes", "month") == ["3", "1", "0", "0", "0", "2", "0"]  # the dead one was recorded in November
    assert "今日（12月5日）" in html and "本月（2026年12月）" in html
    assert row(html, "home-granted", "1") == ["1", "12,345.60"]
    assert row(html, "home-granted", "2") == ["1", "12,345.60"]
    assert row(html, "home-granted", "3") == ["2", "112,345.60"]
    assert row(html, "home-todo", "approvals") == ["1"] and row(html, "home-todo", "objections") == ["1"]
    assert row(html, "home-problems", "dead") == ["1"] and row(html, "home-problems", "held") == ["1"]
    assert row(html, "home-problems", "parked") == ["2"]
    assert '<a href="/console/approvals">' in html and '<a href="/console/objections">' in html


@SQL_ONLY
async def test_a_county_officer_sees_only_his_countys_figures(console_client, store, console_clock):
    await scenario(store)
    console_clock.at = NOW
    for name, region in (("chengdong", "630102"), ("chengxi", "630104")):
        await accounts.create(console_client.app[console.ACCOUNTS], store, name, console_conftest.PASSWORD, "viewer",
                              actor="test", scope=scopes.parse([region]))
    await console_conftest.log_in(console_client, "chengdong", "viewer")
    html = await home(console_client)
    assert row(html, "home-pushes", "today") == ["1", "1", "0", "0", "0", "0", "0"]
    assert row(html, "home-pushes", "month") == ["1", "1", "0", "0", "0", "0", "0"]
    assert row(html, "home-granted", "3") == ["1", "12,345.60"]
    assert row(html, "home-todo", "approvals") == ["1"] and row(html, "home-todo", "objections") == ["1"]
    assert [row(html, "home-problems", key) for key in ("dead", "held", "parked")] == [["1"], ["0"], ["1"]]
    assert "西宁市城东区（630102）" in html and "112,345.60" not in html

    await console_conftest.log_in(console_client, "chengxi", "viewer")
    html = await home(console_client)
    assert row(html, "home-pushes", "today") == ["1", "0", "0", "0", "0", "1", "0"]
    assert row(html, "home-pushes", "month") == ["2", "0", "0", "0", "0", "2", "0"]
    assert row(html, "home-granted", "1") == ["0", "0.00"] and row(html, "home-granted", "3") == ["1", "100,000.00"]
    assert row(html, "home-todo", "approvals") == ["0"] and row(html, "home-todo", "objections") == ["0"]
    assert [row(html, "home-problems", key) for key in ("dead", "held", "parked")] == [["0"], ["1"], ["1"]]


@SQL_ONLY
async def test_login_lands_on_the_home_page_which_the_menu_marks(console_client, login, store):
    await login(console_client, "wang", "viewer")
    response = await console_client.get("/console")
    html = await response.text()
    assert response.url.path == "/console/" and '<a href="/console/" class="active">首页</a>' in html
    assert row(html, "home-pushes", "today") == ["0"] * 7 and row(html, "home-problems", "parked") == ["0"]
    decisions = await (await console_client.get("/console/decisions")).text()
    assert '<a href="/console/">首页</a>' in decisions and '<a href="/console/decisions" class="active">' in decisions


def test_today_and_this_month_begin_at_midnight_in_china():
    day, month = home_pages.starts(datetime.datetime(2026, 12, 31, 16, 30, tzinfo=UTC))  # 00:30 on 1 January in China
    assert day == datetime.datetime(2026, 12, 31, 16, 0, tzinfo=UTC) and month == day
    day, month = home_pages.starts(NOW)
    assert day == datetime.datetime(2026, 12, 4, 16, 0, tzinfo=UTC) and month == datetime.datetime(2026, 11, 30, 16, 0, tzinfo=UTC)
