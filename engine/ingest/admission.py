"""What every way in does with an event before it is acknowledged: parse, validate, and build the
record that is stored. The webhook (engine/ingest/webhooks.py) and the broker consumer
(connectors/amqp.py) both use it, so an event is checked the same way whichever road it took.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from engine.core import records
from engine.ingest import strict_json, validation


class Refused(ValueError):
    """An event that cannot be stored; `reason` says why in one line (it travels with a dead letter)."""

    def __init__(self, reason: str, problems: list[dict[str, Any]] | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.problems = problems or []


def new_event(envelope: validation.Envelope, item: Any, headers: Mapping[str, str]) -> records.NewEvent:
    """The record stored for a validated event: a single event's exact text (`item` a str), or a batch
    item's canonical JSON."""
    body = item if isinstance(item, str) else json.dumps(item, ensure_ascii=False, separators=(",", ":"))
    return records.NewEvent(
        event_id=envelope.id,
        type=envelope.type,
        uscc=envelope.uscc,
        occurred_at=envelope.occurred_at,
        body=body,
        body_sha256=hashlib.sha256(body.encode()).hexdigest(),
        headers=dict(headers),
    )


def admit_message(body: bytes, message_id: str | None, headers: Mapping[str, str]) -> records.NewEvent:
    """One event carried by a broker message: the message id plays the webhook-id (the idempotency
    key). Raise Refused naming what is wrong."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise Refused("the message body is not UTF-8 text") from None
    try:
        payload = strict_json.parse_json(text)
    except ValueError as exc:
        raise Refused(f"the message body is not JSON: {exc}") from None
    if isinstance(payload, list):
        raise Refused("a message carries one event (a JSON object), not a batch")
    if not message_id:
        raise Refused("the message has no message_id (it is the event's idempotency key)")
    try:
        envelope = validation.validate(payload, webhook_id=message_id)
    except validation.Invalid as exc:
        problems = [p.as_dict() for p in exc.problems]
        summary = "; ".join(f"{p['path'] or '(event)'}: {p['reason']}" for p in problems[:5])
        raise Refused(f"the event is not valid: {summary}", problems) from None
    return new_event(envelope, text, headers)
