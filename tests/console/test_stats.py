"""Statistics an officer reports with: per clause, document, responsible agency, city and county, per
month, and the reach funnel. The numbers match the stored data (every notice counted, whatever its
state), the charts are responsive SVG with full labels, each table comes as CSV, and a county
officer sees his county's numbers only."""

from __future__ import annotations

import csv
import datetime
import io
import re
import xml.etree.ElementTree as ET
from decimal import Decimal

import sqlalchemy as sa

from connectors import sql_models as models
from engine import console
from engine.console import accounts, charts, stats
from engine.core import matching, notice_status, scopes
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
#: The column each state is counted in, as the page's definitions say.
COLUMN = {
    S.DELIVERED: "已送达", S.SENT: "已发送待回执", S.UNDELIVERED: "发送失败", S.FAILED: "发送失败", S.DEAD: "已终止",
    S.PENDING: "待发送", S.DEFERRED: "待发送", S.SENDING: "待发送", S.WAITING: "待发送", S.HELD: "待发送", S.SKIPPED: "按规则未发送",
}
HEADINGS = ["已送达", "已发送待回执", "发送失败", "已终止", "待发送", "按规则未发送"]
#: When each firm's rows were recorded (UTC): 630102/630104 in August; 阳泉's straddle the end of
#: October — 15:00 UTC is still 31 October in China, 17:00 UTC already 1 November.
RECORDED = {
    XINING_1: datetime.datetime(2026, 8, 15, 2, 0, tzinfo=datetime.UTC), XINING_2: datetime.datetime(2026, 8, 16, 2, 0, tzinfo=datetime.UTC),
    YANGQUAN_1: datetime.datetime(2026, 10, 31, 17, 0, tzinfo=datetime.UTC), YANGQUAN_2: datetime.datetime(2026, 10, 31, 15, 0, tzinfo=datetime.UTC),
}
SQL_ONLY = console_conftest.SQL_ONLY


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
    The worker sends with some failures; two SMS receipts come back (one delivered, one not). Then, as
    in a real month, most notices are not settled: one waits for its address, one is held, one was
    skipped by rule, one is deferred to the morning and one is still pending."""
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
    unsettled = [n for firm in REGIONS for n in await store.firm_notices(firm) if n.status in (S.SENT, S.FAILED)]
    table = models.Notice.__table__
    async with store.write() as connection:
        for notice, status in zip(unsettled, (S.WAITING, S.HELD, S.SKIPPED, S.DEFERRED, S.PENDING), strict=False):
            await connection.execute(sa.update(table).where(table.c.notice_id == notice.notice_id).values(status=status.value))
        for firm, at in RECORDED.items():
            for model in (models.Decision, models.Notice):
                rows = model.__table__
                await connection.execute(sa.update(rows).where(rows.c.uscc == firm).values(created_at=at))


async def every_notice(store):
    return [n for firm in REGIONS for n in await store.firm_notices(firm)]


def expected(matches: int, amount: str, notices) -> list[str]:
    """A table line: matches, amount, notices in all, then one count per column."""
    columns = [COLUMN[n.status] for n in notices]
    return [str(matches), amount, str(len(notices)), *(str(columns.count(heading)) for heading in HEADINGS)]


def table(html: str, section: str) -> dict[str, list[str]]:
    body = html.split(f'<table class="stats {section}"', 1)[1].split("</table>", 1)[0]
    return {key: re.findall(r'<td class="num">([^<]*)</td>', row) for key, row in re.findall(r'<tr data-key="([^"]*)">(.*?)</tr>', body, re.S)}


def labels_of(html: str, section: str) -> dict[str, str]:
    """A table's row keys → the label in its first cell."""
    body = html.split(f'<table class="stats {section}"', 1)[1].split("</table>", 1)[0]
    return {key: re.sub(r"<[^>]+>", "", first).strip() for key, first in re.findall(r'<tr data-key="([^"]*)"><td>(.*?)</td>', body, re.S)}


