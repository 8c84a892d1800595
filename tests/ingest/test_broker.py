"""Events from RabbitMQ (`policy-push consume`), against the real broker on this machine.

The same validation and idempotency as the webhook (the message id plays the webhook-id), an
acknowledgement only after the commit, invalid messages dead-lettered with their reason, and a broker
restart mid-stream losing and doubling nothing.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
import uuid

import aio_pika
import pytest
import sqlalchemy.exc

from connectors import amqp
from engine import constants
from tests import conftest, factories

AMQP_URL = os.environ.get("POLICY_PUSH_TEST_AMQP", constants.AMQP_URL)
#: How long a test waits for the broker and the consumer to settle before it fails.
SETTLE_SECONDS = 60

pytestmark = pytest.mark.parametrize("store", conftest.SQL_BACKENDS, indirect=True)


@pytest.fixture
async def broker():
    """A connection to the real broker and a fresh queue name; the queues are deleted afterwards."""
    try:
        connection = await aio_pika.connect(AMQP_URL, timeout=5)
    except (OSError, aio_pika.exceptions.AMQPConnectionError, asyncio.TimeoutError) as exc:
        conftest.missing(f"no RabbitMQ reachable at {AMQP_URL} ({exc})")
    queue = f"policy-push-test-{uuid.uuid4().hex[:12]}"
    channel = await connection.channel(publisher_confirms=True)
    await channel.declare_queue(queue, durable=True)
    yield channel, queue
    await connection.close()
    # A fresh connection: a test may have restarted the broker under the first one.
    cleanup = await aio_pika.connect(AMQP_URL, timeout=30)
    channel = await cleanup.channel()
    for name in (queue, queue + constants.AMQP_DEAD_SUFFIX):
        await channel.queue_delete(name)
    await cleanup.close()


async def publish(channel, queue: str, body: bytes, message_id: str) -> None:
    await channel.default_exchange.publish(
        aio_pika.Message(body, message_id=message_id, content_type="application/json",
                         delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
        routing_key=queue,
    )


def event_body(number: int) -> tuple[str, bytes]:
    body = factories.event(firm=factories.uscc(900 + number % 50), occurred_at="2022-05-01T09:00:00+08:00")
    return f"amqp-{number:05d}", json.dumps(body, ensure_ascii=False).encode()


async def stored_ids(store) -> set[str]:
    # Nothing folds them here: every stored event is still pending.
    return {event.event_id for event in await store.pending_events(100_000)}


async def until(condition, what: str) -> None:
    """Wait for the broker and the consumer (other processes and tasks) to reach `condition`."""
    deadline = time.monotonic() + SETTLE_SECONDS
    while not await condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def queued(channel, name: str) -> int:
    return (await channel.declare_queue(name, passive=True)).declaration_result.message_count


async def dead_letters(channel, name: str) -> list[aio_pika.abc.AbstractIncomingMessage]:
    found = []
    queue = await channel.declare_queue(name + constants.AMQP_DEAD_SUFFIX, passive=True)
    while (message := await queue.get(fail=False)) is not None:
        await message.ack()
        found.append(message)
    return found


async def consuming(consumer: amqp.Consumer):
    stop = asyncio.Event()
    task = asyncio.create_task(consumer.run(stop))
    return stop, task


async def test_valid_events_are_stored_once_and_invalid_ones_dead_lettered_with_the_reason(store, broker):
    channel, queue = broker
    sent = [event_body(n) for n in range(20)]
    for message_id, body in sent:
        await publish(channel, queue, body, message_id)
    for message_id, body in sent[:3]:  # the platform sends three of them again
        await publish(channel, queue, body, message_id)
    conflicting = json.dumps(factories.event(firm=factories.uscc(999), occurred_at="2022-06-01T09:00:00+08:00")).encode()
    await publish(channel, queue, conflicting, sent[0][0])  # an id already used, another body
    await publish(channel, queue, b"{not json", "amqp-bad-json")
    await publish(channel, queue, json.dumps(factories.event(firm="91530102MA0000000X")).encode(), "amqp-bad-uscc")

    stop, task = await consuming(amqp.Consumer(store, AMQP_URL, queue, retry_seconds=0.05))
    try:
        async def settled() -> bool:
            return len(await stored_ids(store)) == 20 and await queued(channel, queue + constants.AMQP_DEAD_SUFFIX) == 3
        await until(settled, "20 events stored and 3 dead letters")
    finally:
        stop.set()
        await task
    assert await stored_ids(store) == {message_id for message_id, _ in sent}
    assert await queued(channel, queue) == 0  # every message acknowledged
    reasons = {m.message_id: m.headers[amqp.REASON_HEADER] for m in await dead_letters(channel, queue)}
    assert set(reasons) == {sent[0][0], "amqp-bad-json", "amqp-bad-uscc"}
    assert "already received with a different body" in reasons[sent[0][0]]
    assert reasons["amqp-bad-json"].startswith("the message body is not JSON")
    assert "uscc" in reasons["amqp-bad-uscc"]


class _Unavailable:
    """The real store, whose database refuses the first `failures` writes (as when it restarts)."""

    def __init__(self, store, failures: int) -> None:
        self._store, self.failures = store, failures

    async def add_events(self, events):
        if self.failures:
            self.failures -= 1
            raise sqlalchemy.exc.OperationalError("INSERT", {}, OSError("database unavailable"))
        return await self._store.add_events(events)


async def test_a_message_the_database_cannot_take_is_handed_back_and_stored_once_later(store, broker):
    channel, queue = broker
    sent = [event_body(n) for n in range(5)]
    for message_id, body in sent:
        await publish(channel, queue, body, message_id)
    flaky = _Unavailable(store, failures=3)
    stop, task = await consuming(amqp.Consumer(flaky, AMQP_URL, queue, retry_seconds=0.01))
    try:
        async def all_stored() -> bool:
            return len(await stored_ids(store)) == 5 and await queued(channel, queue) == 0
        await until(all_stored, "the 5 events stored after the database came back")
    finally:
        stop.set()
        await task
    assert flaky.failures == 0
    assert await stored_ids(store) == {message_id for message_id, _ in sent}
    assert await dead_letters(channel, queue) == []


def _rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", *args], check=True, capture_output=True, timeout=120)


@pytest.mark.long
async def test_a_broker_restart_mid_stream_loses_and_doubles_nothing(store, broker):
    channel, queue = broker
    sent = [event_body(n) for n in range(400)]
    for message_id, body in sent:
        await publish(channel, queue, body, message_id)

    class Slow:
        """The real store, a little slower per event, so the restart falls mid-stream."""

        async def add_events(self, events):
            await asyncio.sleep(0.05)
            return await store.add_events(events)

    slow = Slow()
    stop, task = await consuming(amqp.Consumer(slow, AMQP_URL, queue, prefetch=5, retry_seconds=0.05))
    try:
        async def started() -> bool:
            return len(await stored_ids(store)) >= 50
        await until(started, "the first 50 events")
        await asyncio.to_thread(_rabbitmqctl, "stop_app")
        stored_at_restart = len(await stored_ids(store))
        await asyncio.to_thread(_rabbitmqctl, "start_app")
        await asyncio.to_thread(_rabbitmqctl, "await_startup")

        async def finished() -> bool:
            return len(await stored_ids(store)) == 400
        await until(finished, "all 400 events after the restart")
    finally:
        stop.set()
        await task
        # Whatever happened, leave the broker running for the rest of the run.
        await asyncio.to_thread(_rabbitmqctl, "start_app")
    assert 50 <= stored_at_restart < 400, "the restart did not fall mid-stream"
    assert await stored_ids(store) == {message_id for message_id, _ in sent}
    fresh = await aio_pika.connect(AMQP_URL)
    try:
        check = await fresh.channel()
        assert await queued(check, queue) == 0
        assert await dead_letters(check, queue) == []
    finally:
        await fresh.close()
