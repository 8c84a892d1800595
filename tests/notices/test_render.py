"""Rendering notices: what a firm reads in the SMS and the email, per mode, and what the provider is sent."""

from __future__ import annotations

import datetime as dt

import dataclasses
import re
import shutil

import jinja2
import jinja2.meta
import pytest
import yaml

from engine.core import matching
from engine.judging.catalogue import loader
from engine.notices import channels, content, render

FIRM = "阳泉市城区示例商贸有限公司"
PHONE = "+8613800138000"
UNSUBSCRIBE = "https://push.example.cn/unsubscribe/abc.DEF"
SITE = "https://zc.example.gov.cn"
#: The short link's token an SMS carries (firm_links.make_short_token), fixed for exact texts.
LINK = "91140302MA0K4XBX2E00000ABCDEFGHIJ"


@pytest.fixture(scope="module")
def catalogue():
    return loader.load(verify_texts=False)


@pytest.fixture
def notice(catalogue):
    def make(clause_id, amount=None, firm=FIRM, today=dt.date(2022, 6, 1)):
        # Written on a day inside the 2022 windows, as the benefit is announced while current.
        clause = catalogue.by_id[clause_id]
        decision = matching.Decision(clause.id, clause.cite, clause.rule_version, matching.Verdict.MET, amount=amount)
        return content.build(catalogue, decision, {"uscc": "91140302MA0K4XBX2E", "name": firm},
                             notice_id="ntc_0123", sign_name="政策直达", unsubscribe_url=UNSUBSCRIBE, today=today,
                             short_link=LINK, site=SITE)
    return make


@pytest.fixture
def templates(tmp_path):
    """A writable copy of the repository's templates."""
    target = tmp_path / "templates"
    shutil.copytree(render.templates_dir(), target)
    return target


def test_auto_grant(notice):
    n = notice("yangquan-chengqu-2023-4", 5000.0)
    sms = render.render_sms(n, PHONE)
    # The SMS names the benefit and the amount; the basis, the agency and the window are on the firm's page,
    # which the link opens.
    assert sms.text == (
        "【政策直达】阳泉市城区示例商贸有限公司：“增值税小规模纳税人阶段性免征增值税”已为您办理，无需申请，"
        f"金额5,000.00元。详见{SITE}/m/{LINK} 回T退订"
    )
    assert sms.params["link"] == LINK and SITE not in sms.params.values()  # the site is filed with the template
    assert (sms.phone, sms.sign_name, sms.template_code, sms.out_id) == (PHONE, "政策直达", "SMS_POLICY_AUTO_GRANT", "ntc_0123")
    email = render.render_email(n, "finance@example.cn")
    assert email.to == "finance@example.cn"
    assert email.subject == "已为阳泉市城区示例商贸有限公司办理“增值税小规模纳税人阶段性免征增值税”（5,000.00元），无需申请"
    for body in (email.text, email.html):
        assert FIRM in body
        assert "已为您办理" in body and "无需申请（已为您办理）" in body
        assert "增值税小规模纳税人阶段性免征增值税，申报时享受" in body  # the benefit, in full
        assert "5,000.00元" in body
        assert "《阳泉市城区加大纾困帮扶力度支持中小企业平稳健康发展若干措施》（城政办发〔2023〕3号）第4条“增值税小规模纳税人阶段性免征增值税”" in body
        assert "yangquan-chengqu-2023#4" in body
        assert "国家税务总局阳泉市城区税务局、区财政局" in body
        assert "2023年2月10日至2025年12月31日" in body
        assert UNSUBSCRIBE in body
    assert "申请方式" not in email.text


def test_apply(notice):
    n = notice("yunnan-2022-1-1", 3000.0)
    sms = render.render_sms(n, PHONE)
    assert sms.template_code == "SMS_POLICY_APPLY"
    # The SMS never leaves the time to apply to the page: the text sets no application deadline, so it
    # says until when the measure runs (the email says in full that the text sets none).
    assert sms.text == (
        "【政策直达】阳泉市城区示例商贸有限公司：您可申请“财政惠企专项行动”，金额3,000.00元，"
        f"政策有效期至2022年12月31日。详见{SITE}/m/{LINK} 回T退订"
    )
    assert channels.sms_segments(sms.text) == 2
    email = render.render_email(n, "finance@example.cn")
    assert email.subject == "阳泉市城区示例商贸有限公司可申请“财政惠企专项行动”（3,000.00元），文件未规定申请截止日期，政策有效期至2022年12月31日"
    assert "您可申请享受" in email.text
    assert "是否需要申请：需要申请（请按下述方式提出）" in email.text
    assert "申请方式：向省财政厅提出贴息申请（省农业农村厅等按照职责分工负责）。" in email.text
    assert "申请时限：文件未规定申请截止日期，政策有效期至2022年12月31日" in email.text
    assert "金额：3,000.00元" in email.text
    assert "<th align=\"left\" valign=\"top\">申请方式</th><td>向省财政厅提出贴息申请" in email.html