def section_charts(html: str, section: str) -> list[ET.Element]:
    body = html.split(f'<section id="{section}">', 1)[1].split("</section>", 1)[0]
    return [ET.fromstring(markup) for markup in re.findall(r"<svg\b.*?</svg>", body, re.S)]


def bar_labels(chart: ET.Element) -> list[str]:
    """The category labels a bar chart shows (the texts carrying a tooltip), each as its lines read
    together, without the tooltip: what the officer reads."""
    shown = []
    for label in chart.iter(f"{SVG}text"):
        tooltip = label.find(f"{SVG}title")
        if tooltip is not None:
            shown.append("".join(label.itertext())[len(tooltip.text or ""):])
    return shown


def bars(chart: ET.Element) -> list[tuple[str, float]]:
    return [(rect.find(f"{SVG}title").text, float(rect.get("width"))) for rect in chart.iter(f"{SVG}rect") if rect.find(f"{SVG}title") is not None]


async def stats_page(client) -> str:
    response = await client.get("/console/stats")
    assert response.status == 200
    return await response.text()


@SQL_ONLY
async def test_every_notice_is_counted_whatever_its_state(console_client, login, store):
    await scenario(store)
    await login(console_client, "wang", "viewer")
    html = await stats_page(console_client)
    every = await every_notice(store)
    unsettled = [n for n in every if n.status in (S.PENDING, S.DEFERRED, S.WAITING, S.HELD, S.SKIPPED)]
    assert len(every) == 14 and len(unsettled) == 5
    clauses = table(html, "clause")
    assert clauses == {
        QINGHAI: expected(4, "4,002.00", [n for n in every if n.clause_id == QINGHAI]),
        DATONG: expected(3, "600.00", [n for n in every if n.clause_id == DATONG]),  # the rejected match is not counted
    }
    assert sum(int(line[2]) for line in clauses.values()) == 14
    assert table(html, "document") == {"qinghai-2022": clauses[QINGHAI], "datong-2022": clauses[DATONG]}
    assert table(html, "city") == {
        "630100": expected(4, "2,401.00", [n for n in every if REGIONS[n.uscc].startswith("6301")]),
        "140300": expected(3, "2,201.00", [n for n in every if REGIONS[n.uscc].startswith("1403")]),
    }
    assert table(html, "county") == {
        "630102": expected(2, "1,200.50", [n for n in every if n.uscc == XINING_1]),
        "630104": expected(2, "1,200.50", [n for n in every if n.uscc == XINING_2]),
        "140302": expected(3, "2,201.00", [n for n in every if REGIONS[n.uscc] == "140302"]),
    }
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", html))
    assert "合计：符合 7 条 · 金额 4,602.00 元 · 通知 14 条" in text and "待发送 4" in text and "按规则未发送 1" in text


@SQL_ONLY
async def test_regions_and_agencies_are_named(console_client, login, store):
    await scenario(store)
    await login(console_client, "wang", "viewer")
    html = await stats_page(console_client)
    assert labels_of(html, "county") == {"630102": "西宁市城东区 630102", "630104": "西宁市城西区 630104", "140302": "阳泉市城区 140302"}
    assert labels_of(html, "city") == {"630100": "西宁市 630100", "140300": "阳泉市 140300"}
    agencies = table(html, "agency")
    # qinghai-2022-2 names six agencies, datong-2022-4 three: each counts the clause's figures.
    assert agencies["国家税务总局青海省税务局"][:2] == ["4", "4,002.00"] and agencies["市税务局"][:2] == ["3", "600.00"]
    assert len(agencies) == 9
    assert labels_of(html, "clause") == {QINGHAI: "qinghai-2022#(二) 小规模纳税人免征增值税", DATONG: "datong-2022#4 增值税小规模纳税人阶段性免征增值税"}


