"""Receipts, replies, one-click unsubscribe and operator retry over HTTP, and the full path from a
signed event to exactly one SMS and one email written by the file connectors."""

from __future__ import annotations

import dataclasses
import email
import email.policy
import json

import pytest
from aiohttp import test_utils

from engine.core import notice_status
from engine.ingest import webhooks
from engine.notices import compose, worker
from engine.web import app as app_module
from engine.web import senders
from tests import conftest, factories
from tests.notices import helpers

S = notice_status.NoticeStatus
TOKEN = "push-token-123"


@pytest.fixture
def notice_config(config, tmp_path):
    return dataclasses.replace(
        config,
        notices=dataclasses.replace(config.notices, outbox_dir=tmp_path / "outbox", sms_report_token=TOKEN, secret_key="k" * 32, quiet_hours=None),
    )


async def sent_notices(store):
    await helpers.feed(store, *helpers.eligible_firm_events())
    delivery, sms, email_sender = helpers.make_worker(store)
    await delivery.run_once()
    return {n.channel: n for n in await store.firm_notices(helpers.FIRM)}


async def test_sms_receipts_settle_notices_and_need_the_token(make_client, store, notice_config):
    client = await make_client(settings_=notice_config, run_pipeline=False)  # the test folds events itself
    notices = await sent_notices(store)
    receipt = {"phone_number": "13800138000", "send_time": "2022-05-02 10:00:00", "report_time": "2022-05-02 10:00:05",
               "success": True, "err_code": "DELIVERED", "err_msg": "用户接收成功", "sms_size": "2",
               "biz_id": notices["sms"].provider_id, "out_id": notices["sms"].notice_id}
    assert (await client.post("/webhooks/sms-report", json=[receipt])).status == 401
    response = await client.post(f"/webhooks/sms-report?token={TOKEN}", json=[receipt, receipt, {"out_id": "nope"}])
    assert response.status == 200 and await response.json() == {"code": 0, "msg": "接收成功"}
    settled = await store.get_notice(notices["sms"].notice_id)
    assert settled.status == S.DELIVERED
    assert [a.kind for a in await store.notice_attempts(settled.notice_id)] == ["send", "receipt"]


async def test_a_failed_receipt_marks_undelivered_with_the_reason(make_client, store, notice_config):
    client = await make_client(settings_=notice_config, run_pipeline=False)  # the test folds events itself
    notices = await sent_notices(store)
    receipt = {"success": False, "err_code": "MK:0001", "err_msg": "空号", "biz_id": notices["sms"].provider_id, "out_id": ""}
    await client.post(f"/webhooks/sms-report?token={TOKEN}", json=[receipt])
    failed = await store.get_notice(notices["sms"].notice_id)
    assert failed.status == S.UNDELIVERED and failed.reason == "MK:0001: 空号"


async def test_replying_t_opts_the_number_out_of_sms(make_client, store, notice_config):
    client = await make_client(settings_=notice_config, run_pipeline=False)  # the test folds events itself
    await helpers.feed(store, *helpers.eligible_firm_events()[:2])
    reply = {"phone_number": "13800138000", "content": " td ", "send_time": "2022-05-02 10:00:00", "sign_name": "政策直达"}
    response = await client.post(f"/webhooks/sms-reply?token={TOKEN}", json=[reply, {"phone_number": "13800138000", "content": "谢谢"}])
    assert response.status == 200
    assert set(await store.opt_outs(helpers.FIRM)) == {"sms"}


async def test_one_click_unsubscribe(make_client, store, notice_config):
    client = await make_client(settings_=notice_config, run_pipeline=False)  # the test folds events itself
    await helpers.feed(store, *helpers.eligible_firm_events()[:2])
    url = compose.Composer(None, notice_config.notices).unsubscribe_url(helpers.FIRM, "email")
    path = url.split("127.0.0.1:8080", 1)[1]
    page = await client.get(path)
    assert page.status == 200 and "确认退订" in await page.text()
    assert await store.opt_outs(helpers.FIRM) == {}  # a GET changes nothing
    done = await client.post(path, data={"List-Unsubscribe": "One-Click"})
    assert done.status == 200 and set(await store.opt_outs(helpers.FIRM)) == {"email"}
    assert (await client.post(path[:-3] + "xyz")).status == 404


