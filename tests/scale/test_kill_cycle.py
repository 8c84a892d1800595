"""Crash test on the production profile, real processes throughout: while signed events and notices
flow, `kill -9` the service and the worker at random moments, several times, and restart them. At
the end every acknowledged event was processed exactly once, every email notice marked sent is at
the SMTP server, and a notice reached the server twice only where a killed worker had its send in
flight (email is at-least-once across a crash, resent with the same Message-ID: docs/notices.md).

One `policy-push serve --no-delivery` and one `policy-push worker` share a throwaway PostgreSQL
database; the SMTP sink (tests.scale.smtp_sink) runs in its own process and is never killed. Each
worker incarnation greets the sink with its own EHLO name, so every message at the sink names the
process that sent it. SMS go to files (no Aliyun credentials), as the settings allow.

The chaos plan (kill moments and targets) comes from a seeded random.Random; the seed is printed,
and POLICY_PUSH_CHAOS_SEED=<seed> replays the same plan (the processes' own timing still varies).
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import datetime
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import aiohttp
import pytest
import sqlalchemy as sa
from sqlalchemy.ext import asyncio as sa_asyncio

from connectors import sql_migrate as migrate
from connectors import sql_models as models
from engine import constants
from engine.ingest import folding, synth, validation
from tests import conftest, factories
from tests.scale import smtp_sink
from tests.scale.test_workers_pg import free_port, start_sink, stop, tail, wait_for_file

pytestmark = [
    pytest.mark.long,
    pytest.mark.postgres,
    pytest.mark.process,
]

#: Synthetic firms (engine.synth); about nine events each, most with a met clause and contact data.
FIRMS = 80
SYNTH_SEED = 7
#: Kill rounds; each kills the service, the worker or both, then restarts what it killed.
ROUNDS = 5
#: Seconds between kills (drawn uniformly): long enough for a restarted process to get back to work.
KILL_GAP_SECONDS = (5.0, 10.0)
#: The deliveries are spread over this long, so events keep arriving through every kill round.
LOAD_SECONDS = 35.0
#: Deliveries in flight at once, as a platform pushing from several threads would.
POSTERS = 3
#: Pause before re-posting a delivery the service did not acknowledge (it is down or restarting).
REPOST_PAUSE_SECONDS = 0.2
#: For the service to answer /readyz; for one delivery to be acknowledged, restarts included.
START_DEADLINE_SECONDS, DELIVERY_DEADLINE_SECONDS = 60, 90
#: After the last restart, everything must be folded and sent within this.
DRAIN_DEADLINE_SECONDS = 120
#: How long a kill waits for its sharper moment (a message accepted, a delivery in flight) before going ahead.
MOMENT_WAIT_SECONDS = 5.0
#: Notice states that still have a send ahead of them.
UNSETTLED = ("pending", "deferred", "sending", "failed")

_EVENT, _FIRM, _FIELD = models.Event.__table__, models.Firm.__table__, models.ProfileField.__table__
_NOTICE, _ATTEMPT = models.Notice.__table__, models.NoticeAttempt.__table__


@dataclasses.dataclass(frozen=True)
class Delivery:
    """One webhook POST: a single event (webhook-id = event id) or a batch (ids in the items)."""

    webhook_id: str
    body: str
    event_ids: tuple[str, ...]


def plan_deliveries(rng: random.Random) -> tuple[list[Delivery], list[dict]]:
    """The synthetic events in the order they occurred per firm, cut into singles and batches."""
    events = [event for _, firm_events in synth.generate(FIRMS, SYNTH_SEED) for event in firm_events]
    deliveries, start = [], 0
    while start < len(events):
        size = rng.choice((1, 1, 1, 5, 20, 40))
        chunk = events[start:start + size]
        if len(chunk) == 1:
            deliveries.append(Delivery(chunk[0]["id"], json.dumps(chunk[0], ensure_ascii=False), (chunk[0]["id"],)))
        else:
            deliveries.append(Delivery(f"msg_kill_cycle_{start}", json.dumps(chunk, ensure_ascii=False),
                                       tuple(e["id"] for e in chunk)))
        start += size
    return deliveries, events


class Loader:
    """Posts every delivery until it is acknowledged: only a 2xx counts, a dropped connection does not."""

    def __init__(self, base: str, deliveries: list[Delivery]) -> None:
        self.endpoint = f"{base}/webhooks/events"
        self.deliveries = deliveries
        self.acknowledged: set[str] = set()
        self.answered_duplicate: set[str] = set()  # committed before a kill, its 2xx lost, then re-posted
        self.unanswered_posts = 0
        self.in_flight = 0  # posts sent and not yet answered
        self._next = 0

    async def run(self, session: aiohttp.ClientSession) -> None:
        started = time.monotonic()
        await asyncio.gather(*(self._poster(session, started) for _ in range(POSTERS)))

    async def _poster(self, session: aiohttp.ClientSession, started: float) -> None:
        while self._next < len(self.deliveries):
            index, self._next = self._next, self._next + 1
            # Pacing the pushes over LOAD_SECONDS, as a platform forwards events over time.
            await asyncio.sleep(max(0.0, started + index * LOAD_SECONDS / len(self.deliveries) - time.monotonic()))
            await self._post_until_acknowledged(session, self.deliveries[index])

    async def _post_until_acknowledged(self, session: aiohttp.ClientSession, delivery: Delivery) -> None:
        deadline = time.monotonic() + DELIVERY_DEADLINE_SECONDS
        while True:
            assert time.monotonic() < deadline, f"delivery {delivery.webhook_id} not acknowledged in time"
            data, headers = factories.signed(delivery.body, msg_id=delivery.webhook_id)  # signed afresh: a new timestamp
            self.in_flight += 1
            try:
                async with session.post(self.endpoint, data=data, headers=headers) as response:
                    status, text = response.status, await response.text()
            except (aiohttp.ClientError, asyncio.TimeoutError):
                status, text = None, ""
            finally:
                self.in_flight -= 1
            if status is not None and status < 300:
                self._record(delivery, status, json.loads(text))
                return
            assert status is None or status >= 500, f"{delivery.webhook_id}: {status} {text[:300]}"
            self.unanswered_posts += 1
            await asyncio.sleep(REPOST_PAUSE_SECONDS)  # the service is down or restarting; polled with a deadline

    def _record(self, delivery: Delivery, status: int, answer: dict) -> None:
        results = answer["results"] if "results" in answer else [answer]
        assert [r["event_id"] for r in results] == list(delivery.event_ids), answer
        for result in results:
            assert result["status"] in ("accepted", "duplicate"), f"{delivery.webhook_id} answered {status}: {result}"
            self.acknowledged.add(result["event_id"])
            if result["status"] == "duplicate":
                self.answered_duplicate.add(result["event_id"])


class Fleet:
    """The service and the worker as real processes, each restarted after it is killed."""

    def __init__(self, tmp: Path, env: dict[str, str], smtp_port: int) -> None:
        self.env, self.smtp_port = env, smtp_port
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.service: subprocess.Popen | None = None
        self.worker: subprocess.Popen | None = None
        self.worker_incarnation = -1
        self.service_log, self.worker_log = tmp / "service.log", tmp / "worker.log"

    def _spawn(self, arguments: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen:
        with log.open("ab") as output:  # the child keeps its own copy of the descriptor
            return subprocess.Popen([sys.executable, "-m", "engine.cli", *arguments], env=env,
                                    stdout=output, stderr=subprocess.STDOUT)

    def start_service(self) -> None:
        self.service = self._spawn(["serve", "--port", str(self.port), "--no-delivery"], self.service_log, self.env)

    def start_worker(self) -> None:
        self.worker_incarnation += 1
        smtp_url = (f"smtp://127.0.0.1:{self.smtp_port}?from=noreply@example.cn"
                    f"&local_hostname={self.worker_name(self.worker_incarnation)}")
        # Its /metrics answers once it is running with its signal handlers installed (worker_ready).
        self.worker_metrics = free_port()
        self.worker = self._spawn(["worker", "--metrics-port", str(self.worker_metrics)], self.worker_log,
                                  {**self.env, "POLICY_PUSH_SMTP_URL": smtp_url})

    async def worker_ready(self, session: aiohttp.ClientSession) -> None:
        """Wait until the current worker has started (a SIGTERM before that would find no handler to stop cleanly)."""
        await self._answering(session, f"http://127.0.0.1:{self.worker_metrics}/metrics", "worker", self.worker_log)

    @staticmethod
    def worker_name(incarnation: int) -> str:
        """The EHLO name of a worker incarnation: the sink records it with each message."""
        return f"worker-{incarnation}.test"

    async def wait_service_ready(self, session: aiohttp.ClientSession) -> None:
        await self._answering(session, f"{self.base}/readyz", "service", self.service_log)

    async def _answering(self, session: aiohttp.ClientSession, url: str, name: str, log: Path) -> None:
        """Poll `url` until it answers 200, while both processes stay alive, within START_DEADLINE_SECONDS."""
        deadline = time.monotonic() + START_DEADLINE_SECONDS
        while True:
            self.check_alive()
            try:
                async with session.get(url) as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            assert time.monotonic() < deadline, f"{name} not ready in time:\n{tail(log)}"
            await asyncio.sleep(0.1)  # polling a condition with a deadline, not covering a race

    def check_alive(self) -> None:
        for name, process, log in (("service", self.service, self.service_log), ("worker", self.worker, self.worker_log)):
            assert process is not None and process.poll() is None, f"the {name} exited on its own:\n{tail(log)}"

    def kill(self, target: str) -> str | None:
        """SIGKILL the target ("service", "worker" or "both") and reap it; return the killed worker's EHLO name."""
        chosen = {"service": [self.service], "worker": [self.worker], "both": [self.service, self.worker]}[target]
        for process in chosen:
            assert process is not None and process.poll() is None, f"{target} was not running at its kill"
            process.send_signal(signal.SIGKILL)
            process.wait()
        return self.worker_name(self.worker_incarnation) if self.worker in chosen else None

    def stop(self) -> dict[str, int]:
        """SIGTERM both (as in normal operation) and return their exit codes."""
        return {name: stop(process) for name, process in (("service", self.service), ("worker", self.worker)) if process}


