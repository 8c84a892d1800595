"""The console's pages on SQLite and PostgreSQL: each renders for a viewer, filters narrow the match
log, pages page, the decision detail explains and shows the notice timeline, operators requeue a
dead notice, the firm timeline runs newest first with contact data masked per role, admins (only)
switch a clause's 二次确认, and the audit page shows the chain's verdict."""

from __future__ import annotations

import datetime

import sqlalchemy as sa

from connectors import sql_console
from connectors import sql_models as models
from engine.console import audit_view, explain
from engine.core import china_time, notice_status
from engine.notices import channels
from tests.console import conftest as console_conftest
from tests.console import seed
from tests.notices import helpers

pytestmark = console_conftest.SQL_ONLY

S = notice_status.NoticeStatus


async def page(client, path: str, expect: int = 200) -> str:
    response = await client.get(path, allow_redirects=False)
    text = await response.text()
    assert response.status == expect, text
    return text


async def post(client, path: str, data: dict, *, from_page: str) -> object:
    token = console_conftest.csrf_token(await page(client, from_page))
    return await client.post(path, data={**data, "csrf_token": token}, allow_redirects=False)


async def audit_log(store):
    return [e async for e in store.audit_entries()]


async def test_every_page_renders_for_a_viewer(console_client, login, store, production_matcher):
    await seed.two_firms(store)
    await seed.real_firm(store, production_matcher)
    anonymous = await console_client.get("/console/decisions", allow_redirects=False)
    assert anonymous.status == 302 and anonymous.headers["Location"].startswith("/console/login?next=")
    await login(console_client, "wang", "viewer")
    [met] = [d for d in await store.decisions(helpers.FIRM) if d.decision.status.value == "met"]
    pages = {
        "/console/decisions": "匹配记录",
        f"/console/decisions/{met.id}": "逐项条件",
        "/console/firms": seed.OTHER_NAME,
        f"/console/firms/{helpers.FIRM}": "时间线",
        "/console/clauses": "小规模纳税人免征增值税",
        "/console/clauses/qinghai-2022-2": "二次确认",
        "/console/approvals": "待审批",
        "/console/stats": "按条款",
        "/console/audit": "哈希链校验通过",
    }
    for path, expected in pages.items():
        html = await page(console_client, path)
        assert expected in html, path
        assert 'lang="zh-CN"' in html and "退出" in html
    assert "符合" in await page(console_client, "/console/decisions")
    assert (await console_client.get("/console/decisions/999999")).status == 404
    assert (await console_client.get("/console/firms/91000000000000000X")).status == 404
    assert (await console_client.get("/console/clauses/no-such-clause")).status == 404


async def test_match_log_filters_narrow_the_results(console_client, login, store, production_matcher):
    await seed.two_firms(store)
    await seed.real_firm(store, production_matcher)
    await login(console_client, "wang", "viewer")
    everything = seed.decision_ids(await page(console_client, "/console/decisions"))
    ours = {d.id: d for firm in (helpers.FIRM, seed.OTHER, seed.REAL) for d in await store.decisions(firm)}
    assert sorted(everything, reverse=True) == everything == sorted(ours, reverse=True)  # newest first, all of them

    async def ids(query: str) -> set[int]:
        return set(seed.decision_ids(await page(console_client, f"/console/decisions?{query}")))

    def where(test) -> set[int]:
        return {i for i, d in ours.items() if test(d)}

    assert await ids(f"firm={seed.OTHER}") == where(lambda d: d.uscc == seed.OTHER)
    assert await ids("firm=高原测试") == where(lambda d: d.uscc == seed.OTHER)
    assert await ids(f"firm={seed.OTHER[:10].lower()}") >= where(lambda d: d.uscc == seed.OTHER)
    assert await ids("clause=qinghai-2022-2") == where(lambda d: d.decision.clause_id == "qinghai-2022-2")
    assert await ids("document=qinghai-2022") == set(ours)
    assert await ids("document=yunnan-2022") == set()
    assert await ids("region=630104") == where(lambda d: d.uscc == seed.OTHER)
    assert await ids("region=6301") == set(ours)
    assert await ids("status=met") == where(lambda d: d.decision.status.value == "met")
    assert await ids("status=unknown&firm=高原") == where(lambda d: d.uscc == seed.OTHER and d.decision.status.value == "unknown")
    modes = {c.id: c.mode for c in production_matcher.catalogue.clauses}
    assert await ids("mode=inform") == where(lambda d: modes[d.decision.clause_id] == "inform")
    assert await ids("mode=auto_grant") == where(lambda d: modes[d.decision.clause_id] == "auto_grant")
    assert await ids("approval=none") == set(ours) and await ids("approval=pending") == set()
    assert await ids("from=2022-05-01&to=2022-05-01") == where(lambda d: d.as_of == datetime.date(2022, 5, 1))
    assert await ids("to=2022-04-30") == where(lambda d: d.as_of <= datetime.date(2022, 4, 30))
    bad = await page(console_client, "/console/decisions?from=yesterday&status=maybe")
    assert "起始日期格式应为" in bad and "未知的判定结果" in bad
    assert set(seed.decision_ids(bad)) == set(ours)  # a bad filter is reported and ignored, not applied