def test_apply_without_computed_amount_says_who_decides(notice):
    sms = render.render_sms(notice("datong-2022-14"), PHONE)
    assert sms.params["amount"] == "以审核结果为准"
    assert "金额以审核结果为准" in sms.text
    assert "，请尽早申请。" in sms.text  # the text sets no deadline and no end


def test_inform(notice):
    n = notice("datong-2022-7")
    sms = render.render_sms(n, PHONE)
    assert sms.template_code == "SMS_POLICY_INFORM"
    assert sms.text == (
        f"【政策直达】阳泉市城区示例商贸有限公司：“鼓励银行创新融资方式”适用于贵单位，无需申请。详见{SITE}/m/{LINK} 回T退订"
    )
    email = render.render_email(n, "finance@example.cn")
    assert email.subject == "政策告知：“鼓励银行创新融资方式”适用于阳泉市城区示例商贸有限公司"
    assert "是否需要申请：无需申请（政策告知）" in email.text
    assert "有效期：2022年1月1日起（文件未规定截止日期）" in email.text
    assert "金额" not in email.text


def test_email_headers_and_stable_message_id(notice):
    n = notice("datong-2022-7")
    first, again = render.render_email(n, "a@example.cn"), render.render_email(n, "a@example.cn")
    assert first == again
    assert first.message_id == "ntc_0123@policy-push"
    assert first.headers == {
        "List-Unsubscribe": f"<{UNSUBSCRIBE}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        "X-Notice-Id": "ntc_0123",
    }
    assert f'<a href="{UNSUBSCRIBE}">' in first.html


def test_sms_params_are_exactly_the_template_variables_and_strings(notice):
    config = yaml.safe_load((render.templates_dir() / render.SMS_CONFIG).read_text(encoding="utf-8"))
    env = jinja2.Environment()
    cases = {"auto_grant": "yangquan-chengqu-2023-4", "apply": "yunnan-2022-1-1", "inform": "datong-2022-7",
             "yunnan-2022-2-1": "yunnan-2022-2-1"}
    for key, clause_id in cases.items():
        entry = config["modes"].get(key) or config["clauses"][key]
        path = render.templates_dir() / f"{key}/sms.txt" if key in config["modes"] \
            else render.clause_template_dirs()[key] / "sms.txt"
        source = path.read_text(encoding="utf-8")
        variables = jinja2.meta.find_undeclared_variables(env.parse(source))
        sms = render.render_sms(notice(clause_id, 48000.0), PHONE)
        assert sms.template_code == entry["template_code"]
        assert list(sms.params) == entry["params"]
        # The site before the link is filed as part of the template, not sent as a parameter.
        assert set(sms.params) | render.SMS_FIXED == variables, key
        assert all(type(value) is str and value for value in sms.params.values())
        # What the provider sends (its template, the site filed in it, with ${name} filled) is the text kept for audit.
        provider = re.sub(r"\{\{ (\w+) \}\}", r"${\1}", source.strip().replace("{{ site }}", SITE))
        sent = re.sub(r"\$\{(\w+)\}", lambda m, params=sms.params: params[m.group(1)], provider)
        assert sms.text == "【政策直达】" + sent


@pytest.mark.parametrize(("length", "segments"), [(1, 1), (70, 1), (71, 2), (134, 2), (135, 3), (201, 3), (202, 4)])
def test_sms_segments(length, segments):
    assert channels.sms_segments("【政策直达】" + "惠" * (length - 6)) == segments


def test_sms_segments_count_characters_outside_the_bmp_twice():
    assert channels.sms_segments("𠮷" * 35) == 1
    assert channels.sms_segments("𠮷" * 35 + "a") == 2