async def end_dead_workers_leases(engine: sa_asyncio.AsyncEngine) -> int:
    """A killed worker's claims stay `sending` until their lease (NOTICE_LEASE_SECONDS, 300 s) ends;
    then the next worker recovers them. No worker is alive here, so every `sending` claim is the
    dead one's: ending the leases now is what 300 s would do, without the test waiting for them."""
    async with engine.begin() as connection:
        ended = await connection.execute(
            sa.update(_NOTICE).where(_NOTICE.c.status == "sending")
            .values(lease_until=datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=1))
        )
        return ended.rowcount


async def soon(condition: Callable[[], bool]) -> bool:
    """Poll `condition` for up to MOMENT_WAIT_SECONDS; whether it came true (and just now)."""
    deadline = time.monotonic() + MOMENT_WAIT_SECONDS
    while time.monotonic() < deadline:
        if condition():
            return True
        await asyncio.sleep(0.002)  # polling a condition with a deadline: the kill must follow it closely
    return False


async def chaos(fleet: Fleet, rng: random.Random, engine: sa_asyncio.AsyncEngine, session: aiohttp.ClientSession,
                sink: smtp_sink.Follower, loader: Loader) -> list[dict]:
    """ROUNDS kills at random moments (each target at least once), each followed by a restart.

    Half the kills, drawn at random, wait from that moment for a sharper one: a worker is killed at
    the next message the server accepts from it (it is then most likely between the server's 250
    and its commit, the window in which email is knowingly sent twice); a service while a delivery
    is in flight (its commit may be done and its 2xx not yet sent).
    """
    targets = ["service", "worker", "both"] + rng.choices(("service", "worker", "both"), k=ROUNDS - 3)
    rng.shuffle(targets)
    kills = []
    for round_number, target in enumerate(targets, start=1):
        await asyncio.sleep(rng.uniform(*KILL_GAP_SECONDS))  # the random moment is the point of the test
        moment, sender = "random", fleet.worker_name(fleet.worker_incarnation)
        if rng.random() < 0.5:  # wait for the sharper moment
            sink.new_records()  # only messages accepted from now on count
            if target == "service" and await soon(lambda: loader.in_flight > 0):
                moment = "a delivery in flight"
            elif target != "service" and await soon(lambda: any(r["helo"] == sender for r in sink.new_records())):
                moment = "just after an accepted message"
        fleet.check_alive()
        killed_worker = fleet.kill(target)
        kills.append({"round": round_number, "target": target, "moment": moment, "worker": killed_worker,
                      "claims_left": await end_dead_workers_leases(engine) if killed_worker else 0})
        if target in ("service", "both"):
            fleet.start_service()
        if killed_worker:
            fleet.start_worker()
        await fleet.wait_service_ready(session)
    return kills


