"""The notice rules, written once: which notices a decision creates, claiming one, and every
status change with its timeline entry and audit entry. Why a claimed notice is not sent now, and
which waiting notices a contact change wakes, are engine.notices.withholding's.

Pure functions over `outbox.NoticeRecord`s; the SQL store and the in-memory one only load the
record, call these, and save what they return.
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from engine import audit
from engine.audit import summaries
from engine.core import matching, money, notice_status
from engine.notices import outbox


def notice_keys(decision: matching.Decision) -> tuple[tuple[str, str], ...]:
    """(channel, period) of the notices a stored decision may create: one per channel for a `met` with a
    period, by email always and by SMS only for a concrete benefit (`Decision.by_sms`)."""
    return notice_keys_of(decision.status, decision.amount, decision.period, decision.by_sms)


# Cached: recording a backfill's batch asks it several times for each of ~19 decisions a firm, and a
# batch's decisions share a few dozen outcomes.
@functools.lru_cache(maxsize=4096)
def notice_keys_of(
    status: matching.Verdict, amount: float | None, period: str | None, by_sms: bool = True
) -> tuple[tuple[str, str], ...]:
    """:func:`notice_keys` from a decision's status, amount, period and whether it goes by SMS."""
    if status != matching.Verdict.MET or period is None:
        return ()
    if amount is not None and money.rounded(amount) <= 0:
        return ()  # a computed benefit of nothing (a yearly cap already used up) is not worth a message
    return tuple((channel, period) for channel in outbox.CHANNELS if by_sms or channel != "sms")


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


def held(decision: matching.Decision | outbox.NoticeRecord, hold_before: datetime.date | None) -> bool:
    """Whether a decision's notices are recorded but not pushed (or a notice waiting for a contact is not
    pushed when the contact comes): its benefit's window closed before `hold_before` (today less the
    allowance, POLICY_PUSH_STALE_AFTER_DAYS), as when a bulk import of old events finds benefits long
    gone. An operator may release them."""
    return decision.closes is not None and hold_before is not None and decision.closes < hold_before


