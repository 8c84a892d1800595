"""Signed, expiring links to a firm's own page (我的政策): the link is the key, so no login is needed.

A token names the firm and carries the moment it was issued; it is signed (not encrypted: the USCC
is public anyway) with the same secret as the unsubscribe links, under its own salt, so neither kind
of token is ever accepted as the other. It is refused once older than the configured lifetime
(POLICY_PUSH_FIRM_LINK_DAYS) or when it was issued before the firm's links were revoked.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import re

import itsdangerous

from engine.notices import unsubscribe

#: Separates these signatures from anything else signed with the same secret.
SALT = "policy-push.firm-page.v1"
#: Separates the page's form tokens (CSRF) from the links themselves.
FORM_SALT = "policy-push.firm-page-form.v1"
#: Separates the short links an SMS carries.
SHORT_SALT = b"policy-push.firm-page-short.v1"
#: Characters of the short link's signature (base32: 5 bits each, 50 bits): a guess needs ~10^15 tries.
SHORT_MAC_CHARS = 10
#: Characters of the short link's issue time (minutes since 1970 in base 36; 5 digits last until 2083).
SHORT_TIME_CHARS = 5
_SHORT = re.compile(rf"^([0-9A-Z]{{18}})([0-9a-z]{{{SHORT_TIME_CHARS}}})([A-Z2-7]{{{SHORT_MAC_CHARS}}})$")
_BASE36 = "0123456789abcdefghijklmnopqrstuvwxyz"


class InvalidLink(ValueError):
    """The link was not made by us with this secret (tampered, truncated or foreign)."""


class ExpiredLink(InvalidLink):
    """The link was made by us but is older than its lifetime."""


class _IssuedAt(itsdangerous.TimestampSigner):
    """A timestamp signer whose clock may be given: links minted "at" a moment (tests, the clock of the app)."""

    def __init__(self, *args: object, at: datetime.datetime | None = None, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._at = at

    def get_timestamp(self) -> int:
        return int(self._at.timestamp()) if self._at is not None else super().get_timestamp()


def _serializer(secret: unsubscribe.Secret, salt: str, at: datetime.datetime | None = None) -> itsdangerous.URLSafeTimedSerializer:
    keys = [secret] if isinstance(secret, (str, bytes)) else list(secret)
    if not keys or not all(keys):
        raise ValueError("a signing secret is required")
    return itsdangerous.URLSafeTimedSerializer(keys, salt=salt, signer=_IssuedAt, signer_kwargs={"at": at})


def make_token(secret: unsubscribe.Secret, uscc: str, at: datetime.datetime | None = None) -> str:
    """A URL-safe token for the page of firm `uscc`, issued `at` (default now)."""
    if not uscc:
        raise ValueError("uscc is required")
    return _serializer(secret, SALT, at).dumps([uscc])


def read_token(
    secret: unsubscribe.Secret, token: str, now: datetime.datetime, lifetime: datetime.timedelta
) -> tuple[str, datetime.datetime]:
    """``(uscc, issued_at)`` of a token made by us and not older than `lifetime` at `now`.

    Raises :class:`ExpiredLink` for an old one, :class:`InvalidLink` for anything not ours. (Revocation
    is the caller's: it compares `issued_at` with the firm's stored revocation time.)
    """
    try:
        payload, issued = _serializer(secret, SALT).loads(token, return_timestamp=True)
    except itsdangerous.BadData as exc:
        raise InvalidLink("the link is invalid or has been altered") from exc
    if not isinstance(payload, list) or len(payload) != 1 or not isinstance(payload[0], str) or not payload[0]:
        raise InvalidLink("the link carries an unexpected payload")
    if now - issued > lifetime:
        raise ExpiredLink(f"the link was issued on {issued.isoformat()} and has expired")
    return payload[0], issued


def revoked(issued_at: datetime.datetime, revoked_before: datetime.datetime | None) -> bool:
    """Whether a link issued at `issued_at` falls under a revocation at `revoked_before`. Issue times are
    whole seconds, so a link of the very second of the revocation is refused too (better one link too many
    refused than one meant to be dead still working)."""
    return revoked_before is not None and issued_at <= revoked_before


def form_token(secret: unsubscribe.Secret, token: str) -> str:
    """The token the page's forms carry (CSRF): bound to this link, made only by this service."""
    return _serializer(secret, FORM_SALT).dumps(token)


def form_token_valid(secret: unsubscribe.Secret, token: str, given: object, max_age: datetime.timedelta) -> bool:
    """Whether `given` is a form token this service made for the link `token`, within `max_age`."""
    if not isinstance(given, str) or not given:
        return False
    try:
        bound = _serializer(secret, FORM_SALT).loads(given, max_age=int(max_age.total_seconds()))
    except itsdangerous.BadData:
        return False
    return bound == token


def _short_mac(secret: unsubscribe.Secret, body: str) -> str:
    key = secret if isinstance(secret, (str, bytes)) else list(secret)[0]
    raw = key.encode() if isinstance(key, str) else key
    digest = hmac.new(raw, SHORT_SALT + b"|" + body.encode(), hashlib.sha256).digest()
    return base64.b32encode(digest).decode()[:SHORT_MAC_CHARS]


def _base36(number: int) -> str:
    digits = ""
    while number:
        number, rest = divmod(number, 36)
        digits = _BASE36[rest] + digits
    return digits.rjust(SHORT_TIME_CHARS, "0")


def make_short_token(secret: unsubscribe.Secret, uscc: str, at: datetime.datetime | None = None) -> str:
    """A short token for an SMS (33 characters: the USCC, the minute of issue, a signature), opening the same
    page as :func:`make_token`. It expires and is revoked like the long one, counted from the minute issued."""
    if not uscc or not re.fullmatch(r"[0-9A-Z]{18}", uscc):
        raise ValueError("a short link needs an 18-character USCC")
    minutes = int((at or datetime.datetime.now(datetime.UTC)).timestamp() // 60)
    body = uscc + _base36(minutes)
    return body + _short_mac(secret, body)


def read_short_token(
    secret: unsubscribe.Secret, token: str, now: datetime.datetime, lifetime: datetime.timedelta
) -> tuple[str, datetime.datetime]:
    """``(uscc, issued_at)`` of a short token made by us (with any of the secrets, the newest first) and not
    older than `lifetime`; raises like :func:`read_token`."""
    found = _SHORT.match(token)
    if found is None:
        raise InvalidLink("the link is invalid or has been altered")
    uscc, stamp, mac = found.groups()
    keys = [secret] if isinstance(secret, (str, bytes)) else list(secret)
    if not any(hmac.compare_digest(_short_mac(key, uscc + stamp), mac) for key in keys):
        raise InvalidLink("the link is invalid or has been altered")
    issued = datetime.datetime.fromtimestamp(int(stamp, 36) * 60, datetime.UTC)
    if now - issued > lifetime:
        raise ExpiredLink(f"the link was issued on {issued.isoformat()} and has expired")
    return uscc, issued


def short_url(base_url: str, token: str) -> str:
    """``{base_url}/m/{token}``: the link an SMS carries (it forwards to the page)."""
    return f"{base_url.rstrip('/')}/m/{token}"


def page_url(base_url: str, token: str) -> str:
    """``{base_url}/my/{token}`` (one trailing slash of ``base_url`` tolerated)."""
    return f"{base_url.rstrip('/')}/my/{token}"
