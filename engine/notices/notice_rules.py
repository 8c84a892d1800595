"""The notice rules, written once: which notices a decision creates, claiming one, and every
status change with its timeline entry and audit entry.

Pure functions over `outbox.NoticeRecord`s; the SQL store and the in-memory one only load the
record, call these, and save what they return.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from engine import audit
from engine.core import matching, money, notice_status
from engine.notices import outbox


def notice_keys(decision: matching.Decision) -> list[tuple[str, str]]:
    """(channel, period) of the notices a stored decision may create: one per channel for a `met` with a period."""
    return notice_keys_of(decision.status, decision.amount, decision.period)


def notice_keys_of(status: matching.Verdict, amount: float | None, period: str | None) -> list[tuple[str, str]]:
    """:func:`notice_keys` from a decision's status, amount and period."""
    if status != matching.Verdict.MET or period is None:
        return []
    if amount is not None and money.rounded(amount) <= 0:
        return []  # a computed benefit of nothing (a yearly cap already used up) is not worth a message
    return [(channel, period) for channel in outbox.CHANNELS]


@dataclasses.dataclass(frozen=True)
class Announcement:
    """What a decision tells a firm on one channel, given what it was told before (see :func:`announcement`)."""

    kind: str
    revision: int
    amount: float | None
    previous_amount: float | None
    previous_decision_id: int | None


def announcement(amount: float | None, cumulative: bool, told: outbox.Told | None) -> Announcement | None:
    """What a `met` decision with a notice period (see :func:`notice_keys`) tells the firm on a channel.

    - Nothing told yet in the period: the benefit is NEW.
    - Under a cumulative cap every positive amount is a further grant: an ADDITION (追加) of that
      amount to the total told so far, equal grants included.
    - Otherwise an amount different from the one told (up or down) is an ADJUSTMENT (调整); the same
      amount again (a verdict that went away and came back) is nothing new to tell.
    """
    if told is None:
        return Announcement(outbox.NEW, 0, amount, None, None)
    if cumulative:
        return Announcement(outbox.ADDITION, told.revision + 1, amount, told.total, told.decision_id)
    if money.rounded(amount) == money.rounded(told.amount):
        return None
    return Announcement(outbox.ADJUSTMENT, told.revision + 1, amount, told.amount, told.decision_id)


def held(decision: matching.Decision, hold_before: datetime.date | None) -> bool:
    """Whether a decision's notices are recorded but not pushed: its benefit's window closed before
    `hold_before` (the recording date less the allowance, POLICY_PUSH_STALE_AFTER_DAYS), as when a
    bulk import of old events finds benefits long gone. An operator may release them."""
    return decision.closes is not None and hold_before is not None and decision.closes < hold_before


def new_notices(
    stored: Sequence[tuple[str, int, matching.Decision]],
    told: Mapping[outbox.BenefitKey, outbox.Told],
    now: datetime.datetime,
    hold_before: datetime.date | None = None,
) -> list[outbox.NoticeRecord]:
    """The notices newly stored decisions ((firm, decision id, decision) each, in the order stored)
    create, given what each firm was told before (`told`, per firm, clause, channel and period; see
    :func:`told_of`): due now, or HELD when :func:`held`. Decisions of one firm and clause in one call
    build on each other (two purchases folded together are two grants)."""
    told = dict(told)
    created = []
    for uscc, decision_id, decision in stored:
        for channel, period in notice_keys(decision):
            key = (uscc, decision.clause_id, channel, period)
            said = announcement(decision.amount, decision.cumulative, told.get(key))
            if said is None:
                continue
            status = notice_status.NoticeStatus.HELD if held(decision, hold_before) else notice_status.NoticeStatus.PENDING
            record = outbox.NoticeRecord(
                notice_id=outbox.new_notice_id(), uscc=uscc, clause_id=decision.clause_id, channel=channel,
                period=period, decision_id=decision_id, status=status, attempts=0,
                next_attempt_at=now, lease_until=None, provider_id=None, message=None, reason=None,
                created_at=now, updated_at=now, kind=said.kind, revision=said.revision, amount=said.amount,
                previous_amount=said.previous_amount, previous_decision_id=said.previous_decision_id,
            )
            created.append(record)
            told[key] = told_after(told.get(key), record)
    return created


def told_after(before: outbox.Told | None, notice: outbox.NoticeRecord | Any) -> outbox.Told:
    """What the firm has been told of a benefit once `notice` (anything with its revision, amount and
    decision_id) is added to `before`."""
    total = (before.total if before is not None else 0.0) + float(notice.amount or 0)
    return outbox.Told(notice.revision, notice.amount, total, notice.decision_id)


def told_of(notices: Iterable[Any]) -> dict[outbox.BenefitKey, outbox.Told]:
    """What firms were told, from their stored notices (anything with uscc, clause_id, channel, period,
    revision, amount and decision_id), per (firm, clause, channel, period)."""
    told: dict[outbox.BenefitKey, outbox.Told] = {}
    for notice in sorted(notices, key=lambda n: n.revision):
        key = (notice.uscc, notice.clause_id, notice.channel, notice.period)
        told[key] = told_after(told.get(key), notice)
    return told


def notice_audit(notice_id: str, action: str, actor: str, payload: Mapping[str, Any]) -> audit.Draft:
    """The audit entry for a notice's creation or state change."""
    return audit.Draft(actor=actor, action=action, subject_type="notice", subject_id=notice_id, payload=dict(payload))


def created_audit(notice: outbox.NoticeRecord | Any, actor: str) -> audit.Draft:
    """The audit entry for a created notice (anything with its notice_id, uscc, clause_id, channel, period
    and decision_id)."""
    return notice_audit(notice.notice_id, "notice.created", actor, {
        "uscc": notice.uscc, "clause_id": notice.clause_id, "channel": notice.channel,
        "period": notice.period, "decision_id": notice.decision_id, "kind": notice.kind, "revision": notice.revision,
        "amount": notice.amount, "previous_amount": notice.previous_amount, "status": _value(notice.status)})


def _value(status: Any) -> str:
    return status.value if isinstance(status, notice_status.NoticeStatus) else str(status)


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
