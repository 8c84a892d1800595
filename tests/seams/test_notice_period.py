"""The notice period rule through the real parts: production matcher, webhook, pipeline, SQL outbox.

A benefit is announced once per channel and period, and each later change of its amount in the
period once more. `apply` and `auto_grant` clauses are granted per calendar year, so a firm met again
in a later year is told again; an `inform` clause tells a firm about a service once, however often
its verdict comes and goes.
"""

from __future__ import annotations

import pytest

from tests import conftest, factories
from tests.seams import helpers

pytestmark = pytest.mark.parametrize("store", conftest.SQL_BACKENDS, indirect=True)

LVLIANG_FIRM = factories.uscc(701, region="141102")  # 吕梁市离石区
QINGHAI_FIRM = factories.uscc(702, region="630102")  # 西宁市城东区


def ip_purchase(at: str, amount: float, transaction_id: str) -> dict:
    return factories.event(
        "ip.transaction", firm=LVLIANG_FIRM, occurred_at=f"{at}T10:00:00+08:00",
        transaction_id=transaction_id, role="buyer", amount=amount, date=at,
    )


def vat_return(at: str, period: str, sales: int) -> dict:
    return factories.event("tax.vat_declared", firm=QINGHAI_FIRM, occurred_at=f"{at}T10:00:00+08:00", period=period, sales=sales)


async def test_an_apply_clause_is_announced_in_each_year_it_is_met_and_each_further_grant_is_told(make_client, store, production_matcher):
    # lvliang-2022#18 (mode apply): "对交易中的买方，省中小企业发展促进局给予不超过交易金额的 20% 资金补助，
    # 对同一企业同一年度内的知识产权交易，最高补助不超过 200 万元。"
    client = await make_client(matcher=production_matcher)
    await helpers.deliver(
        client,
        (factories.event(firm=LVLIANG_FIRM, region="141102", occurred_at="2022-05-01T09:00:00+08:00"), "p-reg"),
        (ip_purchase("2022-06-01", 5_000_000, "IP-1"), "p-ip1"),
        (ip_purchase("2022-09-01", 1_000_000, "IP-2"), "p-ip2"),
        (ip_purchase("2023-03-01", 3_000_000, "IP-3"), "p-ip3"),
    )

    # Three grants, two of them in 2022 ...
    assert [v for v in await helpers.verdicts(store, LVLIANG_FIRM, "lvliang-2022-18") if v[1] == "met"] == [
        ("2022-06-01", "met", 1_000_000.0), ("2022-09-01", "met", 200_000.0), ("2023-03-01", "met", 600_000.0),
    ]
    # ... each one told: the first of a year as new, the second 2022 grant as an addition (追加) to the
    # 1,000,000 told before, and 2023's as new again (the cap runs per year).
    assert await helpers.told(store, LVLIANG_FIRM, "lvliang-2022-18") == [
        ("email", "2022", 0, "new", 1_000_000.0, None), ("email", "2022", 1, "addition", 200_000.0, 1_000_000.0),
        ("email", "2023", 0, "new", 600_000.0, None),
        ("sms", "2022", 0, "new", 1_000_000.0, None), ("sms", "2022", 1, "addition", 200_000.0, 1_000_000.0),
        ("sms", "2023", 0, "new", 600_000.0, None),
    ]


async def test_an_auto_grant_clause_met_again_in_the_next_year_is_announced_again(make_client, store, production_matcher):
    # qinghai-2022#(二) (mode auto_grant): "深入落实月销售额15万元(含)以下的小规模纳税人免征增值税……"
    client = await make_client(matcher=production_matcher)
    await helpers.deliver(
        client,
        (factories.event(firm=QINGHAI_FIRM, region="630102", occurred_at="2022-03-01T09:00:00+08:00"), "q-reg"),
        (vat_return("2022-04-15", "2022-03", 100_000), "q-vat1"),
        (vat_return("2022-05-15", "2022-04", 200_000), "q-vat2"),
        (vat_return("2022-06-15", "2022-05", 100_000), "q-vat3"),
        (vat_return("2023-02-15", "2023-01", 200_000), "q-vat4"),
        (vat_return("2023-03-15", "2023-02", 100_000), "q-vat5"),
    )

    met_on = [as_of for as_of, verdict, _ in await helpers.verdicts(store, QINGHAI_FIRM, "qinghai-2022-2") if verdict == "met"]
    assert met_on == ["2022-04-15", "2022-06-15", "2023-03-15"]
    assert await helpers.notices(store, QINGHAI_FIRM, "qinghai-2022-2") == [
        ("email", "2022", None), ("email", "2023", None), ("sms", "2022", None), ("sms", "2023", None),
    ]


async def test_an_inform_clause_is_announced_once_by_email_ever(make_client, store, production_matcher):
    # qinghai-2022#(三) (mode inform): "同时为“专精特新”中小企业建立“一户一档”，实施“一户一策”，
    # 依托大数据筛选对符合条件的中小企业直推税费优惠政策。"
    client = await make_client(matcher=production_matcher)
    await helpers.deliver(
        client,
        (factories.event(firm=QINGHAI_FIRM, region="630102", occurred_at="2022-03-01T09:00:00+08:00"), "i-reg"),
        (factories.event("certification.granted", firm=QINGHAI_FIRM, occurred_at="2022-04-01T09:00:00+08:00", granted_on="2022-04-01"), "i-cert1"),
        (factories.event("certification.revoked", firm=QINGHAI_FIRM, occurred_at="2022-08-01T09:00:00+08:00", revoked_on="2022-08-01"), "i-revoke"),
        (factories.event("certification.granted", firm=QINGHAI_FIRM, occurred_at="2023-04-01T09:00:00+08:00", granted_on="2023-04-01"), "i-cert2"),
    )

    verdicts = [(as_of, verdict) for as_of, verdict, _ in await helpers.verdicts(store, QINGHAI_FIRM, "qinghai-2022-3")]
    assert [v for v in verdicts if v[0] >= "2022-04-01"] == [("2022-04-01", "met"), ("2022-08-01", "not_met"), ("2023-04-01", "met")]
    # Told once, by email only: a service made known is not worth an SMS.
    assert await helpers.notices(store, QINGHAI_FIRM, "qinghai-2022-3") == [("email", "once", None)]
