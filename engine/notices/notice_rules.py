"""The notice rules, written once: which notices a decision creates, claiming one, and every
status change with its timeline entry and audit entry.

Pure functions over `outbox.NoticeRecord`s; the SQL store and the in-memory one only load the
record, call these, and save what they return.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Mapping
from typing import Any

from engine import audit
from engine.core import matching, notice_status
from engine.notices import outbox


def notice_keys(decision: matching.Decision) -> list[tuple[str, str]]:
    """(channel, period) of the notices a stored decision creates: one per channel for a `met` with a period."""
    return notice_keys_of(decision.status, decision.amount, decision.period)


def notice_keys_of(status: matching.Verdict, amount: float | None, period: str | None) -> list[tuple[str, str]]:
    """:func:`notice_keys` from a decision's status, amount and period."""
    if status != matching.Verdict.MET or period is None:
        return []
    if amount is not None and amount <= 0:
        return []  # a computed benefit of nothing (a yearly cap already used up) is not worth a message
    return [(channel, period) for channel in outbox.CHANNELS]


def new_notices(uscc: str, decision_id: int, decision: matching.Decision, now: datetime.datetime) -> list[outbox.NoticeRecord]:
    """The notices a newly stored decision entitles (before the unique key (firm, clause, channel,
    period) drops those already announced), due now."""
    return [
        outbox.NoticeRecord(
            notice_id=outbox.new_notice_id(), uscc=uscc, clause_id=decision.clause_id, channel=channel,
            period=period, decision_id=decision_id, status=notice_status.NoticeStatus.PENDING, attempts=0,
            next_attempt_at=now, lease_until=None, provider_id=None, message=None, reason=None,
            created_at=now, updated_at=now,
        )
        for channel, period in notice_keys(decision)
    ]


def notice_audit(notice_id: str, action: str, actor: str, payload: Mapping[str, Any]) -> audit.Draft:
    """The audit entry for a notice's creation or state change."""
    return audit.Draft(actor=actor, action=action, subject_type="notice", subject_id=notice_id, payload=dict(payload))


def created_audit(notice: outbox.NoticeRecord | Any, actor: str) -> audit.Draft:
    """The audit entry for a created notice (anything with its notice_id, uscc, clause_id, channel, period
    and decision_id)."""
    return notice_audit(notice.notice_id, "notice.created", actor, {
        "uscc": notice.uscc, "clause_id": notice.clause_id, "channel": notice.channel,
        "period": notice.period, "decision_id": notice.decision_id})


def claimed(notice: outbox.NoticeRecord, now: datetime.datetime, lease: datetime.timedelta) -> outbox.NoticeRecord:
    """A due notice claimed by a worker: SENDING until the lease runs out."""
    return dataclasses.replace(
        notice, status=notice_status.check_transition(notice.status, notice_status.NoticeStatus.SENDING),
        lease_until=now + lease, updated_at=now,
    )


def claim_audit(notice_id: str, lease_until: datetime.datetime) -> audit.Draft:
    """The audit entry for a claim."""
    return notice_audit(notice_id, "notice.sending", "worker", {"lease_until": lease_until.isoformat()})


@dataclasses.dataclass(frozen=True)
class Transitioned:
    """What one status change writes: the notice as it now is, its timeline line and its audit entry."""

    notice: outbox.NoticeRecord
    attempt: outbox.AttemptRecord
    audit: audit.Draft


def transition(
    notice: outbox.NoticeRecord,
    change: outbox.Transition,
    now: datetime.datetime,
    *,
    expect: notice_status.NoticeStatus | None = None,
    lease: datetime.datetime | None = None,
) -> Transitioned:
    """Apply `change` to `notice` (the one write path for notice status; see NoticeStore.transition_notice).

    Raises IllegalTransition if the life cycle forbids it, if `expect` is given and the notice is in
    another state, or if `lease` is given and the notice no longer carries it (a worker whose lease
    ran out and was recovered by another must not write over the new owner).
    """
    if expect is not None and notice.status != expect:
        raise notice_status.IllegalTransition(f"notice {notice.notice_id} is {notice.status.value}, not {expect.value}")
    if lease is not None and notice.lease_until != lease:
        raise notice_status.IllegalTransition(f"notice {notice.notice_id}: the lease was lost to another worker")
    notice_status.check_transition(notice.status, change.new_status)
    updated = dataclasses.replace(
        notice,
        status=change.new_status,
        updated_at=now,
        reason=change.reason,
        lease_until=None,
        attempts=notice.attempts + int(change.counts_attempt),
        next_attempt_at=change.next_attempt_at or notice.next_attempt_at,
        provider_id=change.provider_id or notice.provider_id,
        # The words first sent are the words every retry sends.
        message=notice.message if notice.message is not None else change.message,
    )
    attempt = outbox.AttemptRecord(
        notice.notice_id, change.kind, change.outcome, change.new_status, change.provider_id, change.response, change.reason, now
    )
    entry = notice_audit(notice.notice_id, f"notice.{change.new_status.value}", change.kind, {
        "from": notice.status.value, "outcome": change.outcome, "reason": change.reason, "provider_id": change.provider_id})
    return Transitioned(updated, attempt, entry)