@SQL_ONLY
async def test_chart_labels_are_the_full_clause_titles(console_client, login, store):
    await scenario(store)
    await login(console_client, "wang", "viewer")
    html = await stats_page(console_client)
    full = labels_of(html, "clause")
    for chart in section_charts(html, "clause"):
        assert set(bar_labels(chart)) == set(full.values())  # not "qinghai-2022#(…"
    regions = {"city": {"西宁市（630100）", "阳泉市（140300）"}, "county": {"西宁市城东区（630102）", "西宁市城西区（630104）", "阳泉市城区（140302）"}}
    for section in ("document", "agency", "city", "county"):
        names = regions.get(section) or set(labels_of(html, section).values())
        matches_chart = section_charts(html, section)[0]
        assert set(bar_labels(matches_chart)) == names and not any("…" in label for label in names), section


class ManyClausesMatcher:
    """Met on 21 clauses without an amount and, last by name, on one with a large amount."""

    IDS = [f"aa-count-{i:02d}" for i in range(21)] + ["zz-largest-amount"]

    def match(self, firm_profile, as_of, context):
        met = bool(firm_profile.get("tax", {}).get("vat"))
        verdict = matching.Verdict.MET if met else matching.Verdict.UNKNOWN
        return [matching.Decision(cid, f"{cid}#1", "v1", verdict, (500000 if cid.startswith("zz") else None) if met else None, {}, {},
                                  period="2026" if met else None) for cid in self.IDS]


@SQL_ONLY
async def test_the_amounts_chart_shows_the_clauses_with_the_largest_amounts(console_client, login, store):
    await seed.feed_with(store, ManyClausesMatcher(), *seed.firm_events(XINING_1, region="630102", name="多条款企业"))
    await login(console_client, "wang", "viewer")
    html = await stats_page(console_client)
    matches_chart, amount_chart, _ = section_charts(html, "clause")
    assert len(bar_labels(matches_chart)) == charts.MAX_ROWS  # 22 clauses: the chart shows the first 20
    [(title, width)] = bars(amount_chart)
    assert title == "zz-largest-amount#1 · 金额：500,000" and width > 0
    assert table(html, "clause")["zz-largest-amount"][:2] == ["1", "500,000.00"]


@SQL_ONLY
async def test_charts_are_responsive(console_client, login, store):
    await scenario(store)
    await login(console_client, "wang", "viewer")
    html = await stats_page(console_client)
    svgs = [ET.fromstring(markup) for markup in re.findall(r"<svg\b.*?</svg>", html, re.S)]
    assert len(svgs) == 2 + 1 + 3 * 5  # months (2), funnel, and three for each of five tables
    for svg in svgs:
        assert svg.get("width") == "100%" and svg.get("height") is None and len(svg.get("viewBox").split()) == 4
        assert svg.find(f"{SVG}title").text
    assert "<script" not in html.lower()  # no chart library, no JavaScript at all
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")  # nothing fetched from elsewhere


async def confirm_and_object(store) -> None:
    """XINING_1 confirms its QINGHAI match; XINING_2 objects, then confirms; YANGQUAN_1 confirms, then objects."""
    for firm, actions in ((XINING_1, ["confirm"]), (XINING_2, ["object", "confirm"]), (YANGQUAN_1, ["confirm", "object"])):
        [met] = [d for d in await store.decisions(firm) if d.decision.clause_id == QINGHAI and d.decision.status.value == "met"]
        for action in actions:
            await store.record_response(firm, QINGHAI, met.id, action, "金额有误" if action == "object" else None, RECORDED[firm])


