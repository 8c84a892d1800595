"""Issue 12, item 4: every message carries the link to the firm's page, an SMS of a single benefit too.

Before, an SMS of one benefit went out in its own template with no link, so a firm told of one grant had
no way to its page (its basis, agency, window, how to apply, 确认 and 有异议).
"""

from __future__ import annotations

import datetime as dt
import re

import pytest

from engine.core import matching, notice_status
from engine.judging.catalogue import loader
from engine.notices import channels, compose, config, firm_links, outbox

SITE = "https://zc.example.gov.cn"
SETTINGS = config.NoticeSettings(secret_key="sms-link-test", public_url=SITE, quiet_hours=None)
USCC = "91530102MA6K0XBX2E"
FIRM = "昆明五华示例商贸有限公司"
AT = dt.datetime(2026, 1, 5, 2, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def catalogue():
    return loader.load(verify_texts=False)


def _sms(catalogue, *items: tuple[str, float | None], kind: str = outbox.NEW, firm: str = FIRM,
         settings: config.NoticeSettings = SETTINGS) -> channels.SmsMessage:
    """The SMS the composer makes of one notice row per (clause, amount), as the worker hands them over."""
    rows, decisions = [], {}
    for number, (clause_id, amount) in enumerate(items, start=1):
        clause = catalogue.by_id[clause_id]
        decisions[number] = matching.Decision(clause.id, clause.cite, clause.rule_version, matching.Verdict.MET, amount=amount)
        rows.append(outbox.NoticeRecord(
            notice_id=f"ntc_{number:024d}", uscc=USCC, clause_id=clause_id, channel="sms", period="2022", decision_id=number,
            status=notice_status.NoticeStatus.SENDING, attempts=0, next_attempt_at=AT, lease_until=None, provider_id=None,
            message=None, reason=None, created_at=AT, updated_at=AT, kind=kind, revision=0 if kind == outbox.NEW else 1,
            amount=amount, previous_amount=None if kind == outbox.NEW else (amount or 0) / 2,
        ))
    profile = {"uscc": USCC, "name": firm, "contact": {"mobile": "+8613800138000"}}
    return compose.Composer(catalogue, settings)(rows, profile, decisions)


def _opens_the_firms_page(text: str, site: str = SITE) -> None:
    token = re.search(re.escape(site) + r"/m/(\S+) 回T退订$", text).group(1)
    uscc, _ = firm_links.read_short_token(SETTINGS.signing_key(), token, dt.datetime.now(dt.UTC), SETTINGS.firm_link_lifetime)
    assert uscc == USCC


def test_one_grant_is_named_with_its_amount_and_the_link(catalogue):
    sms = _sms(catalogue, ("yangquan-chengqu-2023-4", 5000.0))
    assert sms.template_code == "SMS_POLICY_AUTO_GRANT"
    assert sms.text.startswith("【政策直达】昆明五华示例商贸有限公司：“增值税小规模纳税人阶段性免征增值税”已为您办理，无需申请，金额5,000.00元。详见")
    assert channels.sms_segments(sms.text) <= 2
    _opens_the_firms_page(sms.text)


def test_one_benefit_too_long_to_name_is_counted_with_the_link(catalogue):
    # lvliang-2022#10 has no end date and a long title; at a long site address it does not fit two segments.
    site = "https://zhengce-zhida.lvliang-lishi.example.gov.cn"
    settings = config.NoticeSettings(secret_key="sms-link-test", public_url=site, quiet_hours=None)
    named = _sms(catalogue, ("lvliang-2022-10", 48_000.0))
    assert named.template_code == "SMS_POLICY_APPLY" and "您可申请“支持“专精特新”中小企业挂牌展示、转板上市”" in named.text
    counted = _sms(catalogue, ("lvliang-2022-10", 48_000.0), settings=settings)
    assert counted.template_code == "SMS_POLICY_DIGEST_APPLY" and "您有1项惠企政策可申请" in counted.text
    assert channels.sms_segments(counted.text) <= 2
    _opens_the_firms_page(counted.text, site)


def test_an_application_whose_time_has_passed_is_never_told_as_one_the_firm_may_make(catalogue):
    # yunnan-2022#一(一) ran to 2022-12-31 (before: "您可申请…政策已到期" in one breath).
    sms = _sms(catalogue, ("yunnan-2022-1-1", 48_000.0))
    assert sms.template_code == "SMS_POLICY_DIGEST_NEWS"
    assert "可申请" not in sms.text and "您有1项惠企政策信息" in sms.text
    _opens_the_firms_page(sms.text)


def test_one_change_too_long_to_name_is_told_as_a_change(catalogue):
    sms = _sms(catalogue, ("yangquan-chengqu-2023-14-subsidy", 1_234_567.89), kind=outbox.ADJUSTMENT,
               firm="阳泉市城区示例国际供应链管理集团有限公司")
    assert channels.sms_segments(sms.text) <= 2
    if sms.template_code != "SMS_POLICY_ADJUSTMENT":
        assert sms.template_code == "SMS_POLICY_DIGEST_CHANGES" and "1项惠企政策的金额有调整" in sms.text
        assert "已为您办理" not in sms.text and "可申请" not in sms.text
    _opens_the_firms_page(sms.text)


def test_several_benefits_are_one_counted_sms_with_the_link(catalogue):
    sms = _sms(catalogue, ("yangquan-chengqu-2023-4", 5000.0), ("datong-2022-7", None))
    assert sms.template_code == "SMS_POLICY_DIGEST_GRANTS"
    assert "已为您办理1项惠企政策（合计5,000.00元）" in sms.text
    _opens_the_firms_page(sms.text)