async def test_match_log_pages_through_in_a_stable_order(console_client, login, store):
    await helpers.feed(store, *helpers.eligible_firm_events())
    [first] = [d for d in await store.decisions(helpers.FIRM) if d.decision.status.value == "met"]
    created = datetime.datetime.now(datetime.UTC)
    async with store.write() as connection:
        explained = (await connection.execute(sa.select(models.Explanation.__table__.c.sha256).limit(1))).scalar_one()
        rows = [{"uscc": helpers.FIRM, "clause_id": f"test-{i}", "cite": f"test#{i}", "rule_version": "v1", "status": "unknown",
                 "explanation_sha256": explained, "facts": {}, "as_of": datetime.date(2022, 6, 1), "created_at": created}
                for i in range(103)]
        await connection.execute(sa.insert(models.Decision.__table__), rows)
    await login(console_client, "wang", "viewer")
    first_page = await page(console_client, "/console/decisions?firm=" + helpers.FIRM)
    assert "第 1 / 3 页，共 105 条" in first_page and 'rel="next"' in first_page and 'rel="prev"' not in first_page
    seen = []
    for number in (1, 2, 3):
        seen += seed.decision_ids(await page(console_client, f"/console/decisions?firm={helpers.FIRM}&page={number}"))
    assert len(seen) == 105 == len(set(seen)) and seen == sorted(seen, reverse=True) and seen[-2] == first.id
    assert len(seed.decision_ids(await page(console_client, f"/console/decisions?firm={helpers.FIRM}&page=2"))) == 50
    assert seed.decision_ids(await page(console_client, "/console/decisions?page=99")) == []


async def test_decision_detail_explains_and_shows_the_delivery_timeline(console_client, login, store, production_matcher):
    await seed.real_firm(store, production_matcher)
    delivery, sms, _ = helpers.make_worker(store)
    await delivery.run_once()
    [met] = [d for d in await store.decisions(seed.REAL) if d.decision.clause_id == "qinghai-2022-2" and d.decision.status.value == "met"]
    await login(console_client, "wang", "viewer")
    html = await page(console_client, f"/console/decisions/{met.id}")
    for condition in met.decision.explanation["conditions"]:
        assert explain.attribute_label(condition["attr"]) in html and condition["attr"] not in html
    assert "增值税月销售额不超过150,000.00元" in html and "适用地区" in html and "630000" in html
    assert "青海省" in html  # the jurisdiction by name, its code in small type
    assert met.decision.rule_version in html and "qinghai-2022-2" in html
    assert f"#event-{seed.REAL}-vat" in html and "增值税申报" in html and f"{seed.REAL}-reg" in html
    notices = await store.firm_notices(seed.REAL)
    mine = [n for n in notices if n.decision_id == met.id]
    assert len(mine) == 2
    for notice in mine:
        assert notice.notice_id in html and notice.provider_id in html
    assert "已发送" in html and "发送" in html
    # A viewer sees the recipients masked; an operator sees them, and that view is audited.
    assert "+8613800138000" not in html and "138****8000" in html and "finance@example.cn" not in html
    await login(console_client, "li", "operator")
    html = await page(console_client, f"/console/decisions/{met.id}")
    assert "+8613800138000" in html and "finance@example.cn" in html
    viewed = [e for e in await audit_log(store) if e.action == "pii.viewed"]
    assert [(e.actor, e.subject_type, e.subject_id) for e in viewed] == [("li (operator)", "decision", str(met.id))]
    assert set(viewed[0].payload["fields"]) == {"contact.mobile", "contact.email"}