def test_clause_override_is_used(notice):
    n = notice("yunnan-2022-2-1", 48000.0)
    sms = render.render_sms(n, PHONE)
    assert sms.template_code == "SMS_POLICY_RENT_WAIVER"
    assert "“加力房租减免”：国有房屋租金减免48,000.00元，无需申请；出租方未落实请联系省国资委等" in sms.text
    email = render.render_email(n, "a@example.cn")
    assert email.subject == "阳泉市城区示例商贸有限公司：国有房屋租金已为您减免48,000.00元（“加力房租减免”），无需申请"
    assert "如出租方未按规定落实减免，请联系省国资委等" in email.text
    assert "如出租方未按规定落实减免，请联系省国资委等" in email.html
    # The override extends the mode's body, so the facts every notice gives are still there.
    assert "政策依据：《云南省进一步帮扶中小微企业纾困发展工作方案》二（一）“加力房租减免”" in email.text


def test_override_lookup_in_the_document_folder(notice, templates, tmp_path):
    # A clause's own templates live in its document's folder: rules/<slug>/templates/<clause id>/.
    folder = tmp_path / "rules" / "datong-2022" / "templates" / "datong-2022-7"
    folder.mkdir(parents=True)
    (folder / "email_subject.txt").write_text("{{ firm_name }}：融资新方式", encoding="utf-8")
    renderer = render.Renderer(templates, rules=tmp_path / "rules")
    assert renderer.template_name("datong-2022-7", "inform", "email_subject.txt") == "clauses/datong-2022-7/email_subject.txt"
    email = renderer.render_email(notice("datong-2022-7"), "a@example.cn")
    assert email.subject == f"{FIRM}：融资新方式"
    assert "“鼓励银行创新融资方式”" in email.text  # the other files still come from the mode


def test_strict_undefined_catches_a_missing_variable(notice, templates):
    path = templates / "inform" / "email.txt"
    path.write_text(path.read_text(encoding="utf-8").replace("特此告知", "{{ hotline }}"), encoding="utf-8")
    with pytest.raises(jinja2.UndefinedError, match="hotline"):
        render.render_email(notice("datong-2022-7"), "a@example.cn", templates=templates)


def test_sms_template_and_declared_params_must_agree(notice, templates):
    (templates / "inform" / "sms.txt").write_text("{{ firm }}：“{{ benefit }}”适用于贵单位。回T退订\n", encoding="utf-8")
    with pytest.raises(render.TemplateConfigError, match="declares"):
        render.render_sms(notice("datong-2022-7"), PHONE, templates=templates)


def test_html_is_escaped_and_text_is_not(notice):
    n = notice("datong-2022-7", firm="<b>A&B</b>贸易有限公司")
    email = render.render_email(n, "a@example.cn")
    assert "&lt;b&gt;A&amp;B&lt;/b&gt;贸易有限公司" in email.html
    assert "<b>A&B</b>" not in email.html
    assert email.text.startswith("<b>A&B</b>贸易有限公司（统一社会信用代码")
    assert "<b>A&B</b>贸易有限公司" in email.subject


def test_subject_and_sms_params_stay_on_one_line(notice):
    n = notice("datong-2022-7", firm="示例\r\nBcc: x@evil.cn 有限公司")
    assert "\n" not in render.render_email(n, "a@example.cn").subject
    assert render.render_sms(n, PHONE).params["firm"] == "示例 Bcc: x@evil.cn 有限公司"


def test_a_parameter_the_provider_would_refuse_is_an_error(notice):
    # A long registered name is sent in its short form (tests/security/test_long_firm_names.py); a value
    # over the provider's limit that reaches the parameters anyway is refused before sending.
    with pytest.raises(render.SmsParamError, match="firm"):
        render.render_sms(dataclasses.replace(notice("datong-2022-7"), firm_short_name="很" * 36), PHONE)


def test_templates_dir_from_the_environment(notice, templates, monkeypatch):
    (templates / "inform" / "email_subject.txt").write_text("告知：{{ clause_title }}", encoding="utf-8")
    monkeypatch.setenv(render.TEMPLATES_DIR_VAR, str(templates))
    assert render.render_email(notice("datong-2022-7"), "a@example.cn").subject == "告知：鼓励银行创新融资方式"


def test_every_mode_has_every_template():
    for mode in render.MODES:
        for name in render.TEMPLATE_NAMES:
            assert (render.templates_dir() / mode / name).is_file(), f"{mode}/{name}"


def test_content_is_frozen(notice):
    with pytest.raises(dataclasses.FrozenInstanceError):
        notice("datong-2022-7").firm_name = "x"  # type: ignore[misc]
