"""Life cycle of a notice, with the one function allowed to change it."""

from __future__ import annotations

import enum


class NoticeStatus(str, enum.Enum):
    """Where a notice is on its way to the firm."""

    #: Created with the `met` decision that entitles it; due for sending at `next_attempt_at`.
    PENDING = "pending"
    #: Waiting for an allowed time: SMS quiet hours, a provider's flow control, a rate limit.
    DEFERRED = "deferred"
    #: Claimed by a worker; an attempt is in flight (the lease says until when).
    SENDING = "sending"
    #: An attempt failed transiently; another follows after back-off.
    FAILED = "failed"
    #: The provider accepted it; a delivery receipt may follow.
    SENT = "sent"
    #: The provider reported it arrived.
    DELIVERED = "delivered"
    #: The provider reported it did not arrive.
    UNDELIVERED = "undelivered"
    #: Given up: a permanent refusal, retries exhausted, or an SMS interrupted mid-send (never re-sent blindly).
    DEAD = "dead"
    #: Never sent, by rule: the firm opted out of the channel, or the benefit stopped applying before it
    #: could be sent. The reason is kept; this is final.
    SKIPPED = "skipped"
    #: Not sendable yet: no address or no consent on file for the channel. Sent when a later contact event
    #: brings them, as long as the benefit is still current; never silently final.
    WAITING = "waiting"
    #: Recorded but not pushed: the benefit's window closed long before the decision was recorded (a bulk
    #: import of old events), or before the notice could be sent. Sent only if an operator releases it.
    HELD = "held"


S = NoticeStatus

_ALLOWED: dict[NoticeStatus, frozenset[NoticeStatus]] = {
    S.PENDING: frozenset({S.SENDING, S.DEFERRED, S.SKIPPED}),
    S.DEFERRED: frozenset({S.SENDING, S.SKIPPED}),
    # PENDING: a claim released unsent (the worker is stopping before it tried this one). HELD: it fell
    # due only long after its benefit's window closed.
    S.SENDING: frozenset({S.SENT, S.FAILED, S.DEFERRED, S.DEAD, S.SKIPPED, S.WAITING, S.PENDING, S.HELD}),
    S.FAILED: frozenset({S.SENDING, S.DEAD, S.SKIPPED}),
    S.SENT: frozenset({S.DELIVERED, S.UNDELIVERED}),
    S.DELIVERED: frozenset(),
    # A receipt for an SMS we declared dead after a crash proves it went out.
    S.DEAD: frozenset({S.PENDING, S.DELIVERED, S.UNDELIVERED}),
    S.UNDELIVERED: frozenset({S.PENDING}),
    S.SKIPPED: frozenset(),
    # PENDING: the address or consent arrived; SKIPPED: the benefit stopped applying meanwhile.
    # HELD: by then the benefit's window had long closed.
    S.WAITING: frozenset({S.PENDING, S.SKIPPED, S.HELD}),
    # PENDING: an operator released it.
    S.HELD: frozenset({S.PENDING}),
}

#: States a worker picks up when they fall due.
DUE = frozenset({S.PENDING, S.DEFERRED, S.FAILED})
#: States an operator may requeue (`policy-push notices retry`).
RETRYABLE_BY_OPERATOR = frozenset({S.DEAD, S.UNDELIVERED})
#: States an operator may release for sending (`policy-push notices release`).
RELEASABLE_BY_OPERATOR = frozenset({S.HELD})


class IllegalTransition(RuntimeError):
    """A status change the life cycle does not allow."""


def check_transition(current: NoticeStatus | str, new: NoticeStatus | str) -> NoticeStatus:
    """Return `new`, or raise IllegalTransition if `current` may not become it."""
    current, new = NoticeStatus(current), NoticeStatus(new)
    if new not in _ALLOWED[current]:
        raise IllegalTransition(f"notice status {current.value} -> {new.value} is not allowed")
    return new
