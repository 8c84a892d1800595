"""Loading synthetic events (`policy-push synth`): straight into a store, or as signed webhook batches.

Either way each event is validated as the webhook validates it, and the answers are tallied as
the receiving side gives them (accepted, duplicate, rejected, conflict).
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import aiohttp
import standardwebhooks

from engine.ingest import admission, event_store, validation
from engine.ingest.synth_draw import ID_PREFIX

#: Events per stored transaction or webhook delivery unless told otherwise.
DEFAULT_BATCH = 500

#: Attempts per webhook delivery before giving up (connection errors and 5xx are retried; a
#: resent batch is idempotent: its events are then reported as duplicates).
POST_ATTEMPTS = 3
POST_RETRY_SECONDS = 1.0
POST_TIMEOUT_SECONDS = 120.0


@dataclasses.dataclass
class LoadReport:
    """What the receiving side said about the events offered."""

    accepted: int = 0
    duplicate: int = 0
    rejected: int = 0
    conflict: int = 0
    #: (event id, problems) of the first few rejected or conflicting events.
    problems: list[tuple[str | None, list[dict[str, str]]]] = dataclasses.field(default_factory=list)

    def add(self, status: str, event_id: str | None = None, problems: Sequence[dict[str, str]] = ()) -> None:
        setattr(self, status, getattr(self, status) + 1)
        if status in ("rejected", "conflict") and len(self.problems) < 10:
            self.problems.append((event_id, list(problems)))


class LoadError(Exception):
    """The events could not be delivered (the receiver refused the delivery as a whole)."""


def chunks(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    """Consecutive lists of at most `size` items."""
    chunk: list[Any] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


async def store_events(store: event_store.EventStore, events: Iterable[dict[str, Any]], *, batch: int = DEFAULT_BATCH, agent: str = "policy-push synth") -> LoadReport:
    """Validate and store events exactly as the webhook does (one transaction per batch)."""
    report = LoadReport()
    for chunk in chunks(events, batch):
        new = []
        for position, item in enumerate(chunk):
            try:
                envelope = validation.validate(item)
            except validation.Invalid as exc:
                report.add("rejected", item.get("id"), [p.as_dict() for p in exc.problems])
                continue
            new.append(admission.new_event(envelope, item, {"user-agent": agent, "batch-index": str(position)}))
        for result in await store.add_events(new):
            if result.created:
                report.add("accepted")
            elif result.body_differs:
                report.add("conflict", result.event_id, [{"path": "", "reason": "already received with a different body"}])
            else:
                report.add("duplicate")
    return report


async def post_events(
    url: str, secret: str, events: Iterable[dict[str, Any]], *, batch: int = DEFAULT_BATCH, seed: int = 0,
) -> LoadReport:
    """POST events as signed Standard Webhooks batches to `url`/webhooks/events; tally the answers."""
    endpoint = url.rstrip("/") + "/webhooks/events"
    signer = standardwebhooks.Webhook(secret)
    report = LoadReport()
    timeout = aiohttp.ClientTimeout(total=POST_TIMEOUT_SECONDS)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        for number, chunk in enumerate(chunks(events, batch)):
            body = json.dumps(chunk, ensure_ascii=False, separators=(",", ":"))
            # One message id per batch content: a resend of the same batch is the same message.
            msg_id = f"msg_{ID_PREFIX}_{seed}_{number}_{chunk[0]['id']}"
            payload = await _deliver(session, signer, endpoint, msg_id, body)
            for result in payload.get("results", []):
                report.add(result["status"], result.get("event_id"), result.get("problems", ()))
    return report


async def _deliver(session: aiohttp.ClientSession, signer: standardwebhooks.Webhook, endpoint: str, msg_id: str, body: str) -> dict[str, Any]:
    for attempt in range(1, POST_ATTEMPTS + 1):
        now = dt.datetime.now(dt.UTC)
        headers = {
            "webhook-id": msg_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": signer.sign(msg_id, now, body),
            "content-type": "application/json",
            "user-agent": "policy-push synth",
        }
        try:
            async with session.post(endpoint, data=body.encode(), headers=headers) as response:
                text = await response.text()
                if response.status in (200, 422):
                    return json.loads(text)
                if response.status < 500 or attempt == POST_ATTEMPTS:
                    raise LoadError(f"{endpoint} answered {response.status}: {text[:500]}")
        except (TimeoutError, aiohttp.ClientConnectionError) as exc:
            if attempt == POST_ATTEMPTS:
                raise LoadError(f"{endpoint}: {type(exc).__name__}: {exc}") from None
        await asyncio.sleep(POST_RETRY_SECONDS * attempt)
    raise AssertionError("unreachable")


def count_types(events: Iterable[dict[str, Any]]) -> Counter[str]:
    """Events per type."""
    return Counter(e["type"] for e in events)
