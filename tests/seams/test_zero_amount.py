"""The zero-amount rule through the real parts: a `met` whose computed benefit is nothing is not announced.

A first `met` of a period whose grant computes to 0 yuan creates no notice; a later positive grant in
the same period is then the one announced (as new: nothing was told before).
"""

from __future__ import annotations

import pytest

from tests import conftest, factories
from tests.seams import helpers

pytestmark = pytest.mark.parametrize("store", conftest.SQL_BACKENDS, indirect=True)

# lvliang-2022#18 (mode apply): "对交易中的买方，省中小企业发展促进局给予不超过交易金额的 20% 资金补助，
# 对同一企业同一年度内的知识产权交易，最高补助不超过 200 万元。"
IP_CLAUSE = "lvliang-2022-18"
LVLIANG_FIRM = factories.uscc(711, region="141102")  # 吕梁市离石区
# yunnan-2022#一(一) (mode apply): "对重点农业企业２０２２年新增贷款,按照不高于５％的利率给予５０％贴息"
LOAN_CLAUSE = "yunnan-2022-1-1"
YUNNAN_FIRM = factories.uscc(712, region="530102")  # 昆明市五华区


def lvliang_registration() -> tuple[dict, str]:
    return factories.event(firm=LVLIANG_FIRM, region="141102", occurred_at="2022-05-01T09:00:00+08:00"), "z-reg"


def ip_purchase(at: str, amount: float, transaction_id: str) -> dict:
    return factories.event(
        "ip.transaction", firm=LVLIANG_FIRM, occurred_at=f"{at}T10:00:00+08:00",
        transaction_id=transaction_id, role="buyer", amount=amount, date=at,
    )


async def test_purchases_after_the_yearly_cap_is_used_up_announce_nothing_more(make_client, store, production_matcher):
    client = await make_client(matcher=production_matcher)
    await helpers.deliver(
        client,
        lvliang_registration(),
        (ip_purchase("2022-06-01", 12_000_000, "IP-1"), "z-ip1"),  # 20% is 2,400,000: capped at 2,000,000
        (ip_purchase("2022-09-01", 1_000_000, "IP-2"), "z-ip2"),  # the year's cap is used up
    )

    granted = [v for v in await helpers.verdicts(store, LVLIANG_FIRM, IP_CLAUSE) if v[0] >= "2022-06-01"]
    assert granted == [("2022-06-01", "met", 2_000_000.0), ("2022-09-01", "not_met", None)]
    assert await helpers.notices(store, LVLIANG_FIRM, IP_CLAUSE) == [("email", "2022", 2_000_000.0), ("sms", "2022", 2_000_000.0)]


async def test_a_first_grant_of_nothing_is_not_announced_and_the_next_positive_one_is(make_client, store, production_matcher):
    client = await make_client(matcher=production_matcher)
    await helpers.deliver(client, lvliang_registration(), (ip_purchase("2022-06-01", 0.02, "IP-1"), "z-tiny"))
    # 20% of 0.02 yuan is 0.004: nothing, to the fen.
    assert (await helpers.verdicts(store, LVLIANG_FIRM, IP_CLAUSE))[-1] == ("2022-06-01", "met", 0.0)
    assert await helpers.notices(store, LVLIANG_FIRM, IP_CLAUSE) == []

    await helpers.deliver(client, (ip_purchase("2022-09-01", 1_000_000, "IP-2"), "z-ip2"))
    assert (await helpers.verdicts(store, LVLIANG_FIRM, IP_CLAUSE))[-1] == ("2022-09-01", "met", 200_000.0)
    assert await helpers.notices(store, LVLIANG_FIRM, IP_CLAUSE) == [("email", "2022", 200_000.0), ("sms", "2022", 200_000.0)]


async def test_an_interest_free_loan_earns_no_interest_subsidy_notice(make_client, store, production_matcher):
    client = await make_client(matcher=production_matcher)
    agri_leading = factories.event("certification.granted", firm=YUNNAN_FIRM, occurred_at="2022-06-02T09:00:00+08:00", granted_on="2022-06-02")
    agri_leading["data"]["kind"] = "agri_leading"  # `kind` is also factories.event's first parameter

    def agricultural_loan(at: str, loan_id: str, annual_rate: float) -> dict:
        return factories.event(
            "loan.issued", firm=YUNNAN_FIRM, occurred_at=f"{at}T09:00:00+08:00",
            loan_id=loan_id, principal=1_000_000, annual_rate=annual_rate, issued_on=at,
        )

    await helpers.deliver(
        client,
        (factories.event(firm=YUNNAN_FIRM, region="530102", occurred_at="2022-06-01T09:00:00+08:00"), "y-reg"),
        (agri_leading, "y-cert"),
        (agricultural_loan("2022-06-10", "LN-1", 0), "y-free"),
    )
    assert (await helpers.verdicts(store, YUNNAN_FIRM, LOAN_CLAUSE))[-1] == ("2022-06-10", "met", 0.0)
    assert await helpers.notices(store, YUNNAN_FIRM, LOAN_CLAUSE) == []

    await helpers.deliver(client, (agricultural_loan("2022-07-10", "LN-2", 4), "y-paid"))
    # 4% on 1,000,000 from 10 July to 31 December 2022 (175 days of 365) is 19,178.08; half of it is subsidised
    half = round(0.5 * 0.04 * 1_000_000 * 175 / 365, 2)
    assert half == 9589.04
    assert await helpers.notices(store, YUNNAN_FIRM, LOAN_CLAUSE) == [("email", "2022", half), ("sms", "2022", half)]
