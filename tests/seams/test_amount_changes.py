"""A benefit's amount that changes in its period is told, once per change, with the old amount, the
new one and why; grants under a cumulative cap are a ledger, equal grants included.

Through the real parts: signed webhooks, the pipeline, the production matcher, the SQL outbox, the
delivery worker with the real composer and the file connectors (what the firm receives).
"""

from __future__ import annotations

import dataclasses
import email
import email.policy
import json

import pytest

from engine.notices import compose, worker
from engine.web import senders
from tests import conftest, factories
from tests.seams import helpers
from tests.web import calculator_firms as firms

pytestmark = pytest.mark.parametrize("store", conftest.SQL_BACKENDS, indirect=True)

# lvliang-2022#18 (mode apply): "对交易中的买方，省中小企业发展促进局给予不超过交易金额的 20% 资金补助，
# 对同一企业同一年度内的知识产权交易，最高补助不超过 200 万元。"
IP_CLAUSE = "lvliang-2022-18"
IP_RATE, IP_CAP = 0.2, 2_000_000
BUYER = factories.uscc(721, region="141102")  # 吕梁市离石区

# yunnan-2022#一(一) (mode apply): "对重点农业企业２０２２年新增贷款,按照不高于５％的利率给予５０％贴息"
LOAN_CLAUSE = "yunnan-2022-1-1"
FARM = factories.uscc(722, region="530102")  # 昆明市五华区


@pytest.fixture
def notice_settings(config, tmp_path):
    return dataclasses.replace(config, notices=dataclasses.replace(
        config.notices, outbox_dir=tmp_path / "outbox", secret_key="k" * 32, quiet_hours=None))


async def send_all(store, notice_settings, production_matcher) -> None:
    """Run a delivery worker with the real composer and file connectors until nothing is due."""
    delivery = worker.DeliveryWorker(
        store, compose.Composer(production_matcher.catalogue, notice_settings.notices), senders.build_channels(notice_settings.notices, {}))
    await delivery.run_once()


def sms_text(notice_settings, notice_id: str) -> str:
    return json.loads((notice_settings.notices.outbox_dir / f"{notice_id}.sms.json").read_text(encoding="utf-8"))["text"]


def email_text(notice_settings, notice_id: str) -> tuple[str, str]:
    raw = (notice_settings.notices.outbox_dir / f"{notice_id}.eml").read_bytes()
    message = email.message_from_bytes(raw, policy=email.policy.default)
    return message["Subject"], message.get_body(("plain",)).get_content().replace("\r\n", "\n")


def contact(uscc: str, at: str) -> tuple[dict, str]:
    return factories.event("contact.updated", firm=uscc, occurred_at=f"{at}T08:00:00+08:00"), f"contact-{uscc}"


def purchase(at: str, amount: float, transaction_id: str) -> tuple[dict, str]:
    body = factories.event("ip.transaction", firm=BUYER, occurred_at=f"{at}T10:00:00+08:00",
                           transaction_id=transaction_id, role="buyer", amount=amount, date=at)
    return body, f"ip-{transaction_id}"


async def newest(store, uscc: str, clause_id: str, channel: str):
    return max((n for n in await store.firm_notices(uscc) if n.clause_id == clause_id and n.channel == channel),
               key=lambda n: n.revision)


