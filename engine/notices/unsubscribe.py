"""Signed opt-out links: a token names the firm and the channel, and only this service can mint one.

Tokens do not expire: an opt-out link in a years-old email must still work (the law asks for an
easy way to refuse, at any time). They are signed, not encrypted: the USCC is public anyway.
"""

from __future__ import annotations

from collections.abc import Sequence

import itsdangerous

#: Separates these signatures from anything else signed with the same secret.
SALT = "policy-push.unsubscribe.v1"
CHANNELS = ("email", "sms")

Secret = str | bytes | Sequence[str | bytes]


class InvalidToken(ValueError):
    """The token was not made by us with this secret (tampered, truncated or foreign)."""


def _serializer(secret: Secret) -> itsdangerous.URLSafeSerializer:
    # A list of secrets verifies with any of them and signs with the last: rotation without
    # breaking links already sent.
    keys = [secret] if isinstance(secret, (str, bytes)) else list(secret)
    if not keys or not all(keys):
        raise ValueError("an unsubscribe secret is required")
    return itsdangerous.URLSafeSerializer(keys, salt=SALT)


def make_token(secret: Secret, uscc: str, channel: str) -> str:
    """A URL-safe token for opting ``uscc`` out of ``channel`` (``email`` or ``sms``)."""
    if channel not in CHANNELS:
        raise ValueError(f"unknown channel {channel!r}; expected one of {CHANNELS}")
    if not uscc:
        raise ValueError("uscc is required")
    return _serializer(secret).dumps([uscc, channel])


def read_token(secret: Secret, token: str) -> tuple[str, str]:
    """``(uscc, channel)`` from a token; raises :class:`InvalidToken` if it was not signed by us."""
    try:
        payload = _serializer(secret).loads(token)
    except itsdangerous.BadData as exc:
        raise InvalidToken("unsubscribe link is invalid or has been altered") from exc
    if (
        not isinstance(payload, list)
        or len(payload) != 2
        or not all(isinstance(item, str) for item in payload)
        or payload[1] not in CHANNELS
    ):
        raise InvalidToken("unsubscribe link carries an unexpected payload")
    return payload[0], payload[1]


def unsubscribe_url(base_url: str, token: str) -> str:
    """``{base_url}/unsubscribe/{token}`` (one trailing slash of ``base_url`` tolerated)."""
    return f"{base_url.rstrip('/')}/unsubscribe/{token}"
