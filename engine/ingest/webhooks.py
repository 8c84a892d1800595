"""`POST /webhooks/events`: Standard Webhooks verification, validation, durable storage, then 2xx.

Order matters: admission → size → signature → JSON → schema → store → acknowledge. Nothing is
stored unless the whole check passes (for a batch: per item), and no 2xx leaves before the commit
(which concurrent deliveries share: connectors.sql_group_commit). Past `INTAKE_MAX_IN_FLIGHT`
deliveries in hand, one more is refused at once with 503 and Retry-After (engine.ingest.intake); a
commit that fails is answered 503 too, so the sender delivers again (a repeat of an event that was
stored after all is answered `duplicate`).
"""

from __future__ import annotations

import json
import logging
from typing import Any

import standardwebhooks
from aiohttp import web

from engine import constants
from engine.core import records
from engine.http import responses
from engine.ingest import admission, event_store, intake, pipeline, strict_json, validation
from engine.telemetry import metrics

log = logging.getLogger(__name__)

#: Where received events are stored.
EVENTS = web.AppKey("event_store", event_store.EventStore)
#: The pipeline to wake once an event is committed.
PIPELINE = web.AppKey("pipeline", pipeline.Pipeline)
#: One verifier per accepted secret (rotation): a signature made with any of them is accepted.
VERIFIERS = web.AppKey("verifiers", tuple[standardwebhooks.Webhook, ...])
#: Largest body and largest batch a delivery may carry (settings: max_body_bytes, max_batch_items).
LIMITS = web.AppKey("webhook_limits", tuple[int, int])
#: The deliveries in hand, and how many may be (admission control).
INTAKE = web.AppKey("intake", intake.Intake)
#: When this delivery was admitted (time.monotonic), for `Intake.overdue`.
ADMITTED = web.RequestKey("intake_admitted", float)

#: Request headers kept with each event, for audit (the signature proves who sent it).
KEPT_HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature", "user-agent", "content-type")


async def _read_body(request: web.Request) -> bytes:
    limit = request.app[LIMITS][0]
    if request.content_length is not None and request.content_length > limit:
        raise _too_large(limit)
    try:
        return await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise _too_large(limit) from None


def _too_large(limit: int) -> web.HTTPException:
    # Built only when needed: an error response is a whole JSON body, and building one for every
    # delivery took ~5% of the service's event loop under a closed-loop load.
    return responses.error(413, "payload_too_large", f"the body exceeds the limit of {limit} bytes")


def _verify(request: web.Request, text: str) -> None:
    verifiers = request.app[VERIFIERS]
    if not verifiers:
        raise responses.error(
            503, "not_configured", "no webhook secret is configured (POLICY_PUSH_WEBHOOK_SECRETS)"
        )
    headers = {name: request.headers.get(name, "") for name in ("webhook-id", "webhook-timestamp", "webhook-signature")}
    reason = "missing webhook-id, webhook-timestamp or webhook-signature header"
    for verifier in verifiers:
        try:
            verifier.verify(text, headers, json_parse=False)
            return
        except standardwebhooks.WebhookVerificationError as exc:
            reason = str(exc)
        except ValueError:  # malformed signature list (no "v1," part, bad base64)
            reason = "malformed webhook-signature header"
    raise responses.error(401, "invalid_signature", f"webhook verification failed: {reason}")


async def receive_events(request: web.Request) -> web.Response:
    """Accept one event (JSON object) or a batch (JSON array) from a data-sharing platform."""
    try:
        with request.app[INTAKE].admit() as admitted:
            request[ADMITTED] = admitted
            return await _receive(request)
    except intake.Overloaded:
        metrics.webhook_refused("overloaded")
        raise _retry_later("overloaded", "the service is busy; nothing was stored, deliver the events again later") from None
    except responses.JsonError as exc:  # refused as a whole: count it by its error code
        metrics.webhook_refused(json.loads(exc.text or "{}").get("error", "http_error"))
        raise


def _retry_later(code: str, message: str) -> web.HTTPException:
    return responses.error(503, code, message, headers={"Retry-After": str(constants.INTAKE_RETRY_AFTER_SECONDS)})


