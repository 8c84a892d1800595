"""Events from a message broker (RabbitMQ, AMQP 0-9-1 via aio-pika): the second way in.

Each message carries one event as the webhook body would (a JSON object); its `message_id` plays the
webhook-id, the idempotency key. A message is checked exactly as a webhook is
(engine/ingest/admission.py), stored, and acknowledged only after the commit:

- stored, or already stored under the same id with the same body → ack (a redelivery after a crash
  or a broker restart is recognised by its id and stored once);
- invalid, or the id already stored with a different body → published to the dead-letter queue
  (`<queue>.dead`) with the reason in the `x-policy-push-reason` header, confirmed by the broker,
  then acked: it is never lost and never retried blind;
- the database cannot take it → handed back to the queue after a pause (redelivered, not lost).

The connection is robust: after a broker restart it reconnects, declares the queues again and
resumes consuming; messages unacknowledged at the restart are redelivered by the broker.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import Any

import aio_pika
import aiormq
from aio_pika.abc import AbstractIncomingMessage, AbstractRobustChannel

from engine import constants
from engine.ingest import admission, event_store
from engine.telemetry import metrics, tasks

log = logging.getLogger(__name__)

#: The header a dead letter carries its reason in.
REASON_HEADER = "x-policy-push-reason"


class Consumer:
    """Reads `queue` on the broker at `url` into `store` until stopped."""

    def __init__(
        self,
        store: event_store.EventStore,
        url: str,
        queue: str,
        *,
        prefetch: int = constants.AMQP_PREFETCH,
        retry_seconds: float = constants.AMQP_RETRY_SECONDS,
        on_stored: Callable[[], None] | None = None,
    ) -> None:
        self.store = store
        self.url = url
        self.queue = queue
        self.dead_queue = queue + constants.AMQP_DEAD_SUFFIX
        self.prefetch = prefetch
        self.retry_seconds = retry_seconds
        #: Called after an event is newly stored (the in-process pipeline's wake, if any).
        self.on_stored = on_stored
        self._channel: AbstractRobustChannel | None = None

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until `stop` is set; the messages in hand are finished first."""
        connection = await aio_pika.connect_robust(self.url)
        try:
            self._channel = channel = await connection.channel(publisher_confirms=True)
            await channel.set_qos(prefetch_count=self.prefetch)
            queue = await channel.declare_queue(self.queue, durable=True)
            await channel.declare_queue(self.dead_queue, durable=True)
            tag = await queue.consume(self.handle)
            log.info("consuming events from queue %s", self.queue)
            await stop.wait()
            try:
                await queue.cancel(tag)
            except (aiormq.exceptions.AMQPError, aiormq.exceptions.ChannelInvalidStateError):
                pass  # the channel is already gone (the broker went away): nothing left to cancel
        finally:
            # Messages still in hand are not acknowledged: the broker redelivers them, and their ids
            # make a second storing a no-op.
            await connection.close()

    async def handle(self, message: AbstractIncomingMessage) -> None:
        """Store one message's event, or dead-letter it with the reason; acknowledge after the commit."""
        headers = {"amqp-message-id": message.message_id or "", "amqp-routing-key": message.routing_key or ""}
        try:
            event = admission.admit_message(message.body, message.message_id, headers)
        except admission.Refused as exc:
            await self._dead_letter(message, exc.reason)
            return
        try:
            [result] = await self.store.add_events([event])
        except tasks.TRANSIENT as exc:
            log.warning("event %s not stored (%s); handed back to the queue", event.event_id, exc)
            await asyncio.sleep(self.retry_seconds)
            await message.nack(requeue=True)
            return
        if result.body_differs:
            await self._dead_letter(message, f"event {result.event_id} was already received with a different body; "
                                             "it was kept as first received", kind=event.type, result="conflict")
            return
        await message.ack()
        metrics.event_received(event.type, "accepted" if result.created else "duplicate")
        if result.created and self.on_stored is not None:
            self.on_stored()

    async def _dead_letter(
        self, message: AbstractIncomingMessage, reason: str, *, kind: str = "unknown", result: str = "rejected"
    ) -> None:
        assert self._channel is not None
        headers: dict[str, Any] = {**_plain(message.headers), REASON_HEADER: reason}
        await self._channel.default_exchange.publish(
            aio_pika.Message(
                message.body, headers=headers, message_id=message.message_id, content_type=message.content_type,
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            ),
            routing_key=self.dead_queue,
        )
        await message.ack()  # only once the broker confirmed the dead letter
        metrics.event_received(kind, result)
        log.warning("message %s dead-lettered to %s: %s", message.message_id, self.dead_queue, reason)


def _plain(headers: Mapping[str, Any] | None) -> dict[str, Any]:
    return dict(headers or {})