async def drain(fleet: Fleet, engine: sa_asyncio.AsyncEngine) -> None:
    """Poll until no event waits to be folded and no notice has a send ahead of it."""
    deadline = time.monotonic() + DRAIN_DEADLINE_SECONDS
    while True:
        fleet.check_alive()
        async with engine.connect() as connection:
            pending = (await connection.execute(sa.select(sa.func.count()).where(_EVENT.c.status == "received"))).scalar_one()
            unsettled = (await connection.execute(sa.select(sa.func.count()).where(_NOTICE.c.status.in_(UNSETTLED)))).scalar_one()
        if not pending and not unsettled:
            return
        assert time.monotonic() < deadline, f"not drained in time: {pending} events pending, {unsettled} notices unsettled"
        await asyncio.sleep(0.5)  # polling a condition with a deadline, not covering a race


async def database_state(engine: sa_asyncio.AsyncEngine) -> dict:
    async with engine.connect() as connection:
        rows = connection.execute
        return {
            "events": {r.event_id: r.status for r in await rows(sa.select(_EVENT.c.event_id, _EVENT.c.status))},
            "applied": dict((await rows(sa.select(_FIRM.c.uscc, _FIRM.c.events_applied))).all()),
            "provenance": dict((await rows(sa.select(_FIELD.c.event_id, sa.func.count()).group_by(_FIELD.c.event_id))).all()),
            "notices": {r.notice_id: r for r in await rows(sa.select(_NOTICE))},
            "recoveries": collections.Counter(r.notice_id for r in await rows(
                sa.select(_ATTEMPT.c.notice_id).where(_ATTEMPT.c.kind == "recover", _ATTEMPT.c.outcome == "interrupted"))),
        }