async def test_an_operator_requeues_a_dead_notice_from_the_decision_page(console_client, login, store):
    await helpers.feed(store, *helpers.eligible_firm_events())
    delivery, sms, _ = helpers.make_worker(store)
    sms.script([channels.SendResult(channels.Outcome.DEAD, reason="isv.MOBILE_NUMBER_ILLEGAL", response={"Code": "isv.MOBILE_NUMBER_ILLEGAL", "phone": "13800138000"})])
    await delivery.run_once()
    dead = {n.channel: n for n in await store.firm_notices(helpers.FIRM)}["sms"]
    assert dead.status == S.DEAD
    target = f"/console/decisions/{dead.decision_id}"
    await login(console_client, "wang", "viewer")
    html = await page(console_client, target)
    assert "isv.MOBILE_NUMBER_ILLEGAL" in html and "13800138000" not in html  # the provider's echo is masked too
    assert "重新发送" not in html
    refused = await post(console_client, f"/console/notices/{dead.notice_id}/retry", {}, from_page=target)
    assert refused.status == 403 and (await store.get_notice(dead.notice_id)).status == S.DEAD

    await login(console_client, "li", "operator")
    html = await page(console_client, target)
    assert "重新发送" in html
    forged = await console_client.post(f"/console/notices/{dead.notice_id}/retry", data={"csrf_token": "forged"}, allow_redirects=False)
    assert forged.status == 403 and (await store.get_notice(dead.notice_id)).status == S.DEAD
    response = await post(console_client, f"/console/notices/{dead.notice_id}/retry", {}, from_page=target)
    assert response.status == 303 and response.headers["Location"] == f"{target}?done=requeued#notices"
    assert (await store.get_notice(dead.notice_id)).status == S.PENDING
    assert "通知已重新排队" in await page(console_client, f"{target}?done=requeued")
    requeued = [e for e in await audit_log(store) if e.action == "notice.requeued"]
    assert [(e.actor, e.subject_id, e.payload["from"]) for e in requeued] == [("li (operator)", dead.notice_id, "dead")]
    again = await post(console_client, f"/console/notices/{dead.notice_id}/retry", {}, from_page=target)
    assert again.status == 303 and "error=not_retryable" in again.headers["Location"]


async def test_firm_timeline_runs_newest_first_with_contact_data_masked_per_role(console_client, login, store):
    await seed.two_firms(store)
    await login(console_client, "wang", "viewer")
    html = await page(console_client, f"/console/firms/{helpers.FIRM}")
    kinds = [line.split('"')[0] for line in html.split('<tr class="entry ')[1:]]
    # Newest first: the notices, then the met decision, the VAT return's profile change and the event.
    assert kinds[:2] == ["notice", "notice"] and kinds[2] == "decision" and kinds[-1] == "event"
    assert set(kinds) == {"event", "profile", "decision", "notice"}
    assert kinds.index("profile") > kinds.index("decision")
    assert "138****8000" in html and "c***@example.cn" in html
    assert "+8613800138000" not in html and "cfo@example.cn" not in html
    assert not [e for e in await audit_log(store) if e.action == "pii.viewed"]
    search = await page(console_client, "/console/firms?q=高原")
    assert seed.OTHER in search and helpers.FIRM not in search

    await login(console_client, "zhao", "admin")
    html = await page(console_client, f"/console/firms/{helpers.FIRM}")
    assert "+8613800138000" in html and "cfo@example.cn" in html
    [viewed] = [e for e in await audit_log(store) if e.action == "pii.viewed"]
    assert (viewed.actor, viewed.subject_type, viewed.subject_id) == ("zhao (admin)", "firm", helpers.FIRM)
    assert viewed.payload["fields"] == ["contact.email", "contact.mobile"]


async def test_firm_page_shows_a_notice_without_contact_as_waiting_not_skipped(console_client, login, store):
    # Met before its contact details are known: the notices wait for them.
    events = helpers.eligible_firm_events()
    await helpers.feed(store, events[0], events[2])
    delivery, _, _ = helpers.make_worker(store)
    await delivery.run_once()
    await login(console_client, "wang", "viewer")
    html = await page(console_client, f"/console/firms/{helpers.FIRM}")
    assert html.count("等待联系方式或授权") == 2 and "未发送（按规则跳过）" not in html
    [notice, _] = await store.firm_notices(helpers.FIRM)
    detail = await page(console_client, f"/console/decisions/{notice.decision_id}")
    assert "等待联系方式或授权" in detail and "<td>等待联系方式</td>" in detail and "按规则跳过" not in detail