@SQL_ONLY
async def test_monthly_series_has_a_time_axis_in_china_months(console_client, login, store):
    await scenario(store)
    await confirm_and_object(store)
    await login(console_client, "wang", "viewer")
    html = await stats_page(console_client)
    every = await every_notice(store)
    months = table(html, "month")
    assert list(months) == ["2026-08", "2026-09", "2026-10", "2026-11"]  # September had nothing, and is shown
    assert months["2026-08"] == [*expected(4, "2,401.00", [n for n in every if n.uscc in (XINING_1, XINING_2)]), "2"]
    assert months["2026-09"] == ["0", "0.00", *["0"] * 7, "0"]
    assert months["2026-10"] == [*expected(1, "1,000.50", [n for n in every if n.uscc == YANGQUAN_2]), "0"]
    assert months["2026-11"] == [*expected(2, "1,200.50", [n for n in every if n.uscc == YANGQUAN_1]), "0"]
    assert labels_of(html, "month")["2026-11"] == "2026年11月"
    counts_chart, amount_chart = section_charts(html, "month")
    periods = [t.text for t in counts_chart.iter(f"{SVG}text") if t.get("class") == "period"]
    assert periods == sorted(periods) and periods[-1] == "2026-11"
    amounts = {rect.find(f"{SVG}title").text: float(rect.get("height")) for rect in amount_chart.iter(f"{SVG}rect")
               if rect.find(f"{SVG}title") is not None}
    assert amounts["2026-09 · 金额：0"] == 0 < amounts["2026-10 · 金额：1,000.50"] < amounts["2026-08 · 金额：2,401"]


@SQL_ONLY
async def test_reach_funnel_ends_with_the_firms_confirmations(console_client, login, store):
    await scenario(store)
    await confirm_and_object(store)
    await login(console_client, "wang", "viewer")
    html = await stats_page(console_client)
    granted = {d.id for firm in REGIONS for d in await store.decisions(firm)
               if d.decision.status.value == "met" and d.approval != "rejected"}
    every = [n for n in await every_notice(store) if n.decision_id in granted]
    notified = {n.decision_id for n in every if n.status in (S.SENT, S.DELIVERED, S.UNDELIVERED)}
    delivered = {n.decision_id for n in every if n.status == S.DELIVERED}
    funnel = table(html, "funnel")
    assert [line[0] for line in funnel.values()] == [str(len(granted)), str(len(notified)), str(len(delivered)), "2"]
    assert funnel["1"][1:] == ["100.0%", "—"] and funnel["4"][1] == f"{Decimal(200) / len(granted):.1f}%"
    assert labels_of(html, "funnel") == dict(zip("1234", stats.FUNNEL_STEPS, strict=True))


async def download(client, name: str) -> list[list[str]]:
    response = await client.get(f"/console/stats.csv?table={name}")
    assert response.status == 200 and response.content_type == "text/csv", await response.text()
    body = await response.read()
    assert body.startswith("\ufeff".encode())
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))


@SQL_ONLY
async def test_each_table_downloads_as_csv(console_client, login, store):
    await scenario(store)
    await confirm_and_object(store)
    await login(console_client, "wang", "viewer")
    html = await stats_page(console_client)
    for name in ("clause", "document", "agency", "city", "county", "month", "funnel"):
        assert f'href="/console/stats.csv?table={name}"' in html, name
    header, *rows = await download(console_client, "clause")
    assert header == ["条款编号", "条款", "符合判定", "金额（元）", "通知合计", *HEADINGS]
    assert {row[0]: row[1:] for row in rows}[QINGHAI] == ["qinghai-2022#(二) 小规模纳税人免征增值税", "4", "4002.00",
                                                        *table(html, "clause")[QINGHAI][2:]]
    header, *rows = await download(console_client, "county")
    assert {row[0]: row[1] for row in rows} == {"630102": "西宁市城东区（630102）", "630104": "西宁市城西区（630104）", "140302": "阳泉市城区（140302）"}
    header, *rows = await download(console_client, "month")
    assert header[-1] == "企业确认" and [row[0] for row in rows] == ["2026-08", "2026-09", "2026-10", "2026-11"]
    header, *rows = await download(console_client, "funnel")
    assert header[0] == "环节" and [row[0] for row in rows] == list(stats.FUNNEL_STEPS) and rows[-1][1] == "2"
    for bad in ("", "clauses", "<x>"):
        response = await console_client.get(f"/console/stats.csv?table={bad}")
        text = await response.text()
        assert response.status == 400 and "参数 table 可为" in text and "按条款（clause）" in text, bad
        assert ("没有这张统计表" in text) == bool(bad) and "<x>" not in text  # the value is shown, escaped