async def _store(request: web.Request, events: list[records.NewEvent]) -> list[records.AddResult]:
    """Store `events` in one commit (shared with concurrent deliveries); 503 if that commit failed, or
    without trying if the delivery has waited past INTAKE_DEADLINE_SECONDS since it was admitted."""
    if request.app[INTAKE].overdue(request[ADMITTED]):
        raise _retry_later("overloaded", "the service is busy; nothing was stored, deliver the events again later")
    try:
        return await request.app[EVENTS].add_events(events)
    except Exception:
        log.exception("webhook: the commit holding %d event(s) failed", len(events))
        raise _retry_later("not_stored", "the events could not be stored; deliver them again later") from None


async def _receive(request: web.Request) -> web.Response:
    raw = await _read_body(request)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise responses.error(400, "invalid_body", "the body is not UTF-8 text") from None
    _verify(request, text)
    try:
        payload = strict_json.parse_json(text)
    except strict_json.DuplicateKey as exc:
        raise responses.error(422, "duplicate_key", f"the body is ambiguous: {exc}; nothing was stored", problems=[exc.problem()]) from None
    except ValueError as exc:  # not JSON, NaN or too large a number, nested too deeply
        raise responses.error(400, "invalid_json", f"the body is not JSON: {exc}") from None
    headers = {name: request.headers[name] for name in KEPT_HEADERS if name in request.headers}
    if isinstance(payload, list):
        return await _receive_batch(request, payload, headers)
    return await _receive_one(request, payload, text, headers)


async def _receive_one(request: web.Request, payload: Any, text: str, headers: dict[str, str]) -> web.Response:
    try:
        envelope = validation.validate(payload, webhook_id=request.headers["webhook-id"])
    except validation.Invalid as exc:
        metrics.event_received(metrics.event_type(payload, validation.event_types()), "rejected")
        raise responses.error(
            422, "invalid_event", "the event is not valid; nothing was stored",
            problems=[p.as_dict() for p in exc.problems],
        ) from None
    [result] = await _store(request, [admission.new_event(envelope, text, headers)])
    metrics.event_received(envelope.type, "accepted" if result.created else "conflict" if result.body_differs else "duplicate")
    if result.created:
        request.app[PIPELINE].stored()
        return responses.json_response({"event_id": result.event_id, "status": "accepted"}, status=202)
    if result.body_differs:
        raise responses.error(
            409, "conflict", f"event {result.event_id} was already received with a different body; it was kept as first received",
            event_id=result.event_id,
        )
    return responses.json_response({"event_id": result.event_id, "status": "duplicate"}, status=200)


async def _receive_batch(request: web.Request, items: list[Any], headers: dict[str, str]) -> web.Response:
    limit = request.app[LIMITS][1]
    if not items:
        raise responses.error(422, "invalid_event", "the batch is empty", problems=[{"path": "", "reason": "must hold at least one event"}])
    if len(items) > limit:
        raise responses.error(413, "payload_too_large", f"the batch holds {len(items)} events; at most {limit} are accepted")
    results: list[dict[str, Any]] = []
    accepted: list[tuple[int, records.NewEvent]] = []
    for index, item in enumerate(items):
        try:
            envelope = validation.validate(item)
        except validation.Invalid as exc:
            results.append({
                "index": index,
                "event_id": item.get("id") if isinstance(item, dict) and isinstance(item.get("id"), str) else None,
                "status": "rejected",
                "problems": [p.as_dict() for p in exc.problems],
            })
            continue
        accepted.append((index, admission.new_event(envelope, item, {**headers, "batch-index": str(index)})))
        results.append({"index": index, "event_id": envelope.id, "status": "pending"})
    stored = await _store(request, [event for _, event in accepted])
    for (index, _), result in zip(accepted, stored, strict=True):
        if result.created:
            results[index]["status"] = "accepted"
        elif result.body_differs:
            results[index].update(status="conflict", problems=[{"path": "", "reason": "already received with a different body"}])
        else:
            results[index]["status"] = "duplicate"
    for answer in results:
        metrics.event_received(metrics.event_type(items[answer["index"]], validation.event_types()), answer["status"])
    if any(result.created for result in stored):
        request.app[PIPELINE].stored()
    counts = {state: sum(r["status"] == state for r in results) for state in ("accepted", "duplicate", "rejected", "conflict")}
    status = 422 if counts["rejected"] == len(results) else 200
    return responses.json_response({**counts, "results": results}, status=status)
