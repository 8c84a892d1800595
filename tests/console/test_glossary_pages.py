"""What an officer reads on the decision, clause and firm pages is the glossary's Chinese: conditions as
sentences with the words of the text behind them, groups as 满足以下全部/任一条件, values with their units
and separators, regions and industries by name (the code in small type), a formula in words, profile
fields by label — never a tree position, an attribute or field code, a raw enum value or Python."""

from __future__ import annotations

import html as html_lib
import re

from engine.core import industry_codes
from tests import factories
from tests.console import conftest as console_conftest
from tests.console import seed

pytestmark = console_conftest.SQL_ONLY

#: A retailer in 昆明市五华区 renting premises from a state-owned enterprise (yunnan-2022#二(一)).
RENTER = factories.uscc(94, region="530102")
#: A manufacturer (C3372) in the same county.
MAKER = factories.uscc(95, region="530102")


def _renter_events():
    return [
        (factories.event(firm=RENTER, region="530102", industry="F5211", occurred_at="2022-03-01T09:00:00+08:00"),
         f"{RENTER}-reg"),
        (factories.event("tax.cit_filed", firm=RENTER, occurred_at="2022-03-03T09:00:00+08:00"), f"{RENTER}-cit"),
        (factories.event("lease.reported", firm=RENTER, occurred_at="2022-06-15T09:00:00+08:00", lease_id="L0-2022",
                         landlord_type="state_owned_enterprise", monthly_rent=8000, start="2021-07-01"), f"{RENTER}-lease"),
    ]


async def _page(client, path: str) -> str:
    response = await client.get(path)
    text = await response.text()
    assert response.status == 200, text
    return text


async def _decision(store, client, uscc: str, clause_id: str) -> str:
    [stored] = [d for d in await store.decisions(uscc) if d.decision.clause_id == clause_id][-1:]
    return await _page(client, f"/console/decisions/{stored.id}")


def _visible(html: str) -> str:
    """The page's text as read, codes in small type left out (they are shown beside their names)."""
    body = html.split("<main", 1)[-1]
    body = re.sub(r'<small class="code muted">[^<]*</small>', "", body)
    body = re.sub(r"<(script|style)\b.*?</\1>", "", body, flags=re.S)
    return html_lib.unescape(re.sub(r"<[^>]+>", "", body))


def _section(html: str, heading: str) -> str:
    return html.split(f"<h2>{heading}</h2>", 1)[1].split("<h2", 1)[0]


async def test_the_decision_page_says_conditions_as_sentences_with_their_basis(console_client, login, store, production_matcher):
    await seed.feed_with(store, production_matcher, *_renter_events())
    await login(console_client, "wang", "viewer")
    page = await _decision(store, console_client, RENTER, "yunnan-2022-2-1")
    text = _visible(page)
    for code in ("all[", "any[", "small_micro", "state_owned_lease", "county_risk_2022", "state_owned_monthly_rent", "tertiary"):
        assert code not in page, code
    conditions = _visible(_section(page, "逐项条件"))
    assert "满足以下全部条件" in conditions and "满足以下任一条件" in conditions
    assert "小微企业（依据：“服务业小微企业”）：是 ✓" in conditions
    assert "企业类型（组织形式）为个体工商户（依据：“个体工商户”）：否 ✗（实际：企业）" in conditions
    assert "本年度承租国有房屋的整月数大于0个月（依据：“减免３个月租金”）：是 ✓（实际：12个月）" in conditions
    amount = _visible(_section(page, "金额计算"))
    assert "min(" not in amount and "*" not in amount and " if " not in amount
    assert "承租国有房屋的月租金 × （本年度承租国有房屋的整月数、" in amount and "中的较小者" in amount
    assert "8,000.00元" in amount and "12个月" in amount
    facts = _visible(_section(page, "事实快照"))
    assert "承租国有房屋的月租金8,000.00元" in facts and "是否承租国有房屋是" in facts
    # The region by name everywhere; its code only in small type (or inside the USCC).
    assert "昆明市五华区" in text and "530102" not in text.replace(RENTER, "")


async def test_enum_values_and_industry_codes_read_by_name_on_the_decision_page(console_client, login, store, production_matcher):
    await seed.feed_with(store, production_matcher, *_renter_events(), (
        factories.event(firm=MAKER, region="530102", industry="C3372", occurred_at="2022-06-01T09:00:00+08:00"), f"{MAKER}-reg"))
    await login(console_client, "wang", "viewer")
    toll = await _decision(store, console_client, RENTER, "yunnan-2022-1-5")  # legal_form in [enterprise, individual_business]
    assert "enterprise" not in toll and "individual_business" not in toll
    assert "企业类型（组织形式）属于企业、个体工商户" in _visible(_section(toll, "逐项条件"))
    decisions = {d.decision.clause_id: d for d in await store.decisions(MAKER)}
    reading_industry = [c for c, d in decisions.items() if {"industry_division", "industry_section"} & set(d.decision.facts)]
    assert reading_industry
    page = await _page(console_client, f"/console/decisions/{decisions[reading_industry[0]].id}")
    facts = _section(page, "事实快照")
    assert "industry_" not in page
    assert '<span class="industry-name">制造业</span> <small class="code muted">C</small>' in facts \
        or f'<span class="industry-name">{industry_codes.names()["33"]}</span> <small class="code muted">33</small>' in facts


async def test_the_clause_page_says_its_rule_in_words(console_client, login, store):
    await login(console_client, "wang", "viewer")
    page = await _page(console_client, "/console/clauses/yunnan-2022-2-1")
    rule = _visible(page)
    codes = ("small_micro", "state_owned_lease", "county_risk_2022", "state_owned_monthly_rent", "individual_business", "min(")
    for code in codes:
        assert code not in rule, code
    assert "满足以下任一条件" in rule and "承租国有房屋（依据：“承租国有企业、机关事业单位国有房屋”）" in rule
    assert "云南省" in rule and "计算方法：承租国有房屋的月租金 ×" in rule


async def test_the_firm_page_shows_the_profile_by_label_with_units(console_client, login, store, production_matcher):
    await seed.feed_with(store, production_matcher, *_renter_events())
    await login(console_client, "wang", "viewer")
    page = await _page(console_client, f"/console/firms/{RENTER}")
    profile = _visible(_section(page, "当前档案"))
    assert "leases." not in page and "tax.cit" not in page and "state_owned_enterprise" not in page
    assert "房屋租赁 L0-2022：出租方类型国有企业" in profile
    assert "房屋租赁 L0-2022：月租金8,000.00元" in profile
    assert "2021年度企业所得税汇算：营业收入6,000,000.00元" in profile and "组织形式企业" in profile
    timeline = _visible(page.split("<h2>时间线", 1)[1])
    assert "房屋租赁 L0-2022：出租方类型：国有企业" in timeline
    assert "期间 一次性告知" in timeline and "once" not in timeline  # an inform clause's notice
