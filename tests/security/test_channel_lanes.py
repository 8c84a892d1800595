"""Channels cannot stall each other, and an SMS is claimed only when it can be sent (issue 18, items 3
and 7).

The email side is a real TCP peer that accepts and then never answers, as a relay stopped with
SIGSTOP does, reached by the real SMTP connector; the SMS side is the in-memory provider (the edge
the tests cannot reach), paced by the real rate limiter.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from connectors import email as smtp
from engine.notices import pacing, worker
from engine.testing import memory_channels
from tests import factories
from tests.notices import helpers

FIRMS = 30
SMS_PER_SECOND = 30.0
#: Longest wait for the SMS of all firms, far above what the pace allows (about one second).
DEADLINE_SECONDS = 20.0


@pytest.fixture
async def stalled_relay():
    """A listening socket that accepts connections and never says a word."""
    held: list[asyncio.StreamWriter] = []

    async def silent(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    for writer in held:
        writer.close()
    server.close()
    await server.wait_closed()


async def sms_pass(store, email_sender, first_firm: int) -> tuple[float, memory_channels.MemorySmsSender]:
    """Feed FIRMS firms (each owed an SMS and an email), run the worker as the service does, and time
    how long until every SMS was handed to the provider."""
    for n in range(FIRMS):
        await helpers.feed(store, *helpers.eligible_firm_events(factories.uscc(first_firm + n)))
    sms = memory_channels.MemorySmsSender()
    delivery = worker.DeliveryWorker(store, helpers.compose, {
        "sms": worker.Channel(sms, pacing.RateLimiter(SMS_PER_SECOND)),
        "email": worker.Channel(email_sender, pacing.RateLimiter(1000)),
    }, clock=helpers.Clock(helpers.soon()))
    started = time.perf_counter()
    task = asyncio.create_task(delivery.run_forever())
    try:
        while len(sms.sent) < FIRMS:
            if time.perf_counter() - started > DEADLINE_SECONDS:
                raise AssertionError(f"only {len(sms.sent)} of {FIRMS} SMS went out in {DEADLINE_SECONDS:g} s")
            await asyncio.sleep(0.01)
        return time.perf_counter() - started, sms
    finally:
        await delivery.stop(task, timeout=1.0)


async def test_a_stalled_email_relay_does_not_hold_up_sms(store, stalled_relay):
    healthy, _ = await sms_pass(store, memory_channels.MemoryEmailSender(), 500)
    stalled_sender = smtp.SmtpSender(smtp.SmtpSettings(
        host="127.0.0.1", port=stalled_relay, security="none", from_address="noreply@example.cn", local_hostname="w.test"))
    stalled, sms = await sms_pass(store, stalled_sender, 600)
    assert len(sms.sent) == FIRMS
    # The SMS pace is the limiter's, stalled relay or not (within noise).
    assert stalled <= healthy * 1.5 + 0.5, (healthy, stalled)


class _Observed(pacing.RateLimiter):
    """The real token bucket, saying when a send starts waiting for it."""

    def __init__(self, per_second: float) -> None:
        super().__init__(per_second)
        self.waiting = asyncio.Event()

    async def acquire(self) -> None:
        self.waiting.set()
        await super().acquire()


async def test_an_sms_waiting_for_its_rate_limit_is_not_claimed(store):
    firm = factories.uscc(700)
    await helpers.feed(store, *helpers.eligible_firm_events(firm))
    limiter = _Observed(0.001)
    limiter.tokens = 0.0  # the bucket is empty: the SMS waits about a quarter of an hour for a token
    delivery = worker.DeliveryWorker(store, helpers.compose, {
        "sms": worker.Channel(memory_channels.MemorySmsSender(), limiter),
    }, clock=helpers.Clock(helpers.soon()))
    draining = asyncio.create_task(delivery.run_once())
    await limiter.waiting.wait()
    draining.cancel()  # the worker is killed while it waits for the limiter
    with pytest.raises(asyncio.CancelledError):
        await draining
    [sms] = [n for n in await store.firm_notices(firm) if n.channel == "sms"]
    # Never claimed, so never declared dead by recovery: it goes out when a worker next runs.
    assert sms.status.value == "pending"


async def test_an_interrupted_email_is_recovered_while_a_long_sms_pass_runs(store):
    for n in (710, 711):
        await helpers.feed(store, *helpers.eligible_firm_events(factories.uscc(n)))
    clock = helpers.Clock(helpers.soon())
    # A worker claimed one email and died with it (SIGKILL); its lease has five minutes to run.
    [[interrupted]] = await store.claim_due_digests(clock(), 1, worker.datetime.timedelta(minutes=5), ("email",))
    limiter = _Observed(0.001)
    limiter.tokens = 0.0  # the SMS lane waits a quarter of an hour for its next token
    email = memory_channels.MemoryEmailSender()
    delivery = worker.DeliveryWorker(store, helpers.compose, {
        "sms": worker.Channel(memory_channels.MemorySmsSender(), limiter),
        "email": worker.Channel(email, pacing.RateLimiter(1000)),
    }, clock=clock, recovery_seconds=0.05, poll_seconds=3600)  # lanes run when woken
    task = asyncio.create_task(delivery.run_forever())
    try:
        await limiter.waiting.wait()  # the long SMS pass has begun
        clock.at += worker.datetime.timedelta(minutes=6)  # the dead worker's lease runs out
        started = time.perf_counter()
        while interrupted.notice_id not in {m.notice_id for m in email.sent}:
            if time.perf_counter() - started > DEADLINE_SECONDS:
                raise AssertionError("the interrupted email waited for the SMS pass to end")
            await asyncio.sleep(0.01)
    finally:
        await delivery.stop(task, timeout=1.0)
    assert (await store.get_notice(interrupted.notice_id)).status.value == "sent"
