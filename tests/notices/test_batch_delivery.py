"""Delivery a batch at a time: one read of the batch's firms, one transaction for its outcomes, emails side by
side over several SMTP sessions, SMS side by side up to the channel's concurrency, on every store."""

from __future__ import annotations

import asyncio
import collections
import datetime
import email

import pytest

from connectors import email as smtp
from connectors import smtp_pool, sql_storage
from engine.core import notice_status
from engine.notices import channels, outbox, pacing, worker
from engine.testing import memory_channels
from tests import factories
from tests.channels import conftest as smtp_fixtures
from tests.notices import helpers

S = notice_status.NoticeStatus
LEASE = datetime.timedelta(minutes=5)


async def _firms(store, count: int, first: int = 700) -> list[str]:
    firms = [factories.uscc(first + n) for n in range(count)]
    for n, firm in enumerate(firms):
        await helpers.feed(store, *helpers.eligible_firm_events(firm, email=f"cfo{n}@firm{n}.example.cn"))
    return firms


async def test_a_batch_goes_out_over_several_smtp_sessions_each_digest_once(store):
    firms = await _firms(store, 12)
    server = smtp_fixtures.SmtpTestServer(smtp_fixtures.RecordingHandler(), {}, None)
    await server.start()
    try:
        relay = smtp.SmtpSettings(host="127.0.0.1", port=server.port, security="none", from_address="noreply@example.cn",
                                  local_hostname="worker.test", timeout=5.0)
        pool = smtp_pool.SmtpPool(relay, 3)
        delivery = worker.DeliveryWorker(
            store, helpers.compose,
            {"email": worker.Channel(pool, pacing.RateLimiter(1000), concurrency=3),
             "sms": worker.Channel(memory_channels.MemorySmsSender(), pacing.RateLimiter(1000))},
            clock=helpers.Clock(helpers.soon()),
        )
        await delivery.run_once()
        await pool.close()
    finally:
        await server.stop()

    notices = [n for firm in firms for n in await store.firm_notices(firm) if n.channel == "email"]
    assert {n.status for n in notices} == {S.SENT}
    received = collections.Counter(email.message_from_bytes(d.content)["Message-ID"].strip("<>") for d in server.deliveries)
    # Each firm's digest arrived once, under its own Message-ID, which its notice records.
    assert received == collections.Counter(f"{n.digest_id}@policy-push" for n in notices)
    assert {n.provider_id for n in notices} == set(received)
    assert sorted(d.rcpt_tos[0] for d in server.deliveries) == sorted(f"cfo{n}@firm{n}.example.cn" for n in range(12))
    # Side by side: the batch used every session of the pool, and no more.
    assert server.connections == 3


class HeldSmsProvider:
    """An SMS provider that takes each message and answers only when the test lets it: how many are in its hands
    at once is what the worker sent side by side."""

    def __init__(self, expected: int) -> None:
        self.in_flight = 0
        self.most_in_flight = 0
        self.sent: list[channels.SmsMessage] = []
        self.reached = asyncio.Event()
        self.answer = asyncio.Event()
        self._expected = expected

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def send(self, message: channels.SmsMessage) -> channels.SendResult:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        if self.in_flight >= self._expected:
            self.reached.set()
        await self.answer.wait()
        self.in_flight -= 1
        self.sent.append(message)
        return channels.SendResult(channels.Outcome.SENT, provider_id=f"biz-{message.out_id}", response="OK")


async def test_sms_go_side_by_side_up_to_the_channels_concurrency_each_claimed_only_when_sent(store):
    firms = await _firms(store, 6)
    provider = HeldSmsProvider(expected=3)
    delivery = worker.DeliveryWorker(
        store, helpers.compose,
        {"sms": worker.Channel(provider, pacing.RateLimiter(1000), concurrency=3),
         "email": worker.Channel(memory_channels.MemoryEmailSender(), pacing.RateLimiter(1000))},
        clock=helpers.Clock(helpers.soon()),
    )
    run = asyncio.create_task(delivery.run_once())
    await asyncio.wait_for(provider.reached.wait(), 10)  # a bound on a hang, not a timing
    sms = [n for firm in firms for n in await store.firm_notices(firm) if n.channel == "sms"]
    # Three in the provider's hands, and only those claimed: a worker killed now condemns three SMS, no more.
    assert provider.in_flight == 3
    assert collections.Counter(n.status for n in sms) == {S.SENDING: 3, S.PENDING: 3}
    provider.answer.set()
    await asyncio.wait_for(run, 10)
    sms = [n for firm in firms for n in await store.firm_notices(firm) if n.channel == "sms"]
    assert {n.status for n in sms} == {S.SENT}
    assert sorted(m.out_id for m in provider.sent) == sorted(n.digest_id for n in sms)
    assert provider.most_in_flight == 3


