"""The OpenAPI 3.1 document served at /api/openapi.json. tests/test_openapi.py keeps it true."""

from __future__ import annotations

import functools
from typing import Any

from engine.ingest import validation

_ERROR = {
    "type": "object",
    "required": ["error", "message"],
    "properties": {
        "error": {"type": "string", "description": "machine-readable code"},
        "message": {"type": "string"},
        "problems": {"type": "array", "items": {"$ref": "#/components/schemas/Problem"}},
        "event_id": {"type": "string"},
    },
}

_SCHEMAS: dict[str, Any] = {
    "Error": _ERROR,
    "Problem": {
        "type": "object",
        "required": ["path", "reason"],
        "properties": {
            "path": {"type": "string", "description": "JSON Pointer into the event"},
            "reason": {"type": "string"},
        },
    },
    "Ack": {
        "type": "object",
        "required": ["event_id", "status"],
        "properties": {"event_id": {"type": "string"}, "status": {"enum": ["accepted", "duplicate"]}},
    },
    "BatchResult": {
        "type": "object",
        "required": ["accepted", "duplicate", "rejected", "conflict", "results"],
        "properties": {
            **{k: {"type": "integer"} for k in ("accepted", "duplicate", "rejected", "conflict")},
            "results": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["index", "event_id", "status"],
                    "properties": {
                        "index": {"type": "integer"},
                        "event_id": {"type": ["string", "null"]},
                        "status": {"enum": ["accepted", "duplicate", "rejected", "conflict"]},
                        "problems": {"type": "array", "items": {"$ref": "#/components/schemas/Problem"}},
                    },
                },
            },
        },
    },
    "Event": {
        "type": "object",
        "required": ["event_id", "seq", "type", "occurred_at", "received_at", "status", "headers", "body"],
        "properties": {
            "event_id": {"type": "string"},
            "seq": {"type": "integer"},
            "type": {"type": "string"},
            "uscc": {"type": ["string", "null"]},
            "occurred_at": {"type": "string", "format": "date-time"},
            "received_at": {"type": "string", "format": "date-time"},
            "status": {"enum": ["received", "processed", "failed"]},
            "processed_at": {"type": ["string", "null"], "format": "date-time"},
            "error": {"type": ["string", "null"]},
            "headers": {"type": "object", "additionalProperties": {"type": "string"}},
            "body": {"type": "object", "description": "the event as received (envelope)"},
        },
    },
    "Decision": {
        "type": "object",
        "required": ["id", "clause_id", "cite", "rule_version", "status", "as_of", "explanation", "facts"],
        "properties": {
            "id": {"type": "integer"},
            "clause_id": {"type": "string"},
            "cite": {"type": "string", "description": "<slug>#<clause>"},
            "rule_version": {"type": "string"},
            "status": {"enum": ["met", "not_met", "unknown"]},
            "amount": {"type": ["number", "null"]},
            "as_of": {"type": "string", "format": "date"},
            "event_id": {"type": ["string", "null"]},
            "created_at": {"type": "string", "format": "date-time"},
            "explanation": {"type": "object"},
            "facts": {"type": "object"},
        },
    },
    "Firm": {
        "type": "object",
        "required": ["uscc", "profile", "provenance", "events_applied", "decisions"],
        "properties": {
            "uscc": {"type": "string"},
            "profile": {"type": "object", "description": "the profile, shaped as docs/profile.md describes"},
            "provenance": {
                "type": "object",
                "description": "per dotted field path: current value, the event that set it, and every assignment",
                "additionalProperties": {
                    "type": "object",
                    "required": ["value", "event_id", "occurred_at", "history"],
                    "properties": {
                        "value": {},
                        "event_id": {"type": "string"},
                        "occurred_at": {"type": "string"},
                        "history": {"type": "array", "items": {"type": "object"}},
                    },
                },
            },
            "events_applied": {"type": "integer"},
            "created_at": {"type": "string", "format": "date-time"},
            "updated_at": {"type": "string", "format": "date-time"},
            "decisions": {"type": "array", "items": {"$ref": "#/components/schemas/Decision"}},
        },
    },
    "MatchRequest": {
        "type": "object",
        "required": ["profile"],
        "properties": {
            "profile": {
                "type": "object",
                "description": "shaped as GET /api/firms/{uscc} returns under profile; its region selects the stored "
                               "designations, its uscc (when a stored firm) the firm's stored decisions",
            },
            "as_of": {"type": "string", "format": "date", "description": "default: today in China"},
            "risk_years": {
                "type": "array", "items": {"type": "integer"},
                "description": "years the firm's county had a medium/high risk area; overrides the risk designations "
                               "stored for the profile's region (omit it to use them; [] judges as if none)",
            },
            "all": {"type": "boolean", "description": "include not_met decisions"},
        },
    },
    "MatchResult": {
        "type": "object",
        "required": ["as_of", "context", "decisions"],
        "properties": {
            "as_of": {"type": "string", "format": "date"},
            "context": {
                "type": "object",
                "description": "the stored facts the profile was judged with, as the pipeline reads them",
                "required": ["risk_years", "risk_years_from", "demo_county_years", "stored_grants"],
                "properties": {
                    "risk_years": {"type": "array", "items": {"type": "integer"}, "description": "risk years of the profile's county"},
                    "risk_years_from": {"enum": ["store", "request"], "description": "stored designations, or the request's risk_years"},
                    "demo_county_years": {
                        "type": "array", "items": {"type": "integer"},
                        "description": "years the profile's county was named a 示范县 创建县 (stored designations)",
                    },
                    "stored_grants": {
                        "type": "integer",
                        "description": "the firm's stored met decisions counted against cumulative caps (0 when uscc names no stored firm)",
                    },
                },
            },
            "decisions": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["clause_id", "cite", "rule_version", "status", "explanation", "facts"],
                    "properties": {
                        "clause_id": {"type": "string"},
                        "cite": {"type": "string"},
                        "rule_version": {"type": "string"},
                        "status": {"enum": ["met", "not_met", "unknown"]},
                        "amount": {"type": ["number", "null"]},
                        "explanation": {"type": "object"},
                        "facts": {"type": "object"},
                    },
                },
            },
        },
    },
    "NoticeState": {
        "type": "object",
        "required": ["notice_id", "status"],
        "properties": {"notice_id": {"type": "string"}, "status": {"type": "string"}},
    },
    "PushAck": {"type": "object", "required": ["code"], "properties": {"code": {"const": 0}, "msg": {"type": "string"}}},
    "Health": {"type": "object", "required": ["status"], "properties": {"status": {"const": "ok"}}},
    "Ready": {
        "type": "object",
        "required": ["status", "checks"],
        "properties": {
            "status": {"enum": ["ready", "not_ready"]},
            "checks": {"type": "object", "additionalProperties": {"type": "string"}},
        },
    },
}