async def test_two_equal_purchases_are_two_grants_each_told_and_the_cap_holds_against_their_ledger(
    make_client, store, production_matcher, notice_settings
):
    client = await make_client(matcher=production_matcher)
    await helpers.deliver(
        client,
        (factories.event(firm=BUYER, region="141102", occurred_at="2022-05-01T09:00:00+08:00"), "reg"),
        contact(BUYER, "2022-05-02"),
        purchase("2022-06-01", 1_000_000, "IP-1"),
    )
    await send_all(store, notice_settings, production_matcher)  # the first grant is told
    await helpers.deliver(client, purchase("2022-07-01", 1_000_000, "IP-2"))  # the same amount again: a second grant
    grant = IP_RATE * 1_000_000
    assert [v for v in await helpers.verdicts(store, BUYER, IP_CLAUSE) if v[1] == "met"] == [
        ("2022-06-01", "met", grant), ("2022-07-01", "met", grant)]
    assert await helpers.told(store, BUYER, IP_CLAUSE) == [
        ("email", "2022", 0, "new", grant, None), ("email", "2022", 1, "addition", grant, grant),
        ("sms", "2022", 0, "new", grant, None), ("sms", "2022", 1, "addition", grant, grant),
    ]
    await send_all(store, notice_settings, production_matcher)
    addition = await newest(store, BUYER, IP_CLAUSE, "sms")
    text = sms_text(notice_settings, addition.notice_id)
    # Too long to name within two segments at this site (the title and two maxima): the SMS says an amount
    # changed, never a new benefit, and links to the page; the email says it in full.
    assert "您有1项惠企政策的金额有调整" in text and "/m/" in text and "可申请" not in text
    # "给予不超过交易金额的 20% 资金补助": a maximum the agency sets, told as one.
    subject, body = email_text(notice_settings, (await newest(store, BUYER, IP_CLAUSE, "email")).notice_id)
    assert subject == "阳泉市城区示例商贸有限公司“推动科技成果转化和技术创新”新增不超过200,000.00元（累计不超过400,000.00元）"
    assert "此前已告知：不超过200,000.00元\n本次新增：不超过200,000.00元\n累计：不超过400,000.00元" in body
    assert "变化原因：本年度买入知识产权的交易金额由1,000,000.00元变为2,000,000.00元" in body
    assert "所属年度：2022年度" in body

    # A large purchase reaches the cap: the grant is what the ledger leaves of 2,000,000 (not 20% of it).
    await helpers.deliver(client, purchase("2022-08-01", 9_000_000, "IP-3"), purchase("2022-09-01", 500_000, "IP-4"))
    ledger = [v[2] for v in await helpers.verdicts(store, BUYER, IP_CLAUSE) if v[1] == "met"]
    assert ledger == [grant, grant, IP_CAP - 2 * grant]
    assert sum(ledger) == IP_CAP
    # Nothing more to grant after the cap, so nothing more recorded or told.
    assert [n[2] for n in await helpers.told(store, BUYER, IP_CLAUSE) if n[0] == "sms"] == [0, 1, 2]


async def test_a_county_designated_a_risk_area_after_the_waiver_tells_the_firm_the_adjusted_amount(
    make_client, store, production_matcher, notice_settings
):
    # yunnan-2022#二(一) (mode auto_grant): "减免３个月租金,其中,对２０２２年被列为疫情中高风险区所在县级行政区域内的
    # 服务业小微企业和个体工商户,减免６个月租金"
    client = await make_client(matcher=production_matcher)
    *before, designation = firms.renter_in_a_risk_county()
    await helpers.deliver(client, *before, contact(firms.RENTER, "2022-06-06"))
    await send_all(store, notice_settings, production_matcher)
    first = firms.MONTHS * firms.MONTHLY_RENT
    assert await helpers.told(store, firms.RENTER, firms.RENT_CLAUSE) == [
        ("email", "2022", 0, "new", first, None), ("sms", "2022", 0, "new", first, None)]

    await helpers.deliver(client, designation)
    adjusted = firms.RISK_AREA_MONTHS * firms.MONTHLY_RENT
    assert await helpers.told(store, firms.RENTER, firms.RENT_CLAUSE) == [
        ("email", "2022", 0, "new", first, None), ("email", "2022", 1, "adjustment", adjusted, first),
        ("sms", "2022", 0, "new", first, None), ("sms", "2022", 1, "adjustment", adjusted, first),
    ]
    await send_all(store, notice_settings, production_matcher)
    update = await newest(store, firms.RENTER, firms.RENT_CLAUSE, "sms")
    assert update.status.value == "sent"
    text = sms_text(notice_settings, update.notice_id)
    assert "金额由33,900.00元调整为67,800.00元（所在地区风险等级变化），无需申请" in text
    _, body = email_text(notice_settings, (await newest(store, firms.RENTER, firms.RENT_CLAUSE, "email")).notice_id)
    assert "原通知金额：33,900.00元\n调整后金额：67,800.00元" in body
    assert "变化原因：所在县（市、区）2022年是否被列为中高风险地区由否变为是" in body

    # The same designation again (sent twice by the data platform, under a new id) tells nothing more.
    await helpers.deliver(client, (designation[0], "calc-risk-again"))
    assert len(await helpers.told(store, firms.RENTER, firms.RENT_CLAUSE)) == 4