@pytest.mark.parametrize("store", ["postgres"], indirect=True)
async def test_a_claim_whose_first_choice_another_worker_took_meanwhile_takes_the_next_due_digest(store, monkeypatch):
    """Two claimers at once (two workers, or one worker's SMS slots): this one reads the due digests, the other
    claims the first of them and commits, and only then does this one lock it and find it taken. It must go on
    to the next due digest: returning nothing told its SMS slot that nothing was due, and the slot stopped
    while SMS waited (likely why this file's SMS test once timed out in CI waiting for its third slot)."""
    firms = await _firms(store, 3)
    now = helpers.soon()
    other = sql_storage.SqlStorage(store.url)
    await other.open()
    taken: list = []
    lock_due = store._lock_due

    async def another_claim_commits_first(connection, *args):
        if not taken:  # once: between this claimer's read of the due digests and its locks
            taken.extend(await other.claim_due_digests(now, 1, LEASE, ("sms",)))
        return await lock_due(connection, *args)

    monkeypatch.setattr(store, "_lock_due", another_claim_commits_first)
    try:
        mine = await store.claim_due_digests(now, 1, LEASE, ("sms",))
    finally:
        await other.close()

    assert len(taken) == 1 and len(mine) == 1  # one digest each
    theirs, ours = taken[0][0].uscc, mine[0][0].uscc
    [untouched] = set(firms) - {theirs, ours}
    sms = {firm: {n.status for n in await store.firm_notices(firm) if n.channel == "sms"} for firm in firms}
    assert sms == {theirs: {S.SENDING}, ours: {S.SENDING}, untouched: {S.PENDING}}


async def test_transition_digests_writes_each_digest_or_refuses_it_alone(store):
    await _firms(store, 3)
    now = helpers.soon()
    first, second, lost = await store.claim_due_digests(now, 10, LEASE, ("email",))
    sent = outbox.Transition(S.SENT, "send", "sent", provider_id="relay-1", counts_attempt=True)
    done = await store.transition_digests([
        outbox.DigestChange(first, sent, lease=first[0].lease_until),
        outbox.DigestChange(second, sent, lease=second[0].lease_until),
        # A claim this writer no longer holds (another worker recovered it): refused, the others written.
        outbox.DigestChange(lost, sent, lease=lost[0].lease_until + datetime.timedelta(seconds=1)),
    ], expect=S.SENDING)

    assert [[n.status for n in d] for d in done[:2]] == [[S.SENT], [S.SENT]]
    assert isinstance(done[2], notice_status.IllegalTransition)
    for digest in (first, second):
        now_stored = await store.get_notice(digest[0].notice_id)
        assert (now_stored.status, now_stored.attempts, now_stored.provider_id) == (S.SENT, 1, "relay-1")
        assert [a.kind for a in await store.notice_attempts(digest[0].notice_id)][-1] == "send"
    untouched = await store.get_notice(lost[0].notice_id)
    assert (untouched.status, untouched.lease_until) == (S.SENDING, lost[0].lease_until)
    assert "send" not in [a.kind for a in await store.notice_attempts(lost[0].notice_id)]


async def test_the_batch_read_of_firms_says_what_the_reads_of_each_firm_say(store):
    quiet, chatty = await _firms(store, 2)
    at = datetime.datetime(2022, 6, 1, tzinfo=datetime.UTC)
    await store.set_sms_preference(chatty, outbox.SMS_GRANTS_ONLY, "firm", at)
    await store.opt_out(quiet, "sms", "reply T", at)
    unknown = factories.uscc(799)

    contexts = await store.delivery_context([quiet, chatty, unknown, quiet])

    assert set(contexts) == {quiet, chatty, unknown}
    for firm in (quiet, chatty):
        context = contexts[firm]
        assert context.firm == await store.get_firm(firm)
        assert list(context.decisions) == await store.decisions(firm)
        assert dict(context.opted_out) == await store.opt_outs(firm)
        assert context.sms_preference == await store.sms_preference(firm)
    assert contexts[chatty].sms_preference == outbox.SMS_GRANTS_ONLY and "sms" in contexts[quiet].opted_out
    assert contexts[unknown] == outbox.FirmContext(None, [], {}, outbox.SMS_ALL)


async def test_a_digest_that_cannot_be_worded_for_a_defect_does_not_hold_up_the_rest_of_its_batch(store):
    firms = await _firms(store, 4)
    broken = firms[1]

    def compose(notices, firm_profile, decisions):
        if notices[0].uscc == broken:
            raise KeyError("a template variable the catalogue lacks")  # a defect, not bad words (ValueError)
        return helpers.compose(notices, firm_profile, decisions)

    email = memory_channels.MemoryEmailSender()
    delivery = worker.DeliveryWorker(store, compose, {"email": worker.Channel(email, pacing.RateLimiter(1000))},
                                     clock=helpers.Clock(helpers.soon()))
    await delivery.run_once()

    by_firm = {firm: [n for n in await store.firm_notices(firm) if n.channel == "email"] for firm in firms}
    assert {firm: {n.status for n in notices} for firm, notices in by_firm.items()} == {
        firm: {S.SENDING if firm == broken else S.SENT} for firm in firms
    }  # the broken one is left to its lease, and recovery
    assert len(email.sent) == 3