async def test_operator_retry_over_the_api_needs_the_operator_role(make_client, store, notice_config):
    client = await make_client(settings_=notice_config, run_pipeline=False)  # the test folds events itself
    await helpers.feed(store, *helpers.eligible_firm_events())
    delivery, sms, _ = helpers.make_worker(store)
    sms.script([worker.channels.Outcome.DEAD])
    await delivery.run_once()
    dead = {n.channel: n for n in await store.firm_notices(helpers.FIRM)}["sms"]
    viewer, operator = await conftest.bearer(store, "viewer"), await conftest.bearer(store, "operator")
    assert (await client.post(f"/api/notices/{dead.notice_id}/retry", headers=viewer)).status == 403
    response = await client.post(f"/api/notices/{dead.notice_id}/retry", headers=operator)
    assert response.status == 200 and (await response.json())["status"] == "pending"
    again = await client.post(f"/api/notices/{dead.notice_id}/retry", headers=operator)
    assert again.status == 409


@pytest.mark.parametrize("store", conftest.SQL_BACKENDS, indirect=True)
async def test_an_eligible_event_yields_exactly_one_sms_and_one_email_file(store, notice_config, production_matcher):
    firm = factories.uscc(61, region="630102")
    events = [
        factories.event(firm=firm, region="630102", occurred_at="2022-03-01T09:00:00+08:00"),
        {**factories.event("contact.updated", firm=firm, occurred_at="2022-03-02T09:00:00+08:00")},
        factories.event("tax.vat_declared", firm=firm, occurred_at="2022-04-15T09:00:00+08:00", period="2022-03", sales=150000),
    ]
    signed = [factories.signed(body, msg_id=f"msg_e2e_{i}") for i, body in enumerate(events)]
    for _restart in range(2):  # the second round replays every event into a restarted service
        delivery = worker.DeliveryWorker(store, compose.Composer(production_matcher.catalogue, notice_config.notices), senders.build_channels(notice_config.notices, {}))
        app = app_module.create_app(notice_config, store=store, matcher=production_matcher, delivery=delivery)
        async with test_utils.TestClient(test_utils.TestServer(app)) as client:
            for data, headers in signed:
                assert (await client.post("/webhooks/events", data=data, headers=headers)).status in (200, 202)
            await client.app[webhooks.PIPELINE].drained()
            await delivery.run_once()
    # The app's own delivery loop may have held a claim when the service stopped (it hands untried
    # claims back): one more round after the stop sends whatever is still due.
    final = worker.DeliveryWorker(store, compose.Composer(production_matcher.catalogue, notice_config.notices), senders.build_channels(notice_config.notices, {}))
    await final.run_once()
    outbox = notice_config.notices.outbox_dir
    files_by_clause: dict[str, list[str]] = {}
    notice_ids: dict[tuple[str, str], str] = {}
    for path in sorted(outbox.iterdir()):
        notice_id, kind = path.name.split(".", 1)
        notice = await store.get_notice(notice_id)
        files_by_clause.setdefault(notice.clause_id, []).append(kind)
        notice_ids[(notice.clause_id, kind)] = notice_id
    # One SMS and one email per benefit, after replays into a restarted service.
    assert "qinghai-2022-2" in files_by_clause
    assert all(sorted(kinds) == ["eml", "sms.json"] for kinds in files_by_clause.values())
    assert all(n.status == S.SENT for n in await store.firm_notices(firm))
    sms_body = json.loads((outbox / f"{notice_ids[('qinghai-2022-2', 'sms.json')]}.sms.json").read_text(encoding="utf-8"))
    assert sms_body["text"].startswith("【政策直达】") and "回T退订" in sms_body["text"] and sms_body["phone"] == "+8613800138000"
    message = email.message_from_bytes((outbox / f"{notice_ids[('qinghai-2022-2', 'eml')]}.eml").read_bytes(), policy=email.policy.default)
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    body = message.get_body(("plain",)).get_content()
    assert "条款编号：qinghai-2022#(二)" in body and "无需申请" in body and "/unsubscribe/" in body