async def test_a_second_loan_in_the_year_adjusts_the_interest_subsidy(make_client, store, production_matcher):
    client = await make_client(matcher=production_matcher)
    agri_leading = factories.event("certification.granted", firm=FARM, occurred_at="2022-06-02T09:00:00+08:00", granted_on="2022-06-02")
    agri_leading["data"]["kind"] = "agri_leading"  # `kind` is also factories.event's first parameter

    def agricultural_loan(at: str, loan_id: str) -> tuple[dict, str]:
        body = factories.event("loan.issued", firm=FARM, occurred_at=f"{at}T09:00:00+08:00",
                               loan_id=loan_id, principal=1_000_000, annual_rate=4, issued_on=at)
        return body, f"loan-{loan_id}"

    await helpers.deliver(
        client,
        (factories.event(firm=FARM, region="530102", occurred_at="2022-06-01T09:00:00+08:00"), "farm-reg"),
        (agri_leading, "farm-cert"),
        agricultural_loan("2022-06-10", "LN-1"),
        agricultural_loan("2022-08-10", "LN-2"),
    )
    # "对重点农业企业２０２２年新增贷款,按照不高于５％的利率给予５０％贴息": half of the 4% interest each
    # 1,000,000 loan bears in 2022, from the day it was issued (205 and 144 days of 365), not a year's.
    first, second = 0.04 * 1_000_000 * 205 / 365, 0.04 * 1_000_000 * 144 / 365
    one, two = round(0.5 * first, 2), round(0.5 * (first + second), 2)
    assert (one, two) == (11232.88, 19123.29)
    assert await helpers.told(store, FARM, LOAN_CLAUSE) == [
        ("email", "2022", 0, "new", one, None), ("email", "2022", 1, "adjustment", two, one),
        ("sms", "2022", 0, "new", one, None), ("sms", "2022", 1, "adjustment", two, one),
    ]


async def test_a_lower_amount_is_told_too(make_client, store, production_matcher, notice_settings):
    # yunnan-2022#二(一) "减免３个月租金": the lease's rent is corrected downwards after the waiver was told.
    client = await make_client(matcher=production_matcher)
    *before, _designation = firms.renter_in_a_risk_county()
    await helpers.deliver(client, *before, contact(firms.RENTER, "2022-06-06"))
    await send_all(store, notice_settings, production_matcher)  # the waiver is told
    corrected = factories.event("lease.reported", firm=firms.RENTER, occurred_at="2022-07-01T09:00:00+08:00",
                                landlord_type="state_owned_enterprise", monthly_rent=9_000)
    await helpers.deliver(client, (corrected, "calc-lease-corrected"))
    first, lower = firms.MONTHS * firms.MONTHLY_RENT, firms.MONTHS * 9_000
    assert [n for n in await helpers.told(store, firms.RENTER, firms.RENT_CLAUSE) if n[0] == "sms"] == [
        ("sms", "2022", 0, "new", first, None), ("sms", "2022", 1, "adjustment", lower, first)]
    await send_all(store, notice_settings, production_matcher)
    text = sms_text(notice_settings, (await newest(store, firms.RENTER, firms.RENT_CLAUSE, "sms")).notice_id)
    assert "金额由33,900.00元调整为27,000.00元（国有房屋月租金变化）" in text


async def test_a_benefit_changed_before_it_was_told_is_told_once_at_its_amount_now(
    make_client, store, production_matcher, notice_settings
):
    # yunnan-2022#二(一) "减免３个月租金": the rent is corrected before the first message went out. The firm never
    # heard of the first amount, so it hears of the waiver once, at 3 × 9,000, with no "adjustment" of it.
    client = await make_client(matcher=production_matcher)
    *before, _designation = firms.renter_in_a_risk_county()
    corrected = factories.event("lease.reported", firm=firms.RENTER, occurred_at="2022-07-01T09:00:00+08:00",
                                landlord_type="state_owned_enterprise", monthly_rent=9_000)
    await helpers.deliver(client, *before, contact(firms.RENTER, "2022-06-06"), (corrected, "calc-lease-corrected"))
    first, lower = firms.MONTHS * firms.MONTHLY_RENT, firms.MONTHS * 9_000
    assert [n for n in await helpers.told(store, firms.RENTER, firms.RENT_CLAUSE) if n[0] == "email"] == [
        ("email", "2022", 0, "new", first, None), ("email", "2022", 1, "adjustment", lower, first)]
    await send_all(store, notice_settings, production_matcher)
    notices = [n for n in await store.firm_notices(firms.RENTER) if n.channel == "email"]
    assert {n.status.value for n in notices} == {"sent"} and len({n.digest_id for n in notices}) == 1
    subject, body = email_text(notice_settings, notices[0].digest_id)
    assert body.count("“加力房租减免”") == 1 and "金额：27,000.00元" in body  # its basis line, once
    assert "33,900.00元" not in body and "调整" not in body