def _json(ref: str, description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}}}


_UNAUTHORIZED = _json("Error", "no valid bearer token")
_WEBHOOK_HEADERS = [
    {"name": name, "in": "header", "required": True, "schema": {"type": "string"}, "description": text}
    for name, text in (
        ("webhook-id", "unique message id; the event id and idempotency key"),
        ("webhook-timestamp", "Unix seconds; rejected when more than 5 minutes off"),
        ("webhook-signature", "space-separated v1,<base64 HMAC-SHA256> signatures (Standard Webhooks)"),
    )
]


_PUSH_TOKEN = {"name": "token", "in": "query", "required": True, "schema": {"type": "string"}, "description": "POLICY_PUSH_SMS_REPORT_TOKEN"}
_UNSUBSCRIBE_TOKEN = {"name": "token", "in": "path", "required": True, "schema": {"type": "string"}}
#: The signed, expiring link to a firm's own page (docs/firm_page.md): the link is the key.
_FIRM_LINK = {"name": "token", "in": "path", "required": True, "schema": {"type": "string"}}
_CLAUSE_ID = {"name": "clause_id", "in": "path", "required": True, "schema": {"type": "string"}}
_FIRM_PAGE_REFUSED = {
    "403": {"description": "the form's token is missing or not this page's (nothing changed)"},
    "404": {"description": "invalid link, or no such item for the firm (HTML page, no firm data)"},
    "410": {"description": "expired or revoked link (HTML page, no firm data)"},
}


def _firm_form(summary: str, fields: dict[str, Any], required: list[str], extra: dict[str, Any]) -> dict[str, Any]:
    """A form POST of the firm's page: HTML in, a 303 back to the page out."""
    schema = {"type": "object", "properties": {"form_token": {"type": "string"}, **fields}, "required": ["form_token", *required]}
    return {
        "summary": summary,
        "requestBody": {"required": True, "content": {"application/x-www-form-urlencoded": {"schema": schema}}},
        "responses": {"303": {"description": "saved; back to the page"}, **_FIRM_PAGE_REFUSED, **extra},
    }


