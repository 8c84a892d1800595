"""AliyunSmsSender against the local SendSms fake (tests/channels/fake_aliyun.py) in the test's loop."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp import test_utils, web

from connectors import sms
from engine import settings
from engine.notices import channels
from tests.channels import fake_aliyun

Outcome = channels.Outcome


@dataclasses.dataclass
class Provider:
    fake: fake_aliyun.FakeAliyunSms
    url: str


@pytest.fixture
async def provider() -> AsyncIterator[Provider]:
    fake = fake_aliyun.FakeAliyunSms()
    server = test_utils.TestServer(fake.app)
    await server.start_server()
    try:
        yield Provider(fake, str(server.make_url("/")))
    finally:
        fake.release()  # let any held-back answer go, so closing does not wait for it
        await server.close()


@pytest.fixture
async def make_sender(provider: Provider) -> AsyncIterator[Callable[..., Any]]:
    """Open senders against the fake (closed after the test, before the fake goes away)."""
    senders: list[sms.AliyunSmsSender] = []

    async def make(**overrides: Any) -> sms.AliyunSmsSender:
        config = {
            "endpoint": provider.url,
            "access_key_id": fake_aliyun.KEY_ID,
            "access_key_secret": fake_aliyun.KEY_SECRET,
            "sign_name": "政策通",
            "timeout": 5.0,
            **overrides,
        }
        sender = sms.AliyunSmsSender(sms.AliyunSmsSettings(**config))
        await sender.open()
        senders.append(sender)
        return sender

    yield make
    for sender in senders:
        await sender.close()


@pytest.fixture
async def sender(make_sender) -> sms.AliyunSmsSender:
    return await make_sender()


def notice(**overrides: Any) -> channels.SmsMessage:
    fields = {
        "notice_id": "notice-0001",
        "phone": "+8613800138000",
        "sign_name": "政策通",
        "template_code": "SMS_468975001",
        "params": {"firm": "杭州青禾科技有限公司", "measure": "稳岗返还", "amount": "12000"},
        "text": "【政策通】杭州青禾科技有限公司：您可能符合稳岗返还（约12000元），免申即享，无需申请。回T退订",
        **overrides,
    }
    return channels.SmsMessage(**fields)


async def test_a_notice_is_sent_with_the_documented_parameters(sender, provider):
    result = await sender.send(notice())

    assert result.outcome is Outcome.SENT
    [accepted] = provider.fake.accepted
    assert result.provider_id == accepted.biz_id
    assert result.response == {
        "Code": "OK",
        "Message": "OK",
        "BizId": accepted.biz_id,
        "RequestId": accepted.request_id,
    }
    assert accepted.phone_numbers == ("13800138000",)  # mainland number without +86
    assert accepted.sign_name == "政策通"
    assert accepted.template_code == "SMS_468975001"
    assert accepted.template_param == {"firm": "杭州青禾科技有限公司", "measure": "稳岗返还", "amount": "12000"}
    assert accepted.out_id == "notice-0001"  # the notice id, echoed in delivery receipts
    # TemplateParam travels as compact JSON with readable Chinese, in the query of an empty-bodied POST.
    [seen] = provider.fake.requests
    assert seen.method == "POST"
    assert seen.query["TemplateParam"] == '{"firm":"杭州青禾科技有限公司","measure":"稳岗返还","amount":"12000"}'
    assert seen.headers["x-acs-action"] == "SendSms"
    assert seen.headers["x-acs-version"] == "2017-05-25"


async def test_template_values_are_sent_as_strings_and_out_id_is_kept(sender, provider):
    result = await sender.send(notice(params={"amount": 12000, "year": 2025}, out_id="batch-7:notice-1"))

    assert result.outcome is Outcome.SENT
    [accepted] = provider.fake.accepted
    assert accepted.template_param == {"amount": "12000", "year": "2025"}
    assert accepted.out_id == "batch-7:notice-1"


async def test_the_configured_sign_name_is_used_when_the_notice_has_none(make_sender, provider):
    sender = await make_sender(sign_name="免申即享")
    assert (await sender.send(notice(sign_name=""))).outcome is Outcome.SENT
    assert provider.fake.accepted[0].sign_name == "免申即享"


@pytest.mark.parametrize(
    ("failure", "outcome", "code"),
    [
        (fake_aliyun.BUSINESS_LIMIT_CONTROL, Outcome.DEFERRED, "isv.BUSINESS_LIMIT_CONTROL"),
        (fake_aliyun.MOBILE_NUMBER_ILLEGAL, Outcome.DEAD, "isv.MOBILE_NUMBER_ILLEGAL"),
        (fake_aliyun.TEMPLATE_MISSING_PARAMETERS, Outcome.DEAD, "isv.TEMPLATE_MISSING_PARAMETERS"),
        (fake_aliyun.SMS_SIGNATURE_ILLEGAL, Outcome.DEAD, "isv.SMS_SIGNATURE_ILLEGAL"),
        (fake_aliyun.INVALID_JSON_PARAM, Outcome.DEAD, "isv.INVALID_JSON_PARAM"),
        (fake_aliyun.OUT_OF_SERVICE, Outcome.DEAD, "isv.OUT_OF_SERVICE"),
        (fake_aliyun.Failure("isv.AMOUNT_NOT_ENOUGH", "账户余额不足"), Outcome.DEAD, "isv.AMOUNT_NOT_ENOUGH"),
        (fake_aliyun.SYSTEM_ERROR, Outcome.RETRY, "isp.SYSTEM_ERROR"),
        (fake_aliyun.Failure("ServiceUnavailable", "busy", status=503), Outcome.RETRY, "ServiceUnavailable"),
        (
            fake_aliyun.Failure("Throttling.User", "Request was denied due to user flow control.", status=400),
            Outcome.DEFERRED,
            "Throttling.User",
        ),
    ],
    ids=lambda value: value.code or str(value.status) if isinstance(value, fake_aliyun.Failure) else None,
)
async def test_provider_codes_map_to_outcomes(sender, provider, failure, outcome, code):
    provider.fake.fail_next(failure)

    result = await sender.send(notice())

    assert result.outcome is outcome
    assert code in result.reason
    assert result.response["Code"] == code
    assert result.provider_id is None
    assert provider.fake.accepted == []


async def test_flow_control_says_how_long_to_wait(sender, provider):
    hourly = fake_aliyun.Failure("isv.BUSINESS_LIMIT_CONTROL", "触发小时级流控Permits:5")
    provider.fake.fail_next(fake_aliyun.BUSINESS_LIMIT_CONTROL, hourly)
    assert (await sender.send(notice())).retry_after == 60
    assert (await sender.send(notice())).retry_after == 3600


async def test_http_500_and_non_json_answers_are_retried(sender, provider):
    provider.fake.fail_next(fake_aliyun.HTTP_500, fake_aliyun.Failure(body=b"<html>gateway</html>"))

    server_error = await sender.send(notice())
    garbled = await sender.send(notice())

    assert (server_error.outcome, garbled.outcome) == (Outcome.RETRY, Outcome.RETRY)
    assert "HTTP 500" in server_error.reason
    assert "not JSON" in garbled.reason


async def test_a_slow_provider_times_out_as_retry(make_sender, provider):
    sender = await make_sender(timeout=0.2)
    provider.fake.fail_next(fake_aliyun.slow(30))

    started = time.monotonic()
    result = await sender.send(notice())

    assert time.monotonic() - started < 5
    assert result.outcome is Outcome.RETRY
    assert "no answer within 0.2s" in result.reason
    assert "may have accepted" in result.reason  # SendSms is not idempotent: the notice layer must know
    assert (await sender.send(notice(notice_id="notice-0002"))).outcome is Outcome.SENT


async def test_an_unreachable_provider_is_retried():
    server = test_utils.TestServer(web.Application())
    await server.start_server()
    url = str(server.make_url("/"))
    await server.close()  # nothing listens there any more
    sender = sms.AliyunSmsSender(sms.AliyunSmsSettings("key", "secret", endpoint=url, timeout=2))
    await sender.open()
    try:
        result = await sender.send(notice())
    finally:
        await sender.close()
    assert result.outcome is Outcome.RETRY
    assert "cannot connect" in result.reason


async def test_bad_credentials_are_dead(make_sender, provider):
    wrong_secret = await (await make_sender(access_key_secret="not-the-secret")).send(notice())
    unknown_key = await (await make_sender(access_key_id="LTAI-unknown")).send(notice())

    assert wrong_secret.outcome is Outcome.DEAD
    assert wrong_secret.reason.startswith("HTTP 400, SignatureDoesNotMatch")
    assert unknown_key.outcome is Outcome.DEAD
    assert unknown_key.reason.startswith("HTTP 404, InvalidAccessKeyId.NotFound")
    assert provider.fake.accepted == []


async def test_the_fake_checks_numbers_itself(sender, provider):
    result = await sender.send(notice(phone="+85291234567"))  # sent as 85291234567: not a mainland mobile
    assert result.outcome is Outcome.DEAD
    assert "isv.MOBILE_NUMBER_ILLEGAL" in result.reason
    assert provider.fake.requests[0].query["PhoneNumbers"] == "85291234567"


async def test_failures_can_be_scripted_per_number(sender, provider):
    provider.fake.fail_for("13900139000", fake_aliyun.BUSINESS_LIMIT_CONTROL)

    limited = await sender.send(notice(phone="+8613900139000"))
    other = await sender.send(notice(phone="+8613800138000", notice_id="notice-0002"))

    assert (limited.outcome, other.outcome) == (Outcome.DEFERRED, Outcome.SENT)
    assert [accepted.phone_numbers for accepted in provider.fake.accepted] == [("13800138000",)]


async def test_sends_reuse_one_connection(sender, provider):
    results = [await sender.send(notice(notice_id=f"notice-{n}")) for n in range(3)]

    assert [result.outcome for result in results] == [Outcome.SENT] * 3
    assert len({result.provider_id for result in results}) == 3
    peers = {seen.peer for seen in provider.fake.requests}
    assert len(peers) == 1, f"expected one TCP connection, saw client ports {peers}"


async def test_send_needs_open_and_close_is_idempotent():
    sender = sms.AliyunSmsSender(sms.AliyunSmsSettings("key", "secret"))
    with pytest.raises(RuntimeError, match="open"):
        await sender.send(notice())
    await sender.open()
    await sender.close()
    await sender.close()


async def test_receipts_can_be_pushed_for_an_accepted_send(sender, provider):
    received: list[Any] = []

    async def sms_report(request: web.Request) -> web.Response:
        received.append(await request.json())
        return web.json_response({"code": 0, "msg": "接收成功"})

    app = web.Application()
    app.router.add_post("/webhooks/sms-report", sms_report)
    result = await sender.send(notice())
    async with test_utils.TestServer(app) as server:
        receipts = fake_aliyun.sms_report(provider.fake.accepted[0])
        status, answer = await fake_aliyun.post_sms_report(str(server.make_url("/webhooks/sms-report")), receipts)

    assert (status, answer) == (200, {"code": 0, "msg": "接收成功"})
    [[item]] = received
    assert set(item) == {
        "phone_number",
        "send_time",
        "report_time",
        "success",
        "err_code",
        "err_msg",
        "sms_size",
        "biz_id",
        "out_id",
    }
    assert (item["biz_id"], item["out_id"], item["phone_number"]) == (result.provider_id, "notice-0001", "13800138000")
    assert (item["success"], item["err_code"], item["sms_size"]) == (True, "DELIVERED", "1")


@pytest.mark.parametrize(
    ("status", "body", "retry_after", "outcome"),
    [
        (429, b"Too Many Requests", "7", Outcome.DEFERRED),
        (404, b"<html>no such path</html>", None, Outcome.DEAD),
        (200, b'{"RequestId": "x"}', None, Outcome.RETRY),
        (200, b'{"Code": "OK", "Message": "OK", "BizId": "1^0"}', None, Outcome.SENT),
        (400, b'{"Code": "MissingPhoneNumbers", "Message": "PhoneNumbers is mandatory"}', None, Outcome.DEAD),
    ],
)
def test_interpret_covers_answers_the_fake_does_not_script(status, body, retry_after, outcome):
    result = sms.interpret(status, body, retry_after)
    assert result.outcome is outcome
    if retry_after:
        assert result.retry_after == 7


def test_a_daily_limit_waits_until_midnight_beijing_time():
    result = sms.interpret(200, '{"Code": "isv.DAY_LIMIT_CONTROL", "Message": "触发日发送限额"}'.encode())
    assert result.outcome is Outcome.DEFERRED
    assert 0 < result.retry_after <= 24 * 3600


@pytest.mark.parametrize(("length", "segments"), [(5, 1), (70, 1), (71, 2), (134, 2), (135, 3), (201, 3), (202, 4)])
def test_sms_segments_count_70_then_67_per_part(length, segments):
    text = "【政策通】" + "惠" * (length - 5)
    assert len(text) == length
    assert channels.sms_segments(text) == segments


def test_settings_from_env():
    config = sms.AliyunSmsSettings.from_env(
        {
            "POLICY_PUSH_ALIYUN_SMS_ACCESS_KEY_ID": "LTAI5tExample",
            "POLICY_PUSH_ALIYUN_SMS_ACCESS_KEY_SECRET": "s3cret",
            "POLICY_PUSH_ALIYUN_SMS_SIGN_NAME": "政策通",
            "POLICY_PUSH_ALIYUN_SMS_TIMEOUT": "3.5",
        }
    )
    assert (config.endpoint, config.sign_name, config.timeout) == ("https://dysmsapi.aliyuncs.com/", "政策通", 3.5)
    assert "s3cret" not in repr(config)
    fallback = sms.AliyunSmsSettings.from_env(
        {"ALIBABA_CLOUD_ACCESS_KEY_ID": "LTAI5tOther", "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "other"}
    )
    assert (fallback.access_key_id, fallback.access_key_secret) == ("LTAI5tOther", "other")


@pytest.mark.parametrize(
    ("extra", "variable"),
    [
        ({"POLICY_PUSH_ALIYUN_SMS_ACCESS_KEY_SECRET": ""}, "POLICY_PUSH_ALIYUN_SMS_ACCESS_KEY_SECRET"),
        ({"POLICY_PUSH_ALIYUN_SMS_TIMEOUT": "soon"}, "POLICY_PUSH_ALIYUN_SMS_TIMEOUT"),
        ({"POLICY_PUSH_ALIYUN_SMS_TIMEOUT": "-1"}, "POLICY_PUSH_ALIYUN_SMS_TIMEOUT"),
        ({"POLICY_PUSH_ALIYUN_SMS_ENDPOINT": "dysmsapi.aliyuncs.com"}, "POLICY_PUSH_ALIYUN_SMS_ENDPOINT"),
        ({"POLICY_PUSH_ALIYUN_SMS_ENDPOINT": "https://dysmsapi.aliyuncs.com/v1"}, "POLICY_PUSH_ALIYUN_SMS_ENDPOINT"),
    ],
)
def test_settings_errors_name_the_variable(extra, variable):
    env = {"POLICY_PUSH_ALIYUN_SMS_ACCESS_KEY_ID": "LTAI5tExample", "POLICY_PUSH_ALIYUN_SMS_ACCESS_KEY_SECRET": "s"}
    with pytest.raises(settings.SettingsError, match=variable):
        sms.AliyunSmsSettings.from_env({**env, **extra})
