"""The outbox and the delivery worker, on memory, SQLite and PostgreSQL: exactly one SMS and one
email per benefit, consent and opt-outs honoured, quiet hours, retries, and interrupted sends."""

from __future__ import annotations

import datetime

import pytest

from engine.core import notice_status
from engine.notices import channels, operator_actions, pacing, withholding, worker
from tests import factories
from tests.notices import helpers

S = notice_status.NoticeStatus


async def test_a_met_decision_creates_one_notice_per_channel_and_each_is_sent_once(store):
    await helpers.feed(store, *helpers.eligible_firm_events())
    notices = await store.firm_notices(helpers.FIRM)
    assert sorted((n.channel, n.period, n.status) for n in notices) == [("email", "2022", S.PENDING), ("sms", "2022", S.PENDING)]

    # Replays and a later VAT return that keeps the benefit met add nothing.
    await helpers.feed(store, *helpers.eligible_firm_events())
    await helpers.feed(store, (factories.event("tax.vat_declared", firm=helpers.FIRM, occurred_at="2022-06-01T09:00:00+08:00", period="2022-05"), "vat-2"))
    assert len(await store.firm_notices(helpers.FIRM)) == 2

    delivery, sms, email = helpers.make_worker(store)
    assert await delivery.run_once() == 2
    assert await delivery.run_once() == 0
    assert [m.phone for m in sms.sent] == ["+8613800138000"] and [m.to for m in email.sent] == ["cfo@example.cn"]
    sent = {n.channel: n for n in await store.firm_notices(helpers.FIRM)}
    assert sent["sms"].status == S.SENT and sent["sms"].provider_id == "mem-sms-1"
    assert sent["email"].message["subject"] == "免申即享"
    timeline = await store.notice_attempts(sent["sms"].notice_id)
    assert [(a.kind, a.status_after) for a in timeline] == [("send", S.SENT)]


async def test_no_consent_or_no_address_waits_with_the_reason(store):
    await helpers.feed(store, *helpers.eligible_firm_events(consent=False))
    other = factories.uscc(89)
    await helpers.feed(store, *helpers.eligible_firm_events(other, mobile=None))
    delivery, sms, email = helpers.make_worker(store)
    await delivery.run_once()
    assert sms.sent == [] and [m.to for m in email.sent] == ["cfo@example.cn"]
    notices = [*await store.firm_notices(helpers.FIRM), *await store.firm_notices(other)]
    reasons = {(n.uscc, n.channel): (n.status, n.reason) for n in notices}
    # Not final: a later contact event that brings the consent or the number sends them (test_waiting).
    assert reasons[(helpers.FIRM, "sms")] == (S.WAITING, "the firm has not consented to sms notices")
    assert reasons[(helpers.FIRM, "email")][0] == S.WAITING
    assert reasons[(other, "sms")] == (S.WAITING, "no mobile number on file")
    waiting = next(n for n in notices if n.uscc == other and n.channel == "sms")
    assert [(a.kind, a.status_after) for a in await store.notice_attempts(waiting.notice_id)] == [("wait", S.WAITING)]


async def test_an_opt_out_stops_the_channel_until_consent_is_given_again(store):
    await helpers.feed(store, *helpers.eligible_firm_events()[:2])
    await store.opt_out(helpers.FIRM, "sms", "sms reply 'T'", datetime.datetime(2022, 4, 20, tzinfo=datetime.UTC))
    await helpers.feed(store, helpers.eligible_firm_events()[2])
    delivery, sms, email = helpers.make_worker(store)
    await delivery.run_once()
    notice = {n.channel: n for n in await store.firm_notices(helpers.FIRM)}["sms"]
    assert notice.status == S.SKIPPED and "opted out of sms" in notice.reason
    assert sms.sent == [] and len(email.sent) == 1
    fields = (await store.get_firm(helpers.FIRM)).fields
    later = {"contact.consent.sms": ["2022-04-21T00:00:00+00:00", "e"]}
    decisions = await store.decisions(helpers.FIRM)
    assert withholding.not_now(notice, fields, later, await store.opt_outs(helpers.FIRM), decisions) is None


