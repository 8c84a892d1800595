"""NoticeContent: what a notice says, derived from the clause, its document, the decision and the profile."""

from __future__ import annotations

import datetime as dt

import pytest

from engine.core import matching
from engine.judging.catalogue import loader
from engine.notices import content

PROFILE = {"uscc": "91530100MA6K00000X", "name": "云南滇池示例商贸有限公司", "contact": {"mobile": "+8613800138000"}}


@pytest.fixture(scope="module")
def catalogue():
    return loader.load(verify_texts=False)


def decide(catalogue, clause_id, amount=None, status=matching.Verdict.MET):
    clause = catalogue.by_id[clause_id]
    return matching.Decision(clause.id, clause.cite, clause.rule_version, status, amount=amount)


#: A day inside the 2022 windows: what a notice written while the benefit is current says.
IN_WINDOW = dt.date(2022, 6, 1)


def build(catalogue, clause_id, amount=None, **kwargs):
    return content.build(catalogue, decide(catalogue, clause_id, amount), kwargs.pop("profile", PROFILE),
                         notice_id="ntc_1", sign_name="政策直达", unsubscribe_url="https://x.cn/unsubscribe/t",
                         today=kwargs.pop("today", IN_WINDOW), **kwargs)


def test_auto_grant_rent_waiver(catalogue):
    notice = build(catalogue, "yunnan-2022-2-1", 48000.0)
    assert notice.mode == "auto_grant" and not notice.needs_application and notice.application is None
    assert notice.firm_name == "云南滇池示例商贸有限公司" and notice.uscc == "91530100MA6K00000X"
    assert notice.cite == "yunnan-2022#二(一)" and notice.clause_ref == "二（一）"
    assert notice.clause_title == "加力房租减免"
    assert notice.document_title == "云南省进一步帮扶中小微企业纾困发展工作方案" and notice.document_number is None
    assert notice.document_ref == "《云南省进一步帮扶中小微企业纾困发展工作方案》"
    assert notice.legal_basis == "《云南省进一步帮扶中小微企业纾困发展工作方案》二（一）“加力房租减免”"
    assert notice.issuer == "云南省人民政府办公厅"
    assert notice.benefit_description.startswith("2022年减免3个月租金")
    assert notice.amount == 48000.0 and notice.amount_text == "48,000.00元"
    assert notice.agencies[0] == "省国资委" and notice.lead_agency == "省国资委等"
    assert notice.agency_text.startswith("省国资委、省财政厅、")
    assert (notice.valid_from, notice.valid_to) == (dt.date(2022, 5, 31), dt.date(2022, 12, 31))
    assert notice.window_text == "2022年5月31日至2022年12月31日"
    assert notice.deadline_text == "政策有效期至2022年12月31日"
    assert notice.application_need == "无需申请（已为您办理）"
    assert notice.sign_name == "政策直达" and notice.service_name == content.DEFAULT_SERVICE_NAME


def test_apply_carries_how_and_where_and_no_invented_deadline(catalogue):
    notice = build(catalogue, "yunnan-2022-1-1", 12345.675)
    assert notice.mode == "apply" and notice.needs_application
    assert notice.application == "向省财政厅提出贴息申请（省农业农村厅等按照职责分工负责）。"
    assert notice.amount_text == "12,345.68元"  # half up, to the fen
    # "对重点农业企业２０２２年新增贷款,按照不高于５％的利率给予５０％贴息": the text sets no date to apply by,
    # only the measure's end; the firm is told that, not "请于…前提出申请".
    assert notice.deadline_text == "文件未规定申请截止日期，政策有效期至2022年12月31日"


def test_an_application_deadline_is_told_only_where_the_text_states_one():
    end, stated = dt.date(2022, 12, 31), dt.date(2022, 9, 30)
    assert content.deadline_text("apply", end, application_deadline=stated) == "请于2022年9月30日前提出申请"
    assert (content.deadline_text("apply", end, application_deadline=stated, deadline_passed=True)
            == "原申请期限至2022年9月30日，现能否申请请咨询")
    assert content.deadline_text("apply", end, closed=True) == "政策有效期已于2022年12月31日结束，现能否申请请咨询"


def test_a_maximum_in_the_text_is_told_as_one(catalogue):
    # lvliang-2022#18: "给予不超过交易金额的 20% 资金补助": the agency sets the grant, up to 20%.
    assert build(catalogue, "lvliang-2022-18", 200_000).amount_text == "不超过200,000.00元"


def test_inform_with_document_number_and_no_end_date(catalogue):
    notice = build(catalogue, "lvliang-2022-26")
    assert notice.mode == "inform" and not notice.needs_application and notice.application is None
    assert notice.amount is None and notice.amount_text is None
    assert notice.document_ref == "《关于推进市场主体倍增的工作方案》（吕企发〔2022〕22号）"
    assert notice.clause_ref == "第26条"
    assert notice.valid_to is None
    assert notice.window_text == "2022年4月22日起（文件未规定截止日期）"
    assert notice.deadline_text == "文件未规定政策截止日期"
    # The clause names no 责任单位: the issuing office answers for it.
    assert notice.agencies == ()
    assert notice.lead_agency == "吕梁市中小企业服务中心"
    assert notice.agency_text == "未列明（发文单位：吕梁市中小企业服务中心）"


def test_apply_without_end_date_asks_to_apply_early(catalogue):
    assert build(catalogue, "datong-2022-1").deadline_text == "文件未规定申请截止日期，请尽早申请"


def test_agency_duties_never_become_notices(catalogue):
    with pytest.raises(ValueError, match="not firm-facing"):
        build(catalogue, "datong-2022-5")


def test_only_met_decisions_are_announced(catalogue):
    decision = decide(catalogue, "yunnan-2022-2-1", status=matching.Verdict.UNKNOWN)
    with pytest.raises(ValueError, match="only met decisions"):
        content.build(catalogue, decision, PROFILE, notice_id="n", sign_name="s", unsubscribe_url="u")


def test_unknown_clause_and_incomplete_profile_are_refused(catalogue):
    decision = matching.Decision("nowhere-1", "nowhere#1", "v", matching.Verdict.MET)
    with pytest.raises(ValueError, match="no such clause"):
        content.build(catalogue, decision, PROFILE, notice_id="n", sign_name="s", unsubscribe_url="u")
    with pytest.raises(ValueError, match="name or USCC"):
        build(catalogue, "yunnan-2022-2-1", 1.0, profile={"uscc": "91530100MA6K00000X"})


@pytest.mark.parametrize(("amount", "unit", "text"), [
    (48000, "yuan", "48,000.00元"),
    (0.005, "yuan", "0.01元"),
    (2000000, "yuan", "2,000,000.00元"),
    (3, "months", "3个月"),
    (50, "percent", "50%"),
])
def test_format_amount(amount, unit, text):
    assert content.format_amount(amount, unit) == text


@pytest.mark.parametrize(("cite", "ref"), [
    ("datong-2022#1", "第1条"), ("qinghai-2022#(二十一)", "（二十一）"), ("yunnan-2022#二(一)", "二（一）"),
])
def test_clause_ref(cite, ref):
    assert content.clause_ref(cite) == ref
