"""Signing webhook bodies, generated ones included, as a Standard Webhooks sender does."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Any

import requests

from tests import factories


def body_bytes(case: Any) -> bytes:
    """The case's body exactly as schemathesis' requests transport would send it."""
    kwargs = case.as_transport_kwargs(base_url="http://127.0.0.1")
    if "json" in kwargs:
        return requests.Request("POST", "http://127.0.0.1", json=kwargs["json"]).prepare().body
    data = kwargs.get("data", b"")
    return data.encode() if isinstance(data, str) else bytes(data or b"")


def sign_case_body(case: Any) -> tuple[bytes, dict[str, str]]:
    """The case's body and Standard Webhooks headers signing it with the configured secret.

    The generated webhook-id is kept when there is one (it is part of what is fuzzed); only an
    empty one is replaced, since an empty id is refused before its signature is even checked."""
    generated = case.headers or {}
    msg_id = generated.get("webhook-id") or factories.message_id()
    body = body_bytes(case)
    return body, sign_bytes(body, msg_id)


def sign_bytes(body: bytes, msg_id: str, secret: str = factories.SECRET, timestamp: int | None = None) -> dict[str, str]:
    """Standard Webhooks headers for raw bytes. The reference library signs text only; bodies that
    are not UTF-8 must be signed too, so the service's 400 for them is reached past the signature."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    key = base64.b64decode(secret.removeprefix("whsec_"))
    digest = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": "v1," + base64.b64encode(digest).decode(),
        "content-type": "application/json",
    }