async def test_sms_in_quiet_hours_is_deferred_to_the_morning_not_dropped(store):
    await helpers.feed(store, *helpers.eligible_firm_events())
    night = helpers.Clock(helpers.next_china_time(22, 30))
    delivery, sms, email = helpers.make_worker(store, clock=night, quiet=pacing.QuietHours.parse("21:00-08:00"))
    await delivery.run_once()
    notice = {n.channel: n for n in await store.firm_notices(helpers.FIRM)}["sms"]
    morning = night.at + datetime.timedelta(hours=9, minutes=30)  # 08:00 in China the next day
    assert notice.status == S.DEFERRED and notice.next_attempt_at == morning
    assert sms.sent == [] and len(email.sent) == 1
    night.at = morning + datetime.timedelta(seconds=1)
    await delivery.run_once()
    assert len(sms.sent) == 1


async def test_transient_failures_back_off_then_die_at_the_limit(store):
    await helpers.feed(store, *helpers.eligible_firm_events())
    clock = helpers.Clock(helpers.soon())
    delivery, sms, email = helpers.make_worker(store, clock=clock, limit=3)
    sms.script([channels.Outcome.RETRY] * 3)
    email.script([channels.Outcome.DEFERRED, channels.Outcome.SENT])
    for _ in range(3):
        await delivery.run_once()
        notice = {n.channel: n for n in await store.firm_notices(helpers.FIRM)}
        clock.at = max(n.next_attempt_at for n in notice.values()) + datetime.timedelta(seconds=1)
    final = {n.channel: n for n in await store.firm_notices(helpers.FIRM)}
    assert final["sms"].status == S.DEAD and final["sms"].attempts == 3 and "gave up after 3 attempts" in final["sms"].reason
    assert [a.status_after for a in await store.notice_attempts(final["sms"].notice_id)] == [S.FAILED, S.FAILED, S.DEAD]
    assert final["email"].status == S.SENT and final["email"].attempts == 1  # a deferral is not a failed attempt


async def test_backoff_grows_and_stays_within_the_cap():
    backoff = pacing.Backoff(30, 3600, 8)
    for attempts, ceiling in [(1, 30), (2, 60), (3, 120), (8, 3600), (20, 3600)]:
        delay = backoff.delay(attempts).total_seconds()
        assert ceiling / 2 <= delay <= ceiling


async def test_permanent_refusal_is_dead_and_an_operator_can_requeue_it(store):
    await helpers.feed(store, *helpers.eligible_firm_events())
    delivery, sms, email = helpers.make_worker(store)
    sms.script([channels.SendResult(channels.Outcome.DEAD, reason="isv.MOBILE_NUMBER_ILLEGAL: 非法手机号")])
    await delivery.run_once()
    notice = {n.channel: n for n in await store.firm_notices(helpers.FIRM)}["sms"]
    assert notice.status == S.DEAD and notice.reason.startswith("isv.MOBILE_NUMBER_ILLEGAL")
    requeued = await operator_actions.requeue(store, notice.notice_id, "operator 张三")
    assert requeued.status == S.PENDING
    await delivery.run_once()
    assert (await store.get_notice(notice.notice_id)).status == S.SENT
    assert [a.kind for a in await store.notice_attempts(notice.notice_id)] == ["send", "operator", "send"]


async def test_a_send_interrupted_by_a_crash_email_again_sms_never_twice(store):
    await helpers.feed(store, *helpers.eligible_firm_events())
    clock = helpers.Clock(helpers.soon())
    crashed, _, _ = helpers.make_worker(store, clock=clock)
    claimed = [n for digest in await store.claim_due_digests(clock(), 10, crashed.lease) for n in digest]  # ...and the process dies here
    assert {n.status for n in claimed} == {S.SENDING}
    clock.at += crashed.lease + datetime.timedelta(seconds=1)
    restarted, sms, email = helpers.make_worker(store, clock=clock)
    await restarted.run_once()
    after = {n.channel: n for n in await store.firm_notices(helpers.FIRM)}
    assert after["email"].status == S.SENT and len(email.sent) == 1
    assert after["sms"].status == S.DEAD and "not re-sent" in after["sms"].reason and sms.sent == []
    assert await restarted.run_once() == 0  # nothing goes out twice


