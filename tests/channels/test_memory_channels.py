"""In-memory senders: record what was sent, answer from a script."""

from __future__ import annotations

import pytest

from engine.notices import channels
from engine.testing import memory_channels

Outcome = channels.Outcome


def sms(notice_id: str) -> channels.SmsMessage:
    return channels.SmsMessage(notice_id=notice_id, phone="+8613800138000", sign_name="政策推送",
                               template_code="SMS_1", params={"firm": "示例商贸"}, text="【政策推送】示例商贸：您好")


async def test_every_send_succeeds_by_default_with_numbered_ids(make_email):
    sender = memory_channels.MemoryEmailSender()
    first, second = make_email(), make_email()
    results = [await sender.send(first), await sender.send(second)]
    assert [(r.outcome, r.provider_id) for r in results] == [(Outcome.SENT, "mem-email-1"), (Outcome.SENT, "mem-email-2")]
    assert sender.sent == [first, second]


async def test_scripted_outcomes_come_first_then_sent():
    sender = memory_channels.MemorySmsSender()
    sender.script([Outcome.RETRY, Outcome.DEFERRED, Outcome.SENT])
    results = [await sender.send(sms(f"ntc_{i}")) for i in range(4)]
    assert [r.outcome for r in results] == [Outcome.RETRY, Outcome.DEFERRED, Outcome.SENT, Outcome.SENT]
    assert results[0].reason == "scripted retry" and results[0].provider_id is None
    assert [r.provider_id for r in results[2:]] == ["mem-sms-1", "mem-sms-2"]
    assert [m.notice_id for m in sender.sent] == ["ntc_2", "ntc_3"]
    assert [(m.notice_id, r.outcome) for m, r in sender.attempts] == [
        ("ntc_0", Outcome.RETRY), ("ntc_1", Outcome.DEFERRED), ("ntc_2", Outcome.SENT), ("ntc_3", Outcome.SENT)]


async def test_script_accepts_full_results():
    sender = memory_channels.MemorySmsSender()
    slow_down = channels.SendResult(Outcome.DEFERRED, response={"Code": "isv.BUSINESS_LIMIT_CONTROL"},
                                    reason="flow control", retry_after=3600)
    sender.script([slow_down])
    assert await sender.send(sms("ntc_1")) is slow_down
    assert sender.sent == []


@pytest.mark.parametrize("kind", [memory_channels.MemoryEmailSender, memory_channels.MemorySmsSender])
async def test_open_and_close_are_recorded(kind):
    sender = kind()
    assert (sender.opened, sender.closed) == (False, False)
    await sender.open()
    await sender.close()
    assert (sender.opened, sender.closed) == (True, True)