def new_notices(
    stored: Sequence[tuple[str, int, matching.Decision]],
    told: Mapping[outbox.BenefitKey, outbox.Told],
    now: datetime.datetime,
    hold_before: datetime.date | None = None,
    due: Mapping[tuple[str, str], datetime.datetime] | None = None,
) -> list[outbox.NoticeRecord]:
    """The notices newly stored decisions ((firm, decision id, decision) each, in the order stored)
    create, given what each firm was told before (`told`, per firm, clause, channel and period; see
    :func:`told_of`): due now, or HELD when :func:`held`. Decisions of one firm and clause in one call
    build on each other (two purchases folded together are two grants). `due` gives, per (firm, channel),
    when the new notices fall due (their digest window, see :func:`digest_due`); absent, at once."""
    told = dict(told)
    due = due or {}
    ids = outbox.notice_ids()
    created = []
    for uscc, decision_id, decision in stored:
        for channel, period in notice_keys(decision):
            key = (uscc, decision.clause_id, channel, period)
            said = announcement(decision.amount, decision.cumulative, told.get(key))
            if said is None:
                continue
            status = notice_status.NoticeStatus.HELD if held(decision, hold_before) else notice_status.NoticeStatus.PENDING
            record = outbox.NoticeRecord(
                notice_id=next(ids), uscc=uscc, clause_id=decision.clause_id, channel=channel,
                period=period, decision_id=decision_id, status=status, attempts=0,
                next_attempt_at=due.get((uscc, channel), now), lease_until=None, provider_id=None, message=None, reason=None,
                created_at=now, updated_at=now, kind=said.kind, revision=said.revision, amount=said.amount,
                previous_amount=said.previous_amount, previous_decision_id=said.previous_decision_id,
                closes=decision.closes,
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


def notice_member(notice: outbox.NoticeRecord | Any) -> dict[str, Any]:
    """A created notice (anything with the fields of a NoticeRecord it names) as a backfill batch's audit
    summary covers it (engine.audit.summaries)."""
    return summaries.notice_member(notice.notice_id, notice.uscc, notice.clause_id, notice.channel, notice.period,
                                   notice.decision_id, notice.kind, notice.revision, notice.amount, notice.previous_amount)


def _value(status: Any) -> str:
    return status.value if isinstance(status, notice_status.NoticeStatus) else str(status)


def claimed(
    notice: outbox.NoticeRecord, now: datetime.datetime, lease: datetime.timedelta, digest_id: str | None = None
) -> outbox.NoticeRecord:
    """A due notice claimed by a worker: SENDING until the lease runs out, in digest `digest_id`."""
    return dataclasses.replace(
        notice, status=notice_status.check_transition(notice.status, notice_status.NoticeStatus.SENDING),
        lease_until=now + lease, updated_at=now, digest_id=digest_id or notice.digest_id,
    )


# Digests: one message per firm and channel for everything due together ------------------------------

def digest_due(first_created: datetime.datetime, now: datetime.datetime, window: outbox.DigestWindow | None) -> datetime.datetime:
    """When a firm's undigested notices on a channel fall due, the newest created `now` and the oldest at
    `first_created`: once `window.quiet` passes with nothing new, but no later than `window.longest`
    after the first (a firm newly eligible for many clauses hears once, and soon). At once without a window."""
    if window is None:
        return now
    return max(now, min(now + window.quiet, first_created + window.longest))


def digest_schedule(
    waiting_since: Mapping[tuple[str, str], datetime.datetime],
    created: Iterable[tuple[str, str]],
    now: datetime.datetime,
    window: outbox.DigestWindow | None,
) -> dict[tuple[str, str], datetime.datetime]:
    """Per (firm, channel) getting new notices now (`created`), when all its undigested pending notices fall
    due, given since when the oldest of those already stored has waited (`waiting_since`)."""
    return {key: digest_due(waiting_since.get(key, now), now, window) for key in set(created)}


def digest_members(due: outbox.NoticeRecord, pool: Iterable[outbox.NoticeRecord]) -> outbox.Digest:
    """The notices that go out with `due` (a notice falling due), from `pool` (the firm's notices on the
    channel in a state a worker picks up): a digest already handed to the provider goes again as it was
    (the same notices, the same words, the same Message-ID); otherwise every notice of the firm on the
    channel not yet in a digest goes with it, due or not yet (sooner is no more messages). In `pool`'s
    order, so the first (the digest's id) is the same whoever claims it."""
    return [
        n for n in pool
        if n.status in notice_status.DUE and n.uscc == due.uscc and n.channel == due.channel and n.digest_id == due.digest_id
    ]


def claimed_digest(members: Sequence[outbox.NoticeRecord], now: datetime.datetime, lease: datetime.timedelta) -> outbox.Digest:
    """A digest's notices claimed together under one lease; the digest's id is its first notice's."""
    digest_id = members[0].digest_id or members[0].notice_id
    return [claimed(n, now, lease, digest_id) for n in members]


def digest_transitions(
    digest: Sequence[outbox.NoticeRecord],
    change: outbox.Transition,
    now: datetime.datetime,
    *,
    expect: notice_status.NoticeStatus | None = None,
    lease: datetime.datetime | None = None,
) -> list[Transitioned]:
    """One change for every notice of a digest (see :func:`transition`); the message sent is kept on the
    first notice only (a retry finds it there), not once per notice."""
    return [
        transition(notice, change if index == 0 else dataclasses.replace(change, message=None), now, expect=expect, lease=lease)
        for index, notice in enumerate(digest)
    ]


def batch_transitions(
    current: Mapping[str, outbox.NoticeRecord],
    changes: Sequence[outbox.DigestChange],
    now: datetime.datetime,
    *,
    expect: notice_status.NoticeStatus | None = None,
) -> list[list[Transitioned] | notice_status.IllegalTransition]:
    """:func:`digest_transitions` for many digests (their notices as stored now in `current`, by id), each on its
    own: per digest its changes, or the IllegalTransition that refuses it (lease lost, state moved on)."""
    done: list[list[Transitioned] | notice_status.IllegalTransition] = []
    for item in changes:
        try:
            done.append(digest_transitions([current[n.notice_id] for n in item.digest], item.change, now, expect=expect, lease=item.lease))
        except notice_status.IllegalTransition as exc:
            done.append(exc)
    return done


def handed_over(notice: outbox.NoticeRecord) -> bool:
    """Whether a notice was (or may have been) handed to its provider: attempted, or recovered after an
    interrupted send."""
    return notice.attempts > 0 or notice.message is not None or notice.status is notice_status.NoticeStatus.FAILED


#: Kinds of status change after which a notice stays in its digest: it was (or may have been) handed to the
#: provider, so a retry, a receipt or an operator's requeue concern the same message. After any other (skipped,
#: waiting, deferred for quiet hours, released unsent, unrenderable) it was never sent: it leaves its digest
#: and goes out with the next one.
KEEPS_DIGEST = frozenset({"send", "recover", "receipt", "operator"})  # and any change of a notice handed_over


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
        # The words first sent are the words every retry sends (a digest's are kept on its first notice).
        message=notice.message if notice.message is not None else change.message,
    )
    if change.kind not in KEEPS_DIGEST and not handed_over(notice):
        # Never handed over: it leaves its digest and goes out with the next one.
        updated = dataclasses.replace(updated, digest_id=None)
    attempt = outbox.AttemptRecord(
        notice.notice_id, change.kind, change.outcome, change.new_status, change.provider_id, change.response, change.reason, now
    )
    entry = notice_audit(notice.notice_id, f"notice.{change.new_status.value}", change.kind, {
        "from": notice.status.value, "outcome": change.outcome, "reason": change.reason, "provider_id": change.provider_id})
    return Transitioned(updated, attempt, entry)
