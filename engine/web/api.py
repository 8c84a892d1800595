"""Operators' read API (first part) and the health endpoints."""

from __future__ import annotations

import datetime
import json
from typing import Any

from aiohttp import web
from stdnum.cn import uscc as stdnum_uscc

from connectors import sql_migrate as migrate
from engine import audit
from engine.core import china_time, matching, pii, profile, records
from engine.http import auth, responses
from engine.ingest import event_types, strict_json
from engine.judging import recording
from engine.web import health, keys, openapi

routes = web.RouteTableDef()


def _iso(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


def _decision(stored: records.StoredDecision) -> dict[str, Any]:
    return {
        "id": stored.id,
        **stored.decision.as_dict(),
        "as_of": stored.as_of.isoformat(),
        "event_id": stored.event_id,
        "created_at": stored.created_at.isoformat(),
    }


@routes.get("/api/firms/{uscc}")
async def get_firm(request: web.Request) -> web.Response:
    """A firm's profile (一企一档), where each field came from, and its latest decisions."""
    uscc = request.match_info["uscc"].strip().upper()
    if not stdnum_uscc.is_valid(uscc):
        raise responses.error(400, "invalid_uscc", f"{uscc!r} is not a valid 统一社会信用代码")
    store = request.app[keys.STORAGE]
    firm = await store.get_firm(uscc)
    if firm is None:
        raise responses.error(404, "not_found", f"no events have been processed for firm {uscc}")
    history: dict[str, list[dict[str, Any]]] = {}
    for assignment in await store.field_history(uscc):
        history.setdefault(assignment.field, []).append(
            {
                "value": assignment.value,
                "event_id": assignment.event_id,
                "occurred_at": assignment.occurred_at.isoformat(),
                "recorded_at": assignment.recorded_at.isoformat(),
            }
        )
    token = request[auth.API_TOKEN]
    masked = token.role == "viewer"
    fields = pii.mask_fields(firm.fields) if masked else dict(firm.fields)
    if masked:
        for path in pii.PII_FIELDS:
            for entry in history.get(path, []):
                entry["value"] = pii.mask(entry["value"], pii.PII_FIELDS[path]) if isinstance(entry["value"], str) else entry["value"]
    elif revealed := pii.present(firm.fields):
        await store.append_audit([audit.Draft(_actor(token), "pii.viewed", "firm", uscc, {"fields": revealed, "via": "GET /api/firms"})])
    provenance = {
        path: {
            "value": fields[path],
            "event_id": firm.stamps[path][1],
            "occurred_at": firm.stamps[path][0],
            "history": history.get(path, []),
        }
        for path in sorted(fields)
    }
    latest: dict[str, records.StoredDecision] = {}
    for stored in await store.decisions(uscc):  # oldest first: the last one per clause stands
        latest[stored.decision.clause_id] = stored
    return responses.json_response(
        {
            "uscc": uscc,
            "profile": profile.nest(uscc, fields),
            "provenance": provenance,
            "events_applied": firm.events_applied,
            "created_at": firm.created_at.isoformat(),
            "updated_at": firm.updated_at.isoformat(),
            "decisions": [_decision(stored) for stored in latest.values()],
        }
    )


def _pii_keys(event_type: str) -> dict[str, str]:
    """The data keys masked by name in an event of this type: those of the personal fields its
    fold sets; for a type this service does not know, all of them (fail closed)."""
    try:
        sets = event_types.REGISTRY.get(event_type).sets
    except KeyError:
        return dict(pii.PII_KEYS)
    return dict(pii.PII_KEYS) if any(path in pii.PII_FIELDS for path in sets) else {}


def _actor(token: records.TokenRecord) -> str:
    return f"api token #{token.id} {token.label} ({token.role})".replace("  ", " ")


@routes.get("/api/events/{event_id}")
async def get_event(request: web.Request) -> web.Response:
    """One received event as stored: body, kept headers, and where it is in the pipeline. A viewer
    token gets the contact data in it masked; any other token's view of it in clear is audited."""
    store = request.app[keys.STORAGE]
    event = await store.get_event(request.match_info["event_id"])
    if event is None:
        raise responses.error(404, "not_found", f"no event with id {request.match_info['event_id']!r}")
    shown = {
        "body": json.loads(event.body),
        "headers": dict(event.headers),
        "error": event.error,
    }
    masked, found = pii.mask_data(shown, _pii_keys(event.type))
    token = request[auth.API_TOKEN]
    if token.role == "viewer":
        shown = masked
    elif found:
        draft = audit.Draft(_actor(token), "pii.viewed", "event", event.event_id, {"fields": sorted(found), "via": "GET /api/events"})
        await store.append_audit([draft])
    return responses.json_response(
        {
            "event_id": event.event_id,
            "seq": event.seq,
            "type": event.type,
            "uscc": event.uscc,
            "occurred_at": event.occurred_at.isoformat(),
            "received_at": event.received_at.isoformat(),
            "status": event.status.value,
            "processed_at": _iso(event.processed_at),
            "error": shown["error"],
            "headers": shown["headers"],
            "body": shown["body"],
        }
    )


@routes.post("/api/match")
async def post_match(request: web.Request) -> web.Response:
    """The policy calculator: decisions for a profile (docs/profile.md shape), nothing stored.

    It judges the profile in the context the pipeline would: the designations stored for the profile's
    county (its `region`), the risk years among them replaced by the body's `risk_years` when given,
    and, when the profile's `uscc` is a stored firm, that firm's stored decisions (the grants a
    cumulative cap counts).
    """
    try:
        body = await request.json(loads=strict_json.parse_json)
    except strict_json.DuplicateKey as exc:
        raise responses.error(422, "duplicate_key", f"the body is ambiguous: {exc}", problems=[exc.problem()]) from None
    except ValueError:
        raise responses.error(400, "invalid_json", "the body is not JSON") from None
    problems = []
    if not isinstance(body, dict) or not isinstance(body.get("profile"), dict):
        raise responses.error(422, "invalid_request", "send {\"profile\": {...}}", problems=[{"path": "/profile", "reason": "must be an object"}])
    as_of = china_time.as_of_date(datetime.datetime.now(datetime.UTC))
    if "as_of" in body:
        try:
            as_of = datetime.date.fromisoformat(body["as_of"])
        except (TypeError, ValueError):
            problems.append({"path": "/as_of", "reason": "must be a date, YYYY-MM-DD"})
    risk_years = body.get("risk_years")  # absent: the store's designations for the profile's county
    if "risk_years" in body and (
        not isinstance(risk_years, list) or not all(isinstance(y, int) and not isinstance(y, bool) for y in risk_years)
    ):
        problems.append({"path": "/risk_years", "reason": "must be a list of years"})
    show_all = body.get("all", False)
    if not isinstance(show_all, bool):
        problems.append({"path": "/all", "reason": "must be true or false"})
    if problems:
        raise responses.error(422, "invalid_request", "the request is not valid", problems=problems)
    override = None if risk_years is None else frozenset(risk_years)
    context = await recording.stored_context(request.app[keys.STORAGE], body["profile"], override)
    try:
        decisions = request.app[keys.MATCHER].match(body["profile"], as_of, context)
    except ValueError as exc:  # the matcher refuses what it cannot judge (e.g. amounts summing past a double)
        raise responses.error(422, "invalid_request", "the profile cannot be judged", problems=[{"path": "/profile", "reason": str(exc)}]) from None
    shown = [d.as_dict() for d in decisions if show_all or d.status != matching.Verdict.NOT_MET]
    used = {
        "risk_years": context.years(matching.EPIDEMIC_RISK),
        "risk_years_from": "store" if override is None else "request",
        "demo_county_years": context.years(matching.SME_DEMO_COUNTY),
        "stored_grants": len(context.grants),
    }
    return responses.json_response({"as_of": as_of.isoformat(), "context": used, "decisions": shown})


@routes.get("/api/openapi.json")
async def get_openapi(request: web.Request) -> web.Response:
    """The OpenAPI 3.1 description of this service."""
    return responses.json_response(openapi.document())


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    """Liveness: the process answers."""
    return responses.json_response({"status": "ok"})


@routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    """Readiness: the database answers, the last integrity check (every DATABASE_CHECK_SECONDS) found
    no damage, and its schema is at this code's migration head."""
    store = request.app[keys.STORAGE]
    checks: dict[str, str] = {}
    try:
        await store.ping()
        checks["database"] = "ok"
        if health.HEALTH in request.app:
            checks["integrity"] = request.app[health.HEALTH].damage or "ok"  # the damage, named in one line
        if store.has_migrations:
            revision, head = await store.schema_revision(), migrate.head_revision()
            checks["migrations"] = (
                "ok" if revision == head else f"at {revision or 'none'}, expected {head}: run `policy-push db upgrade`"
            )
    except Exception as exc:  # any failure here means "not ready", with the reason shown
        checks["database"] = f"unreachable: {type(exc).__name__}: {exc}"
    ready = all(value == "ok" for value in checks.values())
    return responses.json_response({"status": "ready" if ready else "not_ready", "checks": checks}, status=200 if ready else 503)