@SQL_ONLY
async def test_a_county_officer_sees_only_the_countys_numbers(console_client, login, store):
    await scenario(store)
    await confirm_and_object(store)
    await accounts.create(console_client.app[console.ACCOUNTS], store, "chengdong", console_conftest.PASSWORD, "viewer",
                          actor="test", scope=scopes.parse(["630102"]))
    await console_conftest.log_in(console_client, "chengdong", "viewer")
    html = await stats_page(console_client)
    mine = [n for n in await store.firm_notices(XINING_1)]
    assert table(html, "county") == {"630102": expected(2, "1,200.50", mine)}
    assert list(table(html, "city")) == ["630100"] and list(table(html, "document")) == ["qinghai-2022", "datong-2022"]
    assert table(html, "clause")[QINGHAI][:3] == ["1", "1,000.50", str(sum(n.clause_id == QINGHAI for n in mine))]
    assert list(table(html, "month")) == ["2026-08"] and table(html, "month")["2026-08"][-1] == "1"
    assert [line[0] for line in table(html, "funnel").values()][::3] == ["2", "1"]
    for name in ("county", "city", "clause", "month"):
        body = "\n".join(",".join(row) for row in await download(console_client, name))
        assert "140302" not in body and "630104" not in body and "阳泉" not in body and "城西区" not in body, name
    assert "阳泉" not in html and "城西区" not in html and "140302" not in html


def test_every_notice_state_has_a_column():
    assert {status.value for status in S} == set(stats.NOTICE_COLUMN)
    assert {stats.notice_column(status.value) for status in S} == {column for column, _ in stats.NOTICE_COLUMNS}


def test_chart_labels_are_escaped_wrapped_whole_and_the_svg_parses():
    label = '<script>alert("x")</script> & 某条款名称很长很长很长很长很长很长很长很长很长很长很长很长很长很长很长'
    markup = charts.bar_chart("标题 <b>&</b>", [label, "乙"], [("甲<系列>", [3, Decimal("1.5")]), ("丙", [0, 2])])
    assert "<script>" not in markup and "<b>" not in markup
    root = ET.fromstring(str(markup))
    texts = ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]
    assert "标题 <b>&</b>" in texts and "甲<系列>" in texts and "1.50" in texts and "3" in texts
    [long_label, _] = [t for t in root.iter(f"{SVG}text") if t.get("class") == "label"]
    lines = [t.text for t in long_label.iter(f"{SVG}tspan")]
    assert len(lines) > 1 and "".join(lines) == label  # wrapped, every character kept
    assert len([r for r in root.iter(f"{SVG}rect") if r.find(f"{SVG}title") is not None]) == 4


def test_column_chart_keeps_the_periods_in_order():
    months = [f"2025-{m:02d}" for m in range(1, 13)] + [f"2026-{m:02d}" for m in range(1, 13)] + ["2027-01"]
    root = ET.fromstring(str(charts.column_chart("按月", months, [("符合", list(range(len(months))))])))
    assert root.get("width") == "100%"
    titles = [rect.find(f"{SVG}title").text for rect in root.iter(f"{SVG}rect") if rect.find(f"{SVG}title") is not None]
    assert len(titles) == charts.MAX_PERIODS and titles[0].startswith("2025-02") and titles[-1] == "2027-01 · 符合：24"
    labelled = [t.text for t in root.iter(f"{SVG}text") if t.get("class") == "period"]
    assert labelled == sorted(labelled) and labelled[-1] == "2027-01"