async def test_a_worker_killed_mid_round_condemns_only_the_sms_in_flight(store):
    firms = [factories.uscc(320 + n) for n in range(5)]
    for firm in firms:
        await helpers.feed(store, *helpers.eligible_firm_events(firm))
    clock = helpers.Clock(helpers.soon())
    killed, _, _ = helpers.make_worker(store, clock=clock)
    # The worker claims its round, starts the SMS, and is killed with SIGKILL before recording anything.
    claimed = await killed._claim("email") + await killed._claim("sms")
    assert sorted(digest[0].channel for digest in claimed) == ["email"] * 5 + ["sms"]
    clock.at += killed.lease + datetime.timedelta(seconds=1)
    restarted, sms, email = helpers.make_worker(store, clock=clock)
    await restarted.run_once()
    notices = [n for firm in firms for n in await store.firm_notices(firm)]
    assert sorted(n.status.value for n in notices if n.channel == "sms") == ["dead"] + ["sent"] * 4
    assert {n.status for n in notices if n.channel == "email"} == {S.SENT}
    assert (len(sms.sent), len(email.sent)) == (4, 5)


async def test_claims_never_hand_the_same_notice_to_two_workers(store):
    for n in range(5):
        await helpers.feed(store, *helpers.eligible_firm_events(factories.uscc(300 + n)))
    now = helpers.soon()
    first = [n for digest in await store.claim_due_digests(now, 6, datetime.timedelta(minutes=5)) for n in digest]
    second = [n for digest in await store.claim_due_digests(now, 6, datetime.timedelta(minutes=5)) for n in digest]
    assert len(first) == 6 and len(second) == 4
    assert not {n.notice_id for n in first} & {n.notice_id for n in second}


async def test_an_sms_whose_answer_was_lost_is_not_resent_but_an_email_is(store):
    await helpers.feed(store, *helpers.eligible_firm_events())
    delivery, sms, email = helpers.make_worker(store)
    lost = channels.SendResult(channels.Outcome.RETRY, reason="no answer within 5s", ambiguous=True)
    sms.script([lost])
    email.script([lost])
    await delivery.run_once()
    after = {n.channel: n for n in await store.firm_notices(helpers.FIRM)}
    assert after["sms"].status == S.DEAD and "not re-sent" in after["sms"].reason
    assert after["email"].status == S.FAILED  # email is retried: at-least-once


async def test_a_stopping_worker_hands_back_claims_it_has_not_tried(store):
    for n in range(3):
        await helpers.feed(store, *helpers.eligible_firm_events(factories.uscc(400 + n)))
    delivery, sms, email = helpers.make_worker(store)

    def stopping_on_send(sender):
        original = sender.send

        async def send_then_stop(message):
            delivery._stopping = True  # SIGTERM arrives while the first digest is being sent
            return await original(message)
        return send_then_stop

    # One lane, so "the first send" is one: the email lane claims all three digests in one batch.
    del delivery.channels["sms"]
    email.send = stopping_on_send(email)
    assert await delivery.run_once() == 1
    counts = await store.count_notices()
    assert counts.get("sent") == 1 and counts.get("pending") == 5 and "sending" not in counts


async def test_a_worker_whose_lease_was_recovered_cannot_overwrite_the_new_owner(store):
    await helpers.feed(store, *helpers.eligible_firm_events())
    clock = helpers.Clock(helpers.soon())
    slow, slow_sms, slow_email = helpers.make_worker(store, clock=clock)
    [[first, *_], *_] = await store.claim_due_digests(clock(), 10, slow.lease)
    clock.at += slow.lease + datetime.timedelta(seconds=1)  # the first worker stalls past its lease
    other, sms, email = helpers.make_worker(store, clock=clock)
    await other.run_once()  # recovers, re-claims and sends
    before = await store.notice_attempts(first.notice_id)
    try:
        await store.transition_notice(first.notice_id, worker.outbox.Transition(S.SENT, "send", "sent"), expect=S.SENDING, lease=first.lease_until)
    except notice_status.IllegalTransition as exc:
        refused = str(exc)
    else:
        refused = ""
    assert refused  # either no longer sending, or the lease is not the stalled worker's
    assert await store.notice_attempts(first.notice_id) == before
    # And the stalled worker, resuming with its old claim, refuses to send once its lease has run out.
    with pytest.raises(notice_status.IllegalTransition, match="lease ran out"):
        await slow.deliver(first)
    assert slow_sms.sent == [] and slow_email.sent == []
