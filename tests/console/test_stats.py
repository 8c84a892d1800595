"""Statistics per clause, document and region (city): the numbers match the stored data, and the
charts are well-formed SVG with their labels escaped."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from decimal import Decimal

from engine.console import charts
from engine.core import matching, notice_status
from engine.notices import channels, outbox
from tests import factories
from tests.console import conftest as console_conftest
from tests.console import seed
from tests.notices import helpers

S = notice_status.NoticeStatus
SVG = "{http://www.w3.org/2000/svg}"
QINGHAI, DATONG = helpers.CLAUSE, "datong-2022-4"
XINING_1, XINING_2, YANGQUAN_1, YANGQUAN_2 = (factories.uscc(n, region=r) for n, r in ((81, "630102"), (82, "630104"), (83, "140302"), (84, "140302")))
REGIONS = {XINING_1: "630102", XINING_2: "630104", YANGQUAN_1: "140302", YANGQUAN_2: "140302"}


class AmountMatcher:
    """Met with an amount on two clauses of two documents once the firm has declared VAT."""

    def match(self, firm_profile, as_of, context):
        met = bool(firm_profile.get("tax", {}).get("vat"))
        verdict = matching.Verdict.MET if met else matching.Verdict.UNKNOWN
        period = str(as_of.year) if met else None
        return [
            matching.Decision(QINGHAI, "qinghai-2022#(二)", "v1", verdict, 1000.5 if met else None, {}, {}, period=period),
            matching.Decision(DATONG, "datong-2022#4", "v1", verdict, 200 if met else None, {}, {}, period=period),
        ]


async def scenario(store) -> None:
    """Three firms met on both clauses; then DATONG is gated and the fourth firm's DATONG match rejected.
    The worker sends with some failures; two SMS receipts come back (one delivered, one not)."""
    for firm in (XINING_1, XINING_2, YANGQUAN_1):
        await seed.feed_with(store, AmountMatcher(), *seed.firm_events(firm, region=REGIONS[firm], name=f"统计企业{firm[-3:]}"))
    await store.set_clause_approval(DATONG, True, "admin")
    await seed.feed_with(store, AmountMatcher(), *seed.firm_events(YANGQUAN_2, region="140302", name="统计企业四"))
    [pending] = await store.pending_approvals()
    await store.resolve_approvals([pending.id], False, "admin", "不符合地方口径")
    delivery, sms, email = helpers.make_worker(store)
    sms.script([channels.Outcome.SENT, channels.Outcome.DEAD, channels.Outcome.SENT, channels.Outcome.RETRY])
    email.script([channels.Outcome.RETRY])
    await delivery.run_once()
    sent_sms = [n for firm in REGIONS for n in await store.firm_notices(firm) if n.channel == "sms" and n.status == S.SENT]
    for notice, outcome in zip(sent_sms[:2], (S.DELIVERED, S.UNDELIVERED), strict=True):
        await store.transition_notice(notice.notice_id, outbox.Transition(outcome, "receipt", outcome.value), expect=S.SENT)


def expected_notices(notices) -> list[int]:
    """[sent, delivered, failed, dead] by the page's definitions."""
    states = [n.status for n in notices]
    return [sum(s in (S.SENT, S.DELIVERED, S.UNDELIVERED) for s in states), states.count(S.DELIVERED),
            sum(s in (S.FAILED, S.UNDELIVERED) for s in states), states.count(S.DEAD)]


def table(html: str, section: str) -> dict[str, list[str]]:
    body = html.split(f'<table class="stats {section}"', 1)[1].split("</table>", 1)[0]
    return {key: re.findall(r'<td class="num">([^<]*)</td>', row) for key, row in re.findall(r'<tr data-key="([^"]*)">(.*?)</tr>', body, re.S)}


@console_conftest.SQL_ONLY
async def test_statistics_match_the_data(console_client, login, store):
    await scenario(store)
    await login(console_client, "wang", "viewer")
    html = await (await console_client.get("/console/stats")).text()
    every = [n for firm in REGIONS for n in await store.firm_notices(firm)]
    assert len(every) == 14 and {n.status for n in every} >= {S.SENT, S.DELIVERED, S.UNDELIVERED, S.FAILED, S.DEAD}

    def line(matches: int, amount: str, notices) -> list[str]:
        return [str(matches), amount, *map(str, expected_notices(notices))]

    clauses = table(html, "clause")
    assert clauses == {
        QINGHAI: line(4, "4,002.00", [n for n in every if n.clause_id == QINGHAI]),
        DATONG: line(3, "600.00", [n for n in every if n.clause_id == DATONG]),  # the rejected match is not counted
    }
    assert table(html, "document") == {"qinghai-2022": clauses[QINGHAI], "datong-2022": clauses[DATONG]}
    assert table(html, "region") == {
        "630100": line(4, "2,401.00", [n for n in every if REGIONS[n.uscc].startswith("6301")]),
        "140300": line(3, "2,201.00", [n for n in every if REGIONS[n.uscc].startswith("1403")]),
    }
    assert '<strong class="total-matches">7</strong>' in html and "4,602.00" in html

    svgs = re.findall(r"<svg\b.*?</svg>", html, re.S)
    assert len(svgs) == 9  # matches, amounts and notices for each of the three tables
    for markup in svgs:
        root = ET.fromstring(markup)
        assert root.tag == f"{SVG}svg" and root.find(f"{SVG}title").text
    matches_chart = ET.fromstring(svgs[0])
    bars = {rect.find(f"{SVG}title").text: float(rect.get("width")) for rect in matches_chart.iter(f"{SVG}rect")}
    assert set(bars) == {"qinghai-2022#(二) · 符合：4", "datong-2022#4 · 符合：3"}
    assert bars["qinghai-2022#(二) · 符合：4"] > bars["datong-2022#4 · 符合：3"] > 0
    assert "<script" not in html.lower()  # no chart library, no JavaScript at all
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")  # nothing fetched from elsewhere


@console_conftest.SQL_ONLY
async def test_statistics_render_without_data(console_client, login, store):
    await login(console_client, "wang", "viewer")
    html = await (await console_client.get("/console/stats")).text()
    assert html.count("暂无数据") >= 3
    for markup in re.findall(r"<svg\b.*?</svg>", html, re.S):
        ET.fromstring(markup)


def test_chart_labels_are_escaped_and_the_svg_parses():
    label = '<script>alert("x")</script> & 某条款名称很长很长很长很长很长很长'
    markup = charts.bar_chart("标题 <b>&</b>", [label, "乙"], [("甲<系列>", [3, Decimal("1.5")]), ("丙", [0, 2])])
    assert "<script>" not in markup and "<b>" not in markup
    root = ET.fromstring(str(markup))
    texts = ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]
    assert "标题 <b>&</b>" in texts and "甲<系列>" in texts and "1.50" in texts and "3" in texts
    assert any(t.startswith(label) for t in texts)  # the full label in the tooltip, a shortened one shown
    assert len([r for r in root.iter(f"{SVG}rect") if r.find(f"{SVG}title") is not None]) == 4
