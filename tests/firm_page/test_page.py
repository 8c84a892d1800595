"""The firm's page (我的政策) through the service's app: the link is the key, the page lists what the
firm was granted, may apply for and what data is missing, in plain Chinese, and its answers and SMS
choice are kept and audited. Every store (memory, SQLite, PostgreSQL)."""

from __future__ import annotations

import datetime
import html.parser
import re

import pytest

from engine.core import scopes
from engine.notices import config as notice_config
from engine.notices import outbox
from tests.firm_page import seed

DAY = datetime.timedelta(days=1)


@pytest.fixture
async def page_client(make_client, store, production_matcher):
    await seed.two_firms(store, production_matcher)
    return await make_client(store, matcher=production_matcher, run_pipeline=False)


class _Text(html.parser.HTMLParser):
    """The text a reader sees (no style, no attribute values)."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        self._skip += tag in ("style", "script")

    def handle_endtag(self, tag):
        self._skip -= tag in ("style", "script")

    def handle_data(self, data):
        if not self._skip:
            self.parts.append(data)


def visible(page: str) -> str:
    parser = _Text()
    parser.feed(page)
    return " ".join(" ".join(parser.parts).split())


async def audit_actions(store) -> list[tuple[str, str, dict]]:
    return [(e.action, e.actor, dict(e.payload)) async for e in store.audit_entries() if e.action.startswith("firm.")]


# The link ---------------------------------------------------------------------------------------

async def test_a_valid_link_opens_the_firms_page_with_the_protections_of_a_keyed_page(page_client):
    response = await page_client.get(seed.link())
    page = await response.text()
    assert response.status == 200, page
    assert seed.RENTER_NAME in page and seed.RENTER in page
    headers = response.headers
    assert headers["X-Frame-Options"] == "DENY" and "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert headers["Referrer-Policy"] == "no-referrer" and headers["Cache-Control"] == "no-store"
    assert "script-src" not in headers["Content-Security-Policy"] and "<script" not in page


@pytest.mark.parametrize(
    ("path", "status", "words"),
    [
        (lambda: seed.link(at=datetime.datetime.now(datetime.UTC) - 31 * DAY), 410, "链接已过期"),
        (lambda: seed.link()[:-3] + ("abc" if not seed.link().endswith("abc") else "xyz"), 404, "链接无效"),
        (lambda: seed.link(secret="another-service-key-0123456789"), 404, "链接无效"),
        (lambda: "/my/not-a-token", 404, "链接无效"),
    ],
    ids=["expired", "tampered", "foreign", "garbage"],
)
async def test_an_expired_or_altered_link_is_refused_in_chinese_with_no_firm_data(page_client, path, status, words):
    response = await page_client.get(path())
    page = await response.text()
    assert response.status == status
    assert words in page
    assert seed.RENTER not in page and seed.RENTER_NAME not in page and "元" not in page


async def test_the_link_lifetime_is_the_setting(page_client):
    assert (await page_client.get(seed.link(at=datetime.datetime.now(datetime.UTC) - 29 * DAY))).status == 200
    with pytest.raises(notice_config.NoticeSettingsError, match="POLICY_PUSH_FIRM_LINK_DAYS"):
        notice_config.NoticeSettings.from_env({"POLICY_PUSH_FIRM_LINK_DAYS": "a month"})
    with pytest.raises(notice_config.NoticeSettingsError, match="POLICY_PUSH_FIRM_LINK_DAYS: must be positive"):
        notice_config.NoticeSettings.from_env({"POLICY_PUSH_FIRM_LINK_DAYS": "0"})
    assert notice_config.NoticeSettings.from_env({"POLICY_PUSH_FIRM_LINK_DAYS": "7"}).firm_link_lifetime == 7 * DAY


async def test_a_revoked_link_is_refused_and_a_link_issued_after_works(page_client, store):
    old = seed.link(at=datetime.datetime.now(datetime.UTC) - DAY)
    assert (await page_client.get(old)).status == 200
    await store.revoke_links(seed.RENTER, "zhangsan (operator)", datetime.datetime.now(datetime.UTC) - DAY / 2)
    response = await page_client.get(old)
    page = await response.text()
    assert response.status == 410 and "链接已停用" in page and seed.RENTER_NAME not in page
    assert (await page_client.get(seed.link())).status == 200


async def test_another_firms_link_never_shows_this_firms_data(page_client):
    page = await (await page_client.get(seed.link(seed.OTHER))).text()
    assert seed.OTHER in page
    assert seed.RENTER not in page and seed.RENTER_NAME not in page and seed.GRANT_AMOUNT not in page
    assert "13912345678" not in page and "boss@wuhua.example.cn" not in page


# What the page says ----------------------------------------------------------------------------

async def test_the_page_lists_grants_with_amounts_what_to_apply_for_and_the_data_missing(page_client):
    page = await (await page_client.get(seed.link())).text()
    text = visible(page)
    grant = _item(page, seed.GRANT)
    assert "已为您办理" in grant and f"金额：{seed.GRANT_AMOUNT}" in grant and "减免" in grant
    apply = _item(page, seed.APPLY)
    assert "可申请" in apply and "如何申请" in apply and "申请期限" in apply
    assert "已为您办理" not in apply  # never claimed as done for the firm
    missing = _item(page, seed.MISSING)
    assert "需补充数据" in missing and "是否为中小企业（由税务部门（企业所得税年度申报）掌握）" in missing
    assert "是否足额缴纳失业保险费（由人力资源社会保障部门掌握）" in missing
    # The cited clause in plain text, its document and the agency.
    assert "《" in grant and "政策依据" in grant and "负责部门" in grant and "查看政策原文" in grant
    # The firm's own contact, as it gave it, unmasked.
    assert "13912345678" in text and "boss@wuhua.example.cn" in text


async def test_the_page_is_plain_chinese_without_codes_or_english(page_client):
    text = visible(await (await page_client.get(seed.link())).text())
    for allowed in (seed.RENTER, "13912345678", "boss@wuhua.example.cn"):
        text = text.replace(allowed, "")
    assert re.findall(r"[A-Za-z_]+", text) == []


def _item(page: str, clause_id: str) -> str:
    found = re.search(rf'<article class="card \w+" id="item-{re.escape(clause_id)}">(.*?)</article>', page, re.S)
    assert found, f"no item {clause_id} on the page"
    return visible(found.group(1))


# Answers ----------------------------------------------------------------------------------------

async def _post(client, path: str, **data):
    # The form token is bound to the link the page was opened with: open the one the form posts to (a
    # link made a second later carries another timestamp, so another token).
    link = path.split("/items/")[0].removesuffix("/preferences")
    page = await (await client.get(link)).text()
    return await client.post(path, data={"form_token": seed.form_token(page), **data}, allow_redirects=False)


async def test_confirming_keeps_the_answer_shows_it_back_and_audits_it(page_client, store):
    decision_id = await seed.decision_id(store, seed.GRANT)
    response = await _post(page_client, f"{seed.link()}/items/{seed.GRANT}/confirm", decision_id=str(decision_id))
    assert response.status == 303 and response.headers["Location"].endswith(f"#item-{seed.GRANT}")
    assert "您已于" in _item(await (await page_client.get(seed.link())).text(), seed.GRANT)
    assert "确认本项内容" in _item(await (await page_client.get(seed.link())).text(), seed.GRANT)
    [answer] = await store.firm_responses(seed.RENTER)
    assert (answer.action, answer.clause_id, answer.decision_id) == ("confirm", seed.GRANT, decision_id)
    assert await audit_actions(store) == [
        ("firm.confirmed", f"firm {seed.RENTER} (firm page)", {"uscc": seed.RENTER, "clause_id": seed.GRANT, "reason": None})]


async def test_an_objection_needs_a_reason_and_is_kept_shown_back_and_audited(page_client, store):
    decision_id = await seed.decision_id(store, seed.APPLY)
    path = f"{seed.link()}/items/{seed.APPLY}/object"
    refused = await _post(page_client, path, decision_id=str(decision_id), reason="   ")
    assert refused.status == 422 and "请填写“异议理由”" in _item(await refused.text(), seed.APPLY)
    assert await store.firm_responses(seed.RENTER) == []
    too_long = await _post(page_client, path, decision_id=str(decision_id), reason="长" * 501)
    assert too_long.status == 422 and "“异议理由”最多500字" in await too_long.text()
    reason = "我单位并非小微企业，不应享受此项政策"
    response = await _post(page_client, path, decision_id=str(decision_id), reason=reason)
    assert response.status == 303
    shown = _item(await (await page_client.get(seed.link())).text(), seed.APPLY)
    assert "提出异议" in shown and reason in shown
    [answer] = await store.objections(scope=scopes.ALL)
    assert (answer.uscc, answer.clause_id, answer.reason) == (seed.RENTER, seed.APPLY, reason)
    assert [(a, p["reason"]) for a, _, p in await audit_actions(store)] == [("firm.objected", reason)]


async def test_a_form_without_the_pages_token_or_about_a_changed_decision_changes_nothing(page_client, store):
    decision_id = await seed.decision_id(store, seed.GRANT)
    path = f"{seed.link()}/items/{seed.GRANT}/confirm"
    forged = await page_client.post(path, data={"decision_id": str(decision_id)}, allow_redirects=False)
    assert forged.status == 403 and "操作未执行" in await forged.text()
    other_link = await page_client.post(path, data={"decision_id": str(decision_id),
                                                    "form_token": seed.form_token(await (await page_client.get(seed.link(seed.OTHER))).text())})
    assert other_link.status == 403
    stale = await _post(page_client, path, decision_id=str(decision_id - 1))
    assert stale.status == 409 and "判定结果已更新" in await stale.text()
    not_mine = await _post(page_client, f"{seed.link()}/items/qinghai-2022-2/confirm", decision_id=str(decision_id))
    assert not_mine.status in (404, 409)
    assert await store.firm_responses(seed.RENTER) == [] and await store.firm_responses(seed.OTHER) == []


# Preferences ------------------------------------------------------------------------------------

async def test_the_page_shows_and_changes_the_sms_choice(page_client, store):
    page = await (await page_client.get(seed.link())).text()
    assert 'value="all" checked' in page
    response = await _post(page_client, f"{seed.link()}/preferences", sms="grants_only")
    assert response.status == 303
    page = await (await page_client.get(response.headers["Location"])).text()
    assert 'value="grants_only" checked' in page and "已保存短信接收方式" in page
    assert await store.sms_preference(seed.RENTER) == outbox.SMS_GRANTS_ONLY
    await _post(page_client, f"{seed.link()}/preferences", sms="none")
    assert "sms" in await store.opt_outs(seed.RENTER)
    assert 'value="none" checked' in await (await page_client.get(seed.link())).text()
    refused = await _post(page_client, f"{seed.link()}/preferences", sms="sometimes")
    assert refused.status == 422 and "短信接收方式" in await refused.text()
    actions = [(a, p["sms"]) for a, _, p in await audit_actions(store)]
    assert actions == [("firm.sms_preference", "grants_only"), ("firm.sms_preference", "none")]


async def test_a_grant_waiting_for_an_officers_check_is_never_told_as_done(make_client, store, production_matcher):
    # The 二次确认 gate holds qinghai-2022#(二) for an officer: until approved the firm reads only that it is checked.
    await store.set_clause_approval("qinghai-2022-2", True, "admin (setup)")
    await seed.two_firms(store, production_matcher)
    client = await make_client(store, matcher=production_matcher, run_pipeline=False)
    item = _item(await (await client.get(seed.link(seed.OTHER))).text(), "qinghai-2022-2")
    assert "正在核实" in item and "已为您办理" not in item
    [pending] = await store.pending_approvals("qinghai-2022-2")
    await store.resolve_approvals([pending.id], False, "admin (setup)", "数据有误")
    page = await (await client.get(seed.link(seed.OTHER))).text()
    assert 'id="item-qinghai-2022-2"' not in page  # rejected by the officer: not shown at all