async def test_only_admins_switch_a_clauses_approval_gate(console_client, login, store):
    path = "/console/clauses/qinghai-2022-2"
    await login(console_client, "li", "operator")
    assert "开启二次确认" not in await page(console_client, path)
    refused = await post(console_client, f"{path}/approval", {"needs_approval": "1"}, from_page=path)
    assert refused.status == 403 and await store.clause_settings() == {}

    await login(console_client, "zhao", "admin")
    assert "开启二次确认" in await page(console_client, path)
    forged = await console_client.post(f"{path}/approval", data={"needs_approval": "1"}, allow_redirects=False)
    assert forged.status == 403 and await store.clause_settings() == {}
    response = await post(console_client, f"{path}/approval", {"needs_approval": "1"}, from_page=path)
    assert response.status == 303 and await store.clause_settings() == {"qinghai-2022-2": True}
    html = await page(console_client, response.headers["Location"])
    assert "已开启二次确认" in html and "关闭二次确认" in html
    assert "已开启" in await page(console_client, "/console/clauses?document=qinghai-2022")
    response = await post(console_client, f"{path}/approval", {"needs_approval": "0"}, from_page=path)
    assert response.status == 303 and await store.clause_settings() == {"qinghai-2022-2": False}
    gates = [(e.actor, e.payload["needs_approval"]) for e in await audit_log(store) if e.action == "clause.approval_gate"]
    assert gates == [("zhao (admin)", True), ("zhao (admin)", False)]
    unknown = await post(console_client, "/console/clauses/no-such/approval", {"needs_approval": "1"}, from_page=path)
    assert unknown.status == 404


async def test_audit_page_filters_and_shows_the_chains_verdict(console_client, login, store):
    await seed.two_firms(store)
    await login(console_client, "wang", "viewer")
    log = await audit_log(store)
    html = await page(console_client, "/console/audit")
    assert f"哈希链校验通过：共 {len(log)} 条记录" in html
    assert html.index(f'data-seq="{log[-1].seq}"') < html.index(f'data-seq="{log[-2].seq}"')  # newest first
    assert log[-1].hash[:12] in html
    decisions_only = await page(console_client, "/console/audit?action=decision.")
    assert "<code>decision.recorded</code>" in decisions_only and "<code>notice.sent</code>" not in decisions_only
    assert "<code>notice.sent</code>" in await page(console_client, "/console/audit?actor=send")
    subject = f"decision:{(await store.decisions(seed.OTHER))[0].id}"
    assert decisions_only.count("data-seq=") > (await page(console_client, f"/console/audit?subject={subject}")).count("data-seq=") == 1
    many = len(log)
    assert f"共 {many} 条" in html and (many <= 50 or 'rel="next"' in html)

    # Someone edits an entry in the database directly: the page says so and names it.
    victim = log[2]
    async with store.write() as connection:
        await connection.execute(sa.update(models.AuditEntry.__table__).where(models.AuditEntry.__table__.c.seq == victim.seq)
                                 .values(actor="someone else"))
    html = await page(console_client, "/console/audit")
    assert "哈希链校验失败" in html and f"第 {victim.seq} 号记录" in html and "记录内容与其哈希不符：记录被修改过" in html


async def test_audit_page_names_actions_in_chinese_and_filters_by_china_day(console_client, login, store):
    await seed.two_firms(store)
    await login(console_client, "wang", "viewer")
    log = await audit_log(store)
    html = await page(console_client, "/console/audit")
    # Before: the action was only its code (decision.recorded); an officer reads what happened.
    assert "记录判定 <small" in html and "通知：已发送" in html and "登录成功" in html
    assert '<option value="decision.recorded">记录判定</option>' in html
    today = china_time.today_in_china()
    day = datetime.timedelta(days=1)
    every = (await page(console_client, f"/console/audit?from={today}&to={today}")).count("data-seq=")
    assert every == min(len(log), 50)
    assert "没有记录" in await page(console_client, f"/console/audit?from={today + day}")
    assert "没有记录" in await page(console_client, f"/console/audit?to={today - day}")
    # A bad date is named and ignored: the page lists as without it.
    bad = await page(console_client, "/console/audit?from=2022-13-01")
    assert "起始日期格式应为 YYYY-MM-DD：2022-13-01" in bad and bad.count("data-seq=") == every


async def test_audit_chain_verdict_spans_batches(store):
    await seed.two_firms(store)
    reads = sql_console.SqlConsoleReadModel(store)
    count = len(await audit_log(store))
    in_threes = (await audit_view.verify_chain(reads, batch=3)).verdict
    assert in_threes == (await audit_view.verify_chain(reads)).verdict and in_threes.ok and in_threes.entries == count
    last = (await audit_log(store))[-1]
    async with store.write() as connection:
        await connection.execute(sa.delete(models.AuditEntry.__table__).where(models.AuditEntry.__table__.c.seq == 4))
    verdict = (await audit_view.verify_chain(reads, batch=3)).verdict
    assert not verdict.ok and verdict.first_bad_seq == 5 and last.seq > 5
