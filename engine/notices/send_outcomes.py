"""What a provider's answer, or a send cut short, makes of a digest: the status change to write.

These rules carry the delivery semantics the worker's module docstring sets out (engine.notices.worker):
an email is sent at least once (again, under the same Message-ID, after an interruption or an
ambiguous answer), an SMS at most once (declared dead rather than risk a second text; the provider's
receipt settles it). Pure functions of the answer, the digest's attempts, the time and the back-off,
kept apart from the worker, which claims, judges and sends, so the table of outcomes reads in one place.
"""

from __future__ import annotations

import datetime
from typing import Any

from engine import constants
from engine.core import notice_status
from engine.notices import channels, outbox, pacing

S = notice_status.NoticeStatus


def interrupted(channel: str, now: datetime.datetime) -> outbox.Transition:
    """What a send interrupted at `now` (its worker died holding the claim) becomes: an SMS dead (never
    re-sent blind), an email due again at once."""
    if channel == "sms":
        return outbox.Transition(
            S.DEAD, "recover", "interrupted",
            reason="interrupted while sending; not re-sent to avoid a duplicate SMS (a receipt will settle it)",
        )
    return outbox.Transition(
        S.FAILED, "recover", "interrupted", next_attempt_at=now,
        reason="interrupted while sending; will be sent again with the same Message-ID",
    )


def after_send(
    digest: outbox.Digest, result: channels.SendResult, message: dict[str, Any], now: datetime.datetime, backoff: pacing.Backoff
) -> outbox.Transition:
    """The change the provider's answer `result` calls for, for a digest whose `message` (as stored, so a
    retry sends the same words) was handed over at `now`: SENT; DEAD when refused for good, when an SMS's
    fate is unknown, or once `backoff` allows no further attempt; DEFERRED when the provider asks to wait
    (not counted as an attempt); otherwise FAILED, due again after the back-off."""
    notice = digest[0]
    common = {"kind": "send", "outcome": result.outcome.value, "provider_id": result.provider_id,
              "response": result.response, "message": message, "counts_attempt": True}
    if result.outcome is channels.Outcome.SENT:
        return outbox.Transition(S.SENT, **common)
    if result.outcome is channels.Outcome.DEAD:
        return outbox.Transition(S.DEAD, reason=result.reason, **common)
    if result.ambiguous and notice.channel == "sms":
        # The provider may have sent it: never risk a second SMS; its receipt (OutId) will settle it.
        return outbox.Transition(S.DEAD, reason=f"{result.reason}; not re-sent to avoid a duplicate SMS", **common)
    if result.outcome is channels.Outcome.DEFERRED:
        wait = datetime.timedelta(seconds=result.retry_after or constants.NOTICE_DEFER_SECONDS)
        return outbox.Transition(S.DEFERRED, reason=result.reason, next_attempt_at=now + wait, **{**common, "counts_attempt": False})
    attempts = max(n.attempts for n in digest)
    if attempts + 1 >= backoff.limit:
        return outbox.Transition(S.DEAD, reason=f"gave up after {attempts + 1} attempts: {result.reason}", **common)
    return outbox.Transition(S.FAILED, reason=result.reason, next_attempt_at=now + backoff.delay(attempts + 1), **common)