@functools.cache
def document() -> dict[str, Any]:
    """The OpenAPI document (built once)."""
    event_types = validation.event_types()
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "policy-push",
            "version": "0.1.0",
            "description": "免申即享: signed event ingestion, firm profiles (一企一档), decisions and notices.",
        },
        "components": {
            "schemas": _SCHEMAS,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "paths": {
            "/webhooks/events": {
                "post": {
                    "summary": "Receive one event or a batch (Standard Webhooks signed)",
                    "description": "Event types: " + ", ".join(event_types) + ". Schemas: docs/events.md.",
                    "parameters": _WEBHOOK_HEADERS,
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": {"oneOf": [{"type": "object"}, {"type": "array", "items": {"type": "object"}}]}}},
                    },
                    "responses": {
                        "202": _json("Ack", "stored durably; will be processed"),
                        "200": {
                            "description": "a redelivery of a known event (Ack, status duplicate), or a batch's per-item results",
                            "content": {"application/json": {"schema": {"oneOf": [{"$ref": "#/components/schemas/Ack"}, {"$ref": "#/components/schemas/BatchResult"}]}}},
                        },
                        "400": _json("Error", "the body is not UTF-8 JSON"),
                        "401": _json("Error", "missing, invalid or stale signature"),
                        "409": _json("Error", "the event id is known with a different body"),
                        "413": _json("Error", "body or batch too large"),
                        "422": {
                            "description": "invalid event (problems listed), or a batch whose every item was rejected",
                            "content": {"application/json": {"schema": {"oneOf": [{"$ref": "#/components/schemas/Error"}, {"$ref": "#/components/schemas/BatchResult"}]}}},
                        },
                        "503": _json("Error", "no webhook secret configured, or the database needs repair (send again later)"),
                    },
                }
            },
            "/api/firms/{uscc}": {
                "get": {
                    "summary": "A firm's profile with provenance and latest decisions",
                    "security": [{"bearer": []}],
                    "parameters": [{"name": "uscc", "in": "path", "required": True, "schema": {"type": "string"}}],
                    "responses": {
                        "200": _json("Firm", "the firm"),
                        "400": _json("Error", "not a valid USCC"),
                        "401": _UNAUTHORIZED,
                        "404": _json("Error", "no events processed for this firm"),
                    },
                }
            },
            "/api/events/{event_id}": {
                "get": {
                    "summary": "One received event",
                    "description": (
                        "The body, kept headers and error as stored. For a viewer token, contact data in them "
                        "(mobile numbers, email addresses, names) is masked as in /api/firms; an operator's or "
                        "admin's view of it in clear is audited (pii.viewed)."
                    ),
                    "security": [{"bearer": []}],
                    "parameters": [{"name": "event_id", "in": "path", "required": True, "schema": {"type": "string"}}],
                    "responses": {
                        "200": _json("Event", "the event"),
                        "401": _UNAUTHORIZED,
                        "404": _json("Error", "unknown event id"),
                    },
                }
            },
            "/api/match": {
                "post": {
                    "summary": "Policy calculator: decisions for a profile, nothing stored",
                    "description": (
                        "Judges the profile as the pipeline would, reading the stored facts a decision uses: the "
                        "designations of the profile's county (region: risk areas, 示范县 创建县; risk_years replaces the "
                        "risk ones), "
                        "and, when the profile's uscc is a stored firm, its stored decisions. So for a stored firm's "
                        "profile and the as_of of a stored decision, status and amount agree with that decision; "
                        "a clause with a yearly cap shows what is still due after the grants already stored."
                    ),
                    "security": [{"bearer": []}],
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/MatchRequest"}}},
                    },
                    "responses": {
                        "200": _json("MatchResult", "met and unknown decisions (not_met too with all)"),
                        "400": _json("Error", "the body is not JSON"),
                        "401": _UNAUTHORIZED,
                        "422": _json("Error", "invalid request (problems listed)"),
                    },
                }
            },
            "/api/notices/{notice_id}/retry": {
                "post": {
                    "summary": "Requeue a dead or undelivered notice (operator role)",
                    "security": [{"bearer": []}],
                    "parameters": [{"name": "notice_id", "in": "path", "required": True, "schema": {"type": "string"}}],
                    "responses": {
                        "200": _json("NoticeState", "requeued"),
                        "401": _UNAUTHORIZED,
                        "403": _json("Error", "the token's role is below operator"),
                        "404": _json("Error", "unknown notice"),
                        "409": _json("Error", "the notice is not dead or undelivered"),
                    },
                }
            },
            "/api/notices/{notice_id}/release": {
                "post": {
                    "summary": "Send a held notice: its benefit's window closed long before it was recorded (operator role)",
                    "security": [{"bearer": []}],
                    "parameters": [{"name": "notice_id", "in": "path", "required": True, "schema": {"type": "string"}}],
                    "responses": {
                        "200": _json("NoticeState", "released"),
                        "401": _UNAUTHORIZED,
                        "403": _json("Error", "the token's role is below operator"),
                        "404": _json("Error", "unknown notice"),
                        "409": _json("Error", "the notice is not held"),
                    },
                }
            },
            "/webhooks/sms-report": {
                "post": {
                    "summary": "SMS delivery receipts (Aliyun SmsReport JSON array); ?token= shared secret",
                    "parameters": [_PUSH_TOKEN],
                    "requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "array", "items": {"type": "object"}}}}},
                    "responses": {
                        "200": _json("PushAck", "receipts taken"),
                        "400": _json("Error", "not JSON"),
                        "401": _json("Error", "wrong or missing token"),
                        "422": _json("Error", "not an array"),
                        "503": _json("Error", "no push token configured"),
                    },
                }
            },
            "/webhooks/sms-reply": {
                "post": {
                    "summary": "Inbound SMS replies (Aliyun SmsUp JSON array): T / TD / 退订 opt the number out",
                    "parameters": [_PUSH_TOKEN],
                    "requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "array", "items": {"type": "object"}}}}},
                    "responses": {
                        "200": _json("PushAck", "replies taken"),
                        "400": _json("Error", "not JSON"),
                        "401": _json("Error", "wrong or missing token"),
                        "422": _json("Error", "not an array"),
                        "503": _json("Error", "no push token configured"),
                    },
                }
            },
            "/unsubscribe/{token}": {
                "get": {
                    "summary": "Unsubscribe confirmation page (changes nothing)",
                    "parameters": [_UNSUBSCRIBE_TOKEN],
                    "responses": {"200": {"description": "HTML page"}, "404": {"description": "invalid link"}},
                },
                "post": {
                    "summary": "RFC 8058 one-click unsubscribe from email notices",
                    "parameters": [_UNSUBSCRIBE_TOKEN],
                    "responses": {"200": {"description": "unsubscribed"}, "404": {"description": "invalid link"}},
                },
            },
            "/m/{token}": {
                "get": {
                    "summary": "The short link an SMS carries: forwards (303) to the firm's own page under a link of the same issue time",
                    "parameters": [{**_FIRM_LINK, "description": "the short token (USCC, minute issued, signature)"}],
                    "responses": {"303": {"description": "to /my/{token}"}, **{k: v for k, v in _FIRM_PAGE_REFUSED.items() if k != "403"}},
                }
            },
            "/my/{token}": {
                "get": {
                    "summary": "The firm's own page (我的政策): its current decisions, answers and SMS choice (HTML)",
                    "parameters": [_FIRM_LINK],
                    "responses": {"200": {"description": "HTML page"}, **{k: v for k, v in _FIRM_PAGE_REFUSED.items() if k != "403"}},
                }
            },
            "/my/{token}/items/{clause_id}/confirm": {
                "post": {
                    "parameters": [_FIRM_LINK, _CLAUSE_ID],
                    **_firm_form("确认: the firm agrees with an item of its page (audited)",
                                 {"decision_id": {"type": "string"}}, ["decision_id"],
                                 {"409": {"description": "the decision changed since the page was loaded"}}),
                }
            },
            "/my/{token}/items/{clause_id}/object": {
                "post": {
                    "parameters": [_FIRM_LINK, _CLAUSE_ID],
                    **_firm_form("有异议: the firm objects to an item of its page, with a reason (audited; the console's queue)",
                                 {"decision_id": {"type": "string"}, "reason": {"type": "string", "maxLength": 500}},
                                 ["decision_id", "reason"],
                                 {"409": {"description": "the decision changed since the page was loaded"},
                                  "422": {"description": "no reason, or one too long: the page again, saying so"}}),
                }
            },
            "/my/{token}/preferences": {
                "post": {
                    "parameters": [_FIRM_LINK],
                    **_firm_form("The firm's SMS choice: all, automatic grants only, or none (audited)",
                                 {"sms": {"type": "string", "enum": ["all", "grants_only", "none"]}}, ["sms"],
                                 {"422": {"description": "no valid choice: the page again, saying so"}}),
                }
            },
            "/api/openapi.json": {
                "get": {"summary": "This document (public)", "responses": {"200": {"description": "OpenAPI 3.1"}}}
            },
            "/healthz": {"get": {"summary": "Liveness", "responses": {"200": _json("Health", "alive")}}},
            "/metrics": {
                "get": {
                    "summary": "Prometheus metrics (public: counters, latencies and queue depths; no personal data)",
                    "responses": {
                        "200": {
                            "description": "Prometheus text exposition format",
                            "content": {"text/plain": {"schema": {"type": "string"}}},
                        }
                    },
                }
            },
            "/readyz": {
                "get": {
                    "summary": "Readiness: database reachable, whole (last integrity check) and at the migration head",
                    "responses": {"200": _json("Ready", "ready"), "503": _json("Ready", "not ready, with reasons")},
                }
            },
        },
    }
