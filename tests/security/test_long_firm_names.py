"""Issue 18, item 4: every name the event schemas accept reaches its firm by SMS, within the segment budget.

Before: the SMS `firm` parameter was the registered name itself, which the provider refuses over 35
characters, so a 36-character branch name got every SMS `dead`; a name of spaces alone was accepted.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest

from engine import constants
from engine.cli import templates as templates_cli
from engine.core import matching, notice_status
from engine.ingest import validation
from engine.ingest.event_types import firm_registered, firm_updated
from engine.judging.catalogue import loader
from engine.notices import channels, compose, config, content, outbox, render
from tests import factories

#: A real shape of a 36-character name: a group's branch with its place of business.
BRANCH_36 = "云南滇池示例国际供应链管理集团股份有限公司昆明经济技术开发区分公司（一）"
NAME_60 = "青海高原示例生态农牧业综合开发集团有限责任公司西宁市城东区第二分公司（经营场所：西宁市城东区八一路一百零八号院内东侧楼）"
NAME_200 = ("阳泉市城区示例商贸供应链管理服务中心" * 12)[:200]
UNSUBSCRIBE = "https://push.example.cn/unsubscribe/abc.DEF"


@pytest.fixture(scope="module")
def catalogue():
    return loader.load(verify_texts=False)


def _notices(catalogue, name):
    """Every firm-facing clause's notice to the firm `name`, written after its window closed (the
    longest words), with a seven-digit amount where the clause computes one."""
    for clause in catalogue.firm_facing():
        computes = clause.benefit is not None and clause.benefit.formula is not None
        decision = matching.Decision(clause.id, clause.cite, clause.rule_version, matching.Verdict.MET,
                                     amount=1_234_567.89 if computes else None)
        today = clause.valid_to + dt.timedelta(days=1) if clause.valid_to else clause.valid_from
        yield content.build(catalogue, decision, {"uscc": factories.uscc(7), "name": name}, notice_id="ntc_" + "0" * 24,
                            sign_name=constants.SMS_SIGN_NAME, unsubscribe_url=UNSUBSCRIBE,
                            period=matching.period_for(clause.mode, today), today=today)


def _sent_sms(catalogue, notice: content.NoticeContent) -> channels.SmsMessage:
    """The SMS the service sends for `notice` alone: what the composer makes of its notice row."""
    settings = config.NoticeSettings(secret_key="long-names", public_url="https://push.example.cn", quiet_hours=None)
    clause = catalogue.by_id[notice.clause_id]
    decision = matching.Decision(clause.id, clause.cite, clause.rule_version, matching.Verdict.MET, amount=notice.amount)
    at = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    row = outbox.NoticeRecord(
        notice_id="ntc_" + "0" * 24, uscc=notice.uscc, clause_id=clause.id, channel="sms", period="once", decision_id=1,
        status=notice_status.NoticeStatus.SENDING, attempts=0, next_attempt_at=at, lease_until=None, provider_id=None,
        message=None, reason=None, created_at=at, updated_at=at, amount=notice.amount,
    )
    profile = {"uscc": notice.uscc, "name": notice.firm_name, "contact": {"mobile": "+8613800138000"}}
    return compose.Composer(catalogue, settings)([row], profile, {1: decision})


@pytest.mark.parametrize(("length", "name"), [(36, BRANCH_36), (60, NAME_60), (200, NAME_200)], ids=["36", "60", "200"])
def test_a_long_name_gets_an_sms_within_the_budget_and_the_email_keeps_it_whole(catalogue, length, name):
    assert len(name) == length
    for notice in _notices(catalogue, name):
        sms = _sent_sms(catalogue, notice)  # before: SmsParamError (firm over 35 characters)
        firm = sms.params["firm"]
        assert 1 <= len(firm) <= render.SMS_PARAM_MAX_CHARS
        assert firm in sms.text and firm != name
        assert channels.sms_segments(sms.text) <= templates_cli.DEFAULT_SEGMENT_BUDGET, (notice.clause_id, sms.text)
        assert "https://push.example.cn/m/" in sms.text  # and it always carries the link to the firm's page
        email = render.render_email(notice, "finance@example.cn")
        assert name in email.text and name in email.html and name in email.subject


def test_the_short_form_keeps_the_distinctive_front_of_the_name(catalogue):
    notice = next(_notices(catalogue, BRANCH_36))
    assert notice.firm_name == BRANCH_36
    # The organisational form goes first; the branch and the group's own name (字号) stay.
    assert notice.firm_short_name == "云南滇池示例国际供应链管理集团昆明经济技术开发区分公司（一）"
    assert next(_notices(catalogue, NAME_200)).firm_short_name.startswith("阳泉市城区示例商贸")


def test_templates_lint_checks_the_longest_name_accepted(catalogue):
    renderer = render.Renderer()
    report = templates_cli.lint(catalogue, renderer, budget=templates_cli.DEFAULT_SEGMENT_BUDGET, sign_name=constants.SMS_SIGN_NAME)
    assert report.problems == []
    firms = {sample.firm_name for clause in catalogue.firm_facing()
             for sample in templates_cli.samples(catalogue, clause, constants.SMS_SIGN_NAME)}
    assert max(len(firm) for firm in firms) == 200


BLANK = ["   ", "\u3000\u3000", "\t\n", " \u200b "]


@pytest.mark.parametrize("kind", ["firm.registered", "firm.updated"])
@pytest.mark.parametrize("name", BLANK, ids=["spaces", "ideographic", "tab-newline", "zero-width"])
def test_a_blank_name_is_refused_naming_the_field(kind, name):
    with pytest.raises(validation.Invalid) as raised:
        validation.validate(factories.event(kind, name=name), webhook_id="msg_blank")
    assert [p.path for p in raised.value.problems] == ["/data/name"]
    assert "visible character" in raised.value.problems[0].reason


def test_a_name_is_stored_trimmed():
    data = factories.event("firm.registered", name="\u3000 云南滇池示例商贸有限公司 \u200b")["data"]
    assert firm_registered.fold(data)["name"] == "云南滇池示例商贸有限公司"
    assert firm_updated.fold({"name": " 云南滇池示例商贸有限公司\t"})["name"] == "云南滇池示例商贸有限公司"


async def test_the_webhook_answers_422_for_a_blank_name_and_stores_nothing(client, store):
    body, headers = factories.signed(factories.event(name="  \u3000 "), msg_id="msg_blank_name")
    response = await client.post("/webhooks/events", data=body, headers=headers)
    assert response.status == 422
    problems = (await response.json())["problems"]
    assert [p["path"] for p in problems] == ["/data/name"], json.dumps(problems, ensure_ascii=False)
    assert await store.get_event("msg_blank_name") is None
