"""The interface between the notice worker and the delivery channels (email, SMS).

Each channel has the real connector (connectors/email.py, connectors/sms.py), a file connector
for the embedded default (writes `.eml` / `.sms.json` under ./var/outbox), and an in-memory one
that records what it sent, for tests.
"""

from __future__ import annotations

import dataclasses
import enum
import math
from collections.abc import Mapping
from typing import Any, Protocol

#: One SMS holds 70 characters (UCS-2); longer texts go out as parts of 67 (the rest is the join header).
SMS_SINGLE_CHARS = 70
SMS_PART_CHARS = 67


def sms_segments(text: str) -> int:
    """Billed SMS parts of `text` as the recipient sees it (the 【signature】 counts): ≤70 characters is
    one, else ceil(n / 67). Counted in UTF-16 code units, as sent: a rare character outside the BMP,
    as in some firm names, takes two."""
    units = len(text.encode("utf-16-le")) // 2
    return 1 if units <= SMS_SINGLE_CHARS else math.ceil(units / SMS_PART_CHARS)


class Outcome(str, enum.Enum):
    """What a send attempt means for the notice."""

    #: The provider accepted the message (SMS: a BizId; email: the server's 250).
    SENT = "sent"
    #: A transient fault (timeouts, 4xx SMTP replies, provider system errors): try again with back-off.
    RETRY = "retry"
    #: The provider asks us to slow down or wait (flow control): try again later without counting a failure.
    DEFERRED = "deferred"
    #: A permanent refusal (bad number, 5xx SMTP reply, rejected template): do not try again.
    DEAD = "dead"


@dataclasses.dataclass(frozen=True)
class SendResult:
    """A connector's report of one attempt, kept with the notice for audit."""

    outcome: Outcome
    #: The provider's id for the message (SMS BizId, SMTP queue id / Message-ID), when it gave one.
    provider_id: str | None = None
    #: The provider's raw answer (decoded JSON, or the SMTP reply as text).
    response: Mapping[str, Any] | str | None = None
    #: Human-readable reason for RETRY / DEFERRED / DEAD.
    reason: str | None = None
    #: Seconds the provider asked us to wait, if it said.
    retry_after: float | None = None
    #: The request may have reached the provider although no answer came (a timeout after sending):
    #: a channel that must not repeat itself (SMS) treats this as "do not resend blindly".
    ambiguous: bool = False


@dataclasses.dataclass(frozen=True)
class EmailMessage:
    """A rendered email notice."""

    notice_id: str
    to: str
    subject: str
    text: str
    html: str
    #: Extra headers: List-Unsubscribe, List-Unsubscribe-Post, X-Notice-Id …
    headers: Mapping[str, str] = dataclasses.field(default_factory=dict)
    #: Message-ID without angle brackets; stable per notice so a retry is recognisable downstream.
    message_id: str = ""


@dataclasses.dataclass(frozen=True)
class SmsMessage:
    """A rendered SMS notice: providers send only reviewed templates, so code + params travel; the
    rendered text is kept for audit and segment counting."""

    notice_id: str
    phone: str  # E.164, e.g. +8613800138000
    sign_name: str
    template_code: str
    params: Mapping[str, str]
    text: str
    #: Echoed back in delivery receipts (Aliyun OutId).
    out_id: str = ""


class EmailSender(Protocol):
    """Sends email notices; `open`/`close` bracket a connection that is reused across sends."""

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def send(self, message: EmailMessage) -> SendResult: ...


class SmsSender(Protocol):
    """Sends SMS notices through a provider."""

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def send(self, message: SmsMessage) -> SendResult: ...
