"""Provider outage: the SMTP relay and the SMS provider are down for a while; the notices back off;
after recovery every one is delivered, and none twice.

Real parts throughout: an aiosmtpd server and the SendSms fake (tests/channels), reached over TCP by
the real connectors (connectors/email.py, connectors/sms.py), driven by the real DeliveryWorker
(`run_forever`, started while the providers are down) over each storage back-end. "Down" means
stopped: connection refused, and later listening again on the same port; "in trouble" means
answering temporary failures (SMTP 421/451, Aliyun HTTP 503 ServiceUnavailable, isp.SYSTEM_ERROR,
isv.BUSINESS_LIMIT_CONTROL).

Time: the worker runs on a settable clock, as in test_worker.py, with the production back-off
(30 s … 1 h, 8 attempts) unless a test says otherwise. The test moves the clock to the latest
next attempt and wakes the worker instead of waiting. While the clock stands still nothing new
falls due, so each move gives every notice exactly one attempt, and the back-off spacing can be
checked exactly against the clock.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import datetime
import email
import time
from collections.abc import AsyncIterator, Callable

import pytest
from aiohttp import test_utils

from connectors import email as smtp
from connectors import sms
from engine import constants
from engine.core import notice_status
from engine.notices import operator_actions, outbox, pacing, worker
from tests import factories
from tests.channels import conftest as smtp_fixtures
from tests.channels import fake_aliyun
from tests.notices import helpers

S = notice_status.NoticeStatus
FIRMS = 10  # one SMS and one email each: 20 notices
PRODUCTION_BACKOFF = pacing.Backoff(
    constants.NOTICE_BACKOFF_BASE_SECONDS, constants.NOTICE_BACKOFF_CAP_SECONDS, constants.NOTICE_MAX_ATTEMPTS
)
#: For the worker to work through one round of attempts; a miss names the states reached.
ROUND_DEADLINE_SECONDS = 20
DOWN = "down"


@dataclasses.dataclass(frozen=True)
class Phase:
    """How the providers behave for one round of attempts, and the reason each channel records."""

    name: str
    #: DOWN, or SMTP command → the reply the relay gives every such command.
    smtp: str | dict[str, str]
    #: DOWN, or the answer the SendSms endpoint gives every request.
    sms: str | fake_aliyun.Failure
    email_reason: str
    sms_reason: str


BOTH_DOWN = Phase("both providers down", DOWN, DOWN, "connection failed", "cannot connect to")
OVERLOADED = Phase(
    "back, but overloaded", {"MAIL": "421 4.3.2 Service not available"}, fake_aliyun.SERVICE_UNAVAILABLE,
    "temporary failure: 421", "HTTP 503, ServiceUnavailable",
)
FAILING = Phase(
    "back, but failing", {"DATA": "451 4.3.0 Temporary server error, try again later"}, fake_aliyun.SYSTEM_ERROR,
    "temporary failure: 451", "isp.SYSTEM_ERROR",
)
#: Aliyun flow control, "触发分钟级流控": the account's per-minute limit; the relay is fine.
SMS_THROTTLED = Phase("SMS throttled", {}, fake_aliyun.BUSINESS_LIMIT_CONTROL, "", "isv.BUSINESS_LIMIT_CONTROL")


class Providers:
    """The SMTP relay and the SendSms endpoint, each of which can be stopped and started again on
    its port, or told to answer every request with a temporary failure."""

    def __init__(self) -> None:
        self.smtp = smtp_fixtures.SmtpTestServer(smtp_fixtures.RecordingHandler(), {}, None)
        self.fake = fake_aliyun.FakeAliyunSms()
        self._sms_server: test_utils.TestServer | None = None
        self.sms_port = 0

    async def start(self) -> None:
        await self.smtp.start()
        await self._start_sms()

    async def _start_sms(self) -> None:
        self._sms_server = test_utils.TestServer(self.fake.app, port=self.sms_port)
        await self._sms_server.start_server()
        self.sms_port = self._sms_server.port

    async def _stop_sms(self) -> None:
        server, self._sms_server = self._sms_server, None
        if server is not None:
            self.fake.release()
            await server.close()

    async def enter(self, phase: Phase | None) -> None:
        """Behave as `phase` says; None is healthy."""
        if phase is not None and phase.smtp == DOWN:
            await self.smtp.stop()
        else:
            if not self.smtp.listening:
                await self.smtp.start()
            self.smtp.handler.refuse = dict(phase.smtp) if phase is not None else {}
        if phase is not None and phase.sms == DOWN:
            await self._stop_sms()
        else:
            if self._sms_server is None:
                await self._start_sms()
            self.fake.fail_all(phase.sms if phase is not None else None)

    async def close(self) -> None:
        await self.smtp.stop()
        await self._stop_sms()

    def worker_channels(self) -> dict[str, worker.Channel]:
        relay = smtp.SmtpSettings(host="127.0.0.1", port=self.smtp.port, security="none", from_address="noreply@example.cn",
                                  local_hostname="worker.test", timeout=5.0)
        provider = sms.AliyunSmsSettings(access_key_id=fake_aliyun.KEY_ID, access_key_secret=fake_aliyun.KEY_SECRET,
                                         endpoint=f"http://127.0.0.1:{self.sms_port}/", timeout=5.0)
        return {
            "email": worker.Channel(smtp.SmtpSender(relay), pacing.RateLimiter(1000)),
            "sms": worker.Channel(sms.AliyunSmsSender(provider), pacing.RateLimiter(1000)),
        }

    def message_ids(self) -> collections.Counter[str]:
        """Message-ID (without brackets) → how many times the relay accepted it."""
        return collections.Counter(
            email.message_from_bytes(d.content)["Message-ID"].strip("<>") for d in self.smtp.deliveries
        )

    def sendsms_calls(self) -> dict[str, list[str]]:
        """OutId → the Code the endpoint answered to each SendSms call for it, in order."""
        calls: dict[str, list[str]] = collections.defaultdict(list)
        for request in self.fake.requests:
            calls[request.query["OutId"]].append(request.code)
        return dict(calls)


@pytest.fixture
async def providers() -> AsyncIterator[Providers]:
    both = Providers()
    await both.start()
    try:
        yield both
    finally:
        await both.close()


class Run:
    """Due notices for FIRMS firms, and the worker sending them on a settable clock."""

    def __init__(self, store, providers: Providers, backoff: pacing.Backoff) -> None:
        self.store = store
        self.providers = providers
        self.firms = [factories.uscc(500 + n) for n in range(FIRMS)]
        self.backoff = backoff
        self.clock: helpers.Clock | None = None
        self.delivery: worker.DeliveryWorker | None = None
        self.task: asyncio.Task[None] | None = None

    async def create_notices(self) -> list[outbox.NoticeRecord]:
        events = [
            event
            for n, firm in enumerate(self.firms)
            for event in helpers.eligible_firm_events(firm, mobile=f"1380013{n:04d}", email=f"cfo{n}@firm{n}.example.cn")
        ]
        await helpers.feed(self.store, *events)
        notices = await self.notices()
        assert len(notices) == 2 * FIRMS and {n.status for n in notices} == {S.PENDING}
        return notices

    async def notices(self) -> list[outbox.NoticeRecord]:
        return [notice for firm in self.firms for notice in await self.store.firm_notices(firm)]

    def start_worker(self) -> None:
        self.clock = helpers.Clock(helpers.soon())  # every notice is due
        # A long poll: the worker moves only when the test wakes it, after moving the clock.
        self.delivery = worker.DeliveryWorker(self.store, helpers.compose, self.providers.worker_channels(),
                                              backoff=self.backoff, clock=self.clock, poll_seconds=60)
        self.task = asyncio.create_task(self.delivery.run_forever())

    async def stop_worker(self) -> None:
        task, self.task = self.task, None
        if task is not None:
            await self.delivery.stop(task, timeout=10)  # closes the SMTP session and the HTTP session

    def advance(self, to: datetime.datetime) -> None:
        """Move the clock to `to` and wake the worker, as its poll would once that time came."""
        self.clock.at = to
        self.delivery.wake()

    async def settle(self, what: str, done: Callable[[outbox.NoticeRecord], bool]) -> list[outbox.NoticeRecord]:
        """Poll (with a deadline) until every notice satisfies `done`; fail at once if the worker died
        or has settled every notice otherwise."""
        deadline = time.monotonic() + ROUND_DEADLINE_SECONDS
        while True:
            # While a claimed batch is in flight, one cheap count says "not yet"; the full read
            # (every notice) runs only when none is being sent.
            if S.SENDING.value not in await self.store.count_notices():
                notices = await self.notices()
                if all(done(n) for n in notices):
                    return notices
                if not any(n.status == S.SENDING or (n.status in notice_status.DUE and n.next_attempt_at <= self.clock.at)
                           for n in notices):
                    # Nothing in flight and nothing due: with the clock standing still, each of these
                    # states is final (so even a read spread over several queries sees the end).
                    reached = collections.Counter((n.channel, n.status.value, n.attempts) for n in notices)
                    pytest.fail(f"{what}: the worker settled elsewhere; {dict(reached)}")
            if self.task.done():
                self.task.result()  # raises the worker's exception
                pytest.fail(f"the worker stopped before {what}")
            if time.monotonic() > deadline:
                reached = collections.Counter((n.channel, n.status.value, n.attempts) for n in await self.notices())
                pytest.fail(f"{what}: not reached within {ROUND_DEADLINE_SECONDS} s; {dict(reached)}")
            await asyncio.sleep(0.02)  # polling a condition with a deadline, not covering a race

    async def outage_round(self, n: int, phase: Phase, final: S = S.FAILED) -> list[outbox.NoticeRecord]:
        """Attempt `n` of every notice during `phase`: each fails (or, past the budget, dies)."""
        await self.providers.enter(phase)
        if self.task is None:
            self.start_worker()  # the worker starts during the outage
        else:
            self.advance(max(x.next_attempt_at for x in await self.notices()))
        notices = await self.settle(f"attempt {n} ({phase.name})", lambda x: x.status == final and x.attempts == n)
        # The providers accepted nothing while in trouble.
        assert self.providers.smtp.deliveries == [] and self.providers.fake.accepted == []
        return notices

    async def recover(self) -> list[outbox.NoticeRecord]:
        """The providers are healthy again: everything due goes out."""
        await self.providers.enter(None)
        self.advance(max(x.next_attempt_at for x in await self.notices()))
        return await self.settle("all sent after recovery", lambda x: x.status == S.SENT)

    def assert_each_delivered_once(self, notices: list[outbox.NoticeRecord]) -> None:
        """Counted at the servers: one accepted email per Message-ID, one accepted SendSms per OutId."""
        email_ids = {n.notice_id for n in notices if n.channel == "email"}
        sms_ids = {n.notice_id for n in notices if n.channel == "sms"}
        assert self.providers.message_ids() == {f"{notice_id}@policy-push": 1 for notice_id in email_ids}
        accepted = collections.Counter(a.out_id for a in self.providers.fake.accepted)
        assert accepted == {notice_id: 1 for notice_id in sms_ids}
        # The SMS notice keeps the BizId the provider gave its one accepted call (receipts match on it).
        biz_ids = {a.out_id: a.biz_id for a in self.providers.fake.accepted}
        assert all(n.provider_id == biz_ids[n.notice_id] for n in notices if n.channel == "sms")


@pytest.fixture
async def make_run(store, providers) -> AsyncIterator[Callable[[pacing.Backoff], Run]]:
    """Runs over the parametrised store; their workers are stopped before the providers go."""
    runs: list[Run] = []

    def make(backoff: pacing.Backoff = PRODUCTION_BACKOFF) -> Run:
        runs.append(Run(store, providers, backoff))
        return runs[-1]

    yield make
    for run in runs:
        await run.stop_worker()


#: The outage itself runs on every back-end; the two variants below, which add no storage path of
#: their own, on memory and SQLite only, to keep the file fast enough for `make test`.
WITHOUT_POSTGRES = pytest.mark.parametrize("store", ["memory", "sqlite"], indirect=True)


def ceiling(backoff: pacing.Backoff, attempts: int) -> float:
    """The longest delay the policy allows after `attempts` failed attempts."""
    return min(backoff.cap_seconds, backoff.base_seconds * 2 ** (attempts - 1))


async def test_an_outage_backs_off_and_after_recovery_every_notice_is_delivered_once(make_run, providers):
    run = make_run()
    await run.create_notices()
    outage = [BOTH_DOWN, OVERLOADED, FAILING, BOTH_DOWN]  # down, back half-broken, down again
    assert len(outage) < run.backoff.limit  # within the retry budget: nothing may die
    delays: dict[str, list[float]] = collections.defaultdict(list)
    for n, phase in enumerate(outage, 1):
        notices = await run.outage_round(n, phase)
        for notice in notices:
            delays[notice.notice_id].append((notice.next_attempt_at - run.clock.at).total_seconds())
            expected = phase.email_reason if notice.channel == "email" else phase.sms_reason
            assert expected in notice.reason, (n, notice.channel, notice.reason)

    # Spaced per the worker's back-off: after attempt n, between half and all of min(cap, base·2ⁿ⁻¹),
    # so each wait is at least the one before, and the waits grow.
    backoff = run.delivery.backoff
    for spacing in delays.values():
        assert all(ceiling(backoff, n) / 2 <= d <= ceiling(backoff, n) for n, d in enumerate(spacing, 1)), spacing
        assert spacing == sorted(spacing) and spacing[-1] > spacing[0], spacing

    sent = await run.recover()
    await run.stop_worker()
    run.assert_each_delivered_once(sent)

    # The timeline shows each failed attempt with its reason, then the send.
    for notice in sent:
        timeline = await run.store.notice_attempts(notice.notice_id)
        assert [(a.kind, a.status_after) for a in timeline] == [("send", S.FAILED)] * len(outage) + [("send", S.SENT)]
        reasons = [a.reason for a in timeline[:-1]]
        expected = [p.email_reason if notice.channel == "email" else p.sms_reason for p in outage]
        assert all(e in r for e, r in zip(expected, reasons, strict=True)), reasons
        assert notice.attempts == len(outage) + 1

    # The providers saw the retries they were up for and accepted exactly one of each: the relay took
    # the message body twice (451 during FAILING, then 250), the endpoint three calls per OutId.
    assert providers.smtp.handler.data_attempts == 2 * FIRMS
    assert set(map(tuple, providers.sendsms_calls().values())) == {("ServiceUnavailable", "isp.SYSTEM_ERROR", "OK")}


@WITHOUT_POSTGRES
async def test_an_outage_past_the_retry_budget_leaves_notices_dead_and_a_requeue_delivers_them_once(make_run, providers):
    # A budget of 3 attempts keeps the test short; the rule is the same with the production 8.
    run = make_run(pacing.Backoff(constants.NOTICE_BACKOFF_BASE_SECONDS, constants.NOTICE_BACKOFF_CAP_SECONDS, 3))
    await run.create_notices()
    await run.outage_round(1, BOTH_DOWN)
    await run.outage_round(2, BOTH_DOWN)
    dead = await run.outage_round(3, BOTH_DOWN, final=S.DEAD)
    for notice in dead:
        expected = BOTH_DOWN.email_reason if notice.channel == "email" else BOTH_DOWN.sms_reason
        assert notice.reason.startswith(f"gave up after 3 attempts: {expected}"), notice.reason

    # The providers come back; the operator requeues the dead notices, and each goes out once.
    await providers.enter(None)
    requeued = [await operator_actions.requeue(run.store, notice.notice_id, "operator 李四") for notice in dead]
    # A requeue is due at once (on the wall clock); the worker's clock never goes back.
    run.advance(max(run.clock.at, *(notice.next_attempt_at for notice in requeued)))
    sent = await run.settle("all sent after the requeue", lambda x: x.status == S.SENT)
    await run.stop_worker()
    run.assert_each_delivered_once(sent)
    for notice in sent:
        timeline = await run.store.notice_attempts(notice.notice_id)
        assert [(a.kind, a.status_after) for a in timeline] == [
            ("send", S.FAILED), ("send", S.FAILED), ("send", S.DEAD), ("operator", S.PENDING), ("send", S.SENT)
        ]
        assert timeline[3].reason == "requeued by operator 李四"


@WITHOUT_POSTGRES
async def test_sms_flow_control_waits_the_providers_window_without_using_the_retry_budget(make_run, providers):
    run = make_run(pacing.Backoff(constants.NOTICE_BACKOFF_BASE_SECONDS, constants.NOTICE_BACKOFF_CAP_SECONDS, 3))
    await run.create_notices()
    # Throttled for more rounds than the retry budget would survive if each refusal were a failure.
    await providers.enter(SMS_THROTTLED)
    minute = datetime.timedelta(seconds=60)
    rounds = run.backoff.limit + 1
    for n in range(1, rounds + 1):
        if n == 1:
            run.start_worker()
        else:
            run.advance(max(x.next_attempt_at for x in await run.notices()))
        notices = await run.settle(
            f"throttled round {n}",
            lambda x: x.status == S.SENT if x.channel == "email" else (
                x.status == S.DEFERRED and x.next_attempt_at == run.clock.at + minute),
        )
        assert all(x.attempts == 0 and SMS_THROTTLED.sms_reason in x.reason for x in notices if x.channel == "sms")

    sent = await run.recover()
    await run.stop_worker()
    run.assert_each_delivered_once(sent)
    assert set(map(tuple, providers.sendsms_calls().values())) == {("isv.BUSINESS_LIMIT_CONTROL",) * rounds + ("OK",)}
    for notice in sent:
        timeline = await run.store.notice_attempts(notice.notice_id)
        expected = [("send", S.SENT)] if notice.channel == "email" else [("send", S.DEFERRED)] * rounds + [("send", S.SENT)]
        assert [(a.kind, a.status_after) for a in timeline] == expected