async def test_kill_9_service_and_worker_at_random_moments_loses_and_repeats_nothing(tmp_path):
    seed = int(os.environ.get("POLICY_PUSH_CHAOS_SEED") or random.SystemRandom().randrange(10**6))
    print(f"\nchaos seed {seed} (replay with POLICY_PUSH_CHAOS_SEED={seed})")
    rng = random.Random(seed)
    deliveries, events = plan_deliveries(rng)

    url = await conftest.create_pg_database()
    env = {
        **os.environ,
        "POLICY_PUSH_DATABASE_URL": url,
        "POLICY_PUSH_WEBHOOK_SECRETS": factories.SECRET,
        "POLICY_PUSH_SECRET_KEY": "kill-cycle-secret-key",
        "POLICY_PUSH_OUTBOX_DIR": str(tmp_path / "outbox"),  # where SMS files go (no Aliyun credentials)
        "POLICY_PUSH_SMS_QUIET_HOURS": "off",  # whatever the hour, notices go out now
        "POLICY_PUSH_EMAIL_PER_SECOND": "1000", "POLICY_PUSH_SMS_PER_SECOND": "1000",  # pacing is not under test
        # Due at once rather than after ten quiet minutes, so the run drains in time; what is due together for a
        # firm still goes out as one digest, which is what is under test.
        "POLICY_PUSH_DIGEST_QUIET_MINUTES": "off",
    }
    sink = fleet = None
    engine = sa_asyncio.create_async_engine(url)
    started = time.monotonic()
    try:
        await asyncio.to_thread(migrate.upgrade, url)  # once, before any process starts (docs/deployment.md)
        smtp_port, received, sink_log = free_port(), tmp_path / "received.jsonl", tmp_path / "sink.log"
        sink = start_sink(smtp_port, received, sink_log)
        await wait_for_file(received, sink, sink_log)
        fleet = Fleet(tmp_path, env, smtp_port)
        fleet.start_service()
        fleet.start_worker()
        loader = Loader(fleet.base, deliveries)
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
            await fleet.wait_service_ready(session)
            # Together: if either fails, the other is cancelled rather than left to run out its deadlines.
            async with asyncio.TaskGroup() as group:
                group.create_task(loader.run(session))
                chaos_task = group.create_task(chaos(fleet, rng, engine, session, smtp_sink.Follower(received), loader))
            kills = chaos_task.result()
        phases = {"load_and_kills": round(time.monotonic() - started, 1)}
        await drain(fleet, engine)
        phases["drained"] = round(time.monotonic() - started, 1)
        # The last round may have restarted the worker just before the queue drained without it.
        async with aiohttp.ClientSession() as session:
            await fleet.worker_ready(session)
        exit_codes = fleet.stop()
        assert exit_codes["worker"] == 0, f"the worker did not stop cleanly:\n{tail(fleet.worker_log)}"
        assert stop(sink) == 0, tail(sink_log)
        state = await database_state(engine)
        audit = await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "engine.cli", "audit", "verify"],
                                        env=env, capture_output=True, text=True, timeout=120)
    finally:
        if fleet is not None:
            fleet.stop()
        if sink is not None:
            stop(sink)
        await engine.dispose()
        await conftest.drop_pg_database(url)

    notices = state["notices"].values()
    email = [n for n in notices if n.channel == "email"]
    sms = [n for n in notices if n.channel == "sms"]
    records = smtp_sink.read_records(received)
    copies: dict[str, list[dict]] = collections.defaultdict(list)
    for record in sorted(records, key=lambda r: r["at"]):
        copies[record["notice_id"]].append(record)
    duplicated = {digest_id: ordered for digest_id, ordered in copies.items() if len(ordered) > 1}
    # What goes out is a digest (the sink's notice id is the X-Notice-Id header: the digest's id); its notices
    # share the digest's fate, and a recovery of the digest is recorded on each of them.
    members: dict[str, list] = collections.defaultdict(list)
    for notice in notices:
        if notice.digest_id is not None:
            members[notice.digest_id].append(notice)
    recovered = {digest_id: max(state["recoveries"][n.notice_id] for n in group) for digest_id, group in members.items()}
    sms_dead = sorted({n.digest_id for n in sms if n.status == "dead"})
    print(json.dumps({  # the figures first, so a failing run reports them too
        "seed": seed, "seconds": {**phases, "total": round(time.monotonic() - started, 1)}, "deliveries": len(deliveries),
        "events_acknowledged": len(loader.acknowledged), "acknowledged_as_duplicate": len(loader.answered_duplicate),
        "unanswered_posts": loader.unanswered_posts, "kills": kills,
        "email": dict(collections.Counter(n.status for n in email)), "messages_at_sink": len(records),
        "duplicate_emails": len(duplicated), "sms": dict(collections.Counter(n.status for n in sms)),
        "digests": {channel: len({n.digest_id for n in notices if n.channel == channel and n.digest_id}) for channel in ("sms", "email")},
        "largest_digest": max((len(group) for group in members.values()), default=0),
        "sms_dead_never_written": sum(not (tmp_path / "outbox" / f"{i}.sms.json").exists() for i in sms_dead),
    }, ensure_ascii=False))

    # 1. Every event offered was acknowledged, is stored, and was processed (none failed) ...
    offered = {event["id"] for event in events}
    assert loader.acknowledged == offered
    assert set(state["events"]) == offered, "the database holds an event that was never acknowledged, or lacks one"
    assert collections.Counter(state["events"].values()) == {"processed": len(offered)}
    # ... exactly once: each firm counted each of its events once, and each event's fields were recorded once.
    firm_events = [event for event in events if "uscc" in event]
    assert state["applied"] == collections.Counter(event["uscc"] for event in firm_events)
    fields_per_event = {event["id"]: len(folding.assignments(validation.validate(event))) for event in firm_events}
    assert state["provenance"] == {event_id: n for event_id, n in fields_per_event.items() if n}

    # 2. Every email notice marked sent went out in exactly one digest, which is at the SMTP server under its own
    # Message-ID, and nothing else is (the synthetic events are dated 2022: benefits whose window closed then are
    # held, not pushed).
    assert {n.status for n in email} <= {"sent", "waiting", "skipped", "held"}, collections.Counter(n.status for n in email)
    assert all(n.digest_id is not None for n in email if n.status == "sent"), "an email notice sent outside a digest"
    sent = {n.digest_id: n.provider_id for n in email if n.status == "sent"}
    assert sent, "no email notice was sent: the load did not exercise delivery"
    assert all(len({n.provider_id for n in members[d]}) == 1 for d in sent), "a digest's notices disagree on the message"
    assert set(copies) == set(sent), "an email digest marked sent is missing at the server, or vice versa"
    assert all(r["message_id"] == sent[r["notice_id"]] for r in records), "a resend changed its Message-ID"

    # 3. A second copy only of a send in flight when its worker was SIGKILLed: the digest was recovered
    # as interrupted, every earlier copy came from a killed incarnation, and as a worker records a claimed
    # batch's sends together once they are done, each killed incarnation accounts for at most one batch of
    # extra copies (each once).
    killed_workers = {kill["worker"] for kill in kills if kill["worker"]}
    extra_copies_per_worker = collections.Counter()
    for digest_id, ordered in duplicated.items():
        assert recovered[digest_id] >= len(ordered) - 1, f"{digest_id} sent {len(ordered)} times without a recovery"
        for earlier in ordered[:-1]:
            assert earlier["helo"] in killed_workers, f"{digest_id}: an extra copy from {earlier['helo']}, which was never killed"
            extra_copies_per_worker[earlier["helo"]] += 1
    assert all(n <= constants.NOTICE_BATCH_SIZE for n in extra_copies_per_worker.values()), \
        f"more than a batch of extra copies per killed worker: {extra_copies_per_worker}"
    # ... and never the same digest twice from one incarnation.
    assert all(len({r["helo"] for r in ordered[:-1]}) == len(ordered) - 1 for ordered in duplicated.values()), duplicated

    # 4. The audit chain, appended to by processes killed mid-transaction, is whole.
    assert audit.returncode == 0 and "chain intact" in audit.stdout, audit.stdout + audit.stderr

    # SMS is at-most-once: a digest is dead only because a kill interrupted its claim (never re-sent blindly),
    # with every notice in it.
    assert all(recovered[digest_id] == 1 for digest_id in sms_dead), "an SMS is dead for another reason than a kill"
    assert all({n.status for n in members[digest_id]} == {"dead"} for digest_id in sms_dead), "a digest settled in part"
    # ... and a worker claims an SMS only as it hands it over, at most SMS_SENDS_AT_ONCE at a time, so each kill
    # condemns at most those in flight.
    assert len(sms_dead) <= constants.SMS_SENDS_AT_ONCE * sum(1 for kill in kills if kill["worker"]), \
        f"{len(sms_dead)} SMS dead after {kills}"
