"""Why a claimed notice is not sent now, and which waiting notices a contact change wakes.

A notice due to go out may still be kept back: SKIPPED for good (the benefit no longer applies, the
firm opted out of the channel, or its SMS choice refuses this benefit), WAITING for an address or
consent a later `contact.updated` mends, or HELD when it fell due long after its benefit's window
closed. Kept apart from engine.notices.notice_rules (which notices a decision creates, and the one
status writer these rules call) because they answer another question: not what a notice is, but
whether the firm may be told now. Pure functions, used by the delivery worker, the firm's page and
both stores.
"""

from __future__ import annotations

import datetime
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

from engine import audit
from engine.core import matching, notice_status, records
from engine.notices import notice_rules, outbox

#: The profile fields a `contact.updated` event sets: where a firm may be told, and whether it agreed.
CONTACT_PREFIX = "contact."
#: Why a notice is skipped when the firm's latest decision on its clause is no longer `met`.
NO_LONGER_APPLIES = "the benefit no longer applies to the firm"


def contact_gap(channel: str, fields: Mapping[str, Any]) -> str | None:
    """Why the firm cannot be told on `channel` yet: no address, or no consent on file (None if it can).

    Both are mended by a later `contact.updated`, so a notice held up by either waits (WAITING) for
    it rather than being skipped: a firm's contact often arrives after the events that qualify it.
    """
    address = fields.get("contact.mobile" if channel == "sms" else "contact.email")
    if not address:
        return f"no {'mobile number' if channel == 'sms' else 'email address'} on file"
    if fields.get(f"contact.consent.{channel}") is not True:
        return f"the firm has not consented to {channel} notices"
    return None


def opt_out_reason(channel: str, stamps: Mapping[str, Any], opted_out: Mapping[str, datetime.datetime]) -> str | None:
    """Why the firm refuses `channel` (an SMS reply T, the unsubscribe link), or None. The refusal stands
    until a `contact.updated` that occurred after it gives consent for the channel again."""
    refused = opted_out.get(channel)
    if refused is None:
        return None
    consent_stamp = stamps.get(f"contact.consent.{channel}")
    if consent_stamp is not None and datetime.datetime.fromisoformat(consent_stamp[0]) > refused:
        return None
    return f"the firm opted out of {channel} on {refused.isoformat()}"


#: Why an SMS notice of a benefit the firm must apply for (or is told of) is skipped for a firm that chose grants only.
GRANTS_ONLY = "the firm chose SMS for automatic grants only (its page); this benefit is not one"


def preference_refusal(channel: str, preference: str, clause_id: str, auto_grants: Collection[str]) -> str | None:
    """Why the firm's choice on its page keeps this notice off `channel`, or None. Only SMS has a choice
    besides the opt-out: with SMS_GRANTS_ONLY an SMS goes out only for a clause granted automatically
    (`auto_grants`, the catalogue's auto_grant clause ids); email is never affected."""
    if channel == "sms" and preference == outbox.SMS_GRANTS_ONLY and clause_id not in auto_grants:
        return GRANTS_ONLY
    return None


def sms_choice(preference: str, refusal: str | None) -> str:
    """The SMS choice in force, as the firm's page shows it: SMS_NONE while an SMS opt-out stands (a reply
    T, or the page), whatever was chosen before; a SMS_NONE whose opt-out a later consent lifted is SMS_ALL."""
    if refusal is not None:
        return outbox.SMS_NONE
    return outbox.SMS_ALL if preference == outbox.SMS_NONE else preference


def preference_audit(uscc: str, preference: str, actor: str) -> audit.Draft:
    """The audit entry for a firm's SMS choice."""
    if preference not in outbox.SMS_PREFERENCES:
        raise ValueError(f"unknown SMS preference {preference!r}; expected one of {outbox.SMS_PREFERENCES}")
    return audit.Draft(actor=actor, action="firm.sms_preference", subject_type="firm", subject_id=uscc,
                       payload={"sms": preference})


def still_applies(clause_id: str, decisions: Sequence[records.StoredDecision]) -> bool:
    """Whether the firm's latest stored decision on the clause (`decisions` in the order stored) is still
    `met`: the data may have changed since the notice was created, and a notice must not tell the firm
    of a benefit it no longer has."""
    latest = next((stored.decision for stored in reversed(decisions) if stored.decision.clause_id == clause_id), None)
    return latest is None or latest.status == matching.Verdict.MET


def not_now(
    notice: outbox.NoticeRecord,
    fields: Mapping[str, Any],
    stamps: Mapping[str, Any],
    opted_out: Mapping[str, datetime.datetime],
    decisions: Sequence[records.StoredDecision],
    sms_preference: str = outbox.SMS_ALL,
    auto_grants: Collection[str] = frozenset(),
) -> outbox.Transition | None:
    """Why a claimed notice is not sent now, as the change to make instead; None to send it.

    SKIPPED, final, when the benefit no longer applies, the firm opted out of the channel, or the firm
    chose SMS for automatic grants only and this clause is not in `auto_grants` (preference_refusal); WAITING
    when the address or consent is missing, which a later contact event mends (see `woken`; the
    store then writes it with `waiting`, which looks at the contact once more).
    """
    if not still_applies(notice.clause_id, decisions):
        return outbox.Transition(notice_status.NoticeStatus.SKIPPED, "skip", "no_longer_met", reason=NO_LONGER_APPLIES)
    if (gap := contact_gap(notice.channel, fields)) is not None:
        return outbox.Transition(notice_status.NoticeStatus.WAITING, "wait", "waiting", reason=gap)
    if (refusal := opt_out_reason(notice.channel, stamps, opted_out)) is not None:
        return outbox.Transition(notice_status.NoticeStatus.SKIPPED, "skip", "skipped", reason=refusal)
    if (refusal := preference_refusal(notice.channel, sms_preference, notice.clause_id, auto_grants)) is not None:
        return outbox.Transition(notice_status.NoticeStatus.SKIPPED, "skip", "preference", reason=refusal)
    return None


#: The reason on the timeline entry of a claim a stopping worker hands back unsent (kind "release", as an
#: operator's release has; only the reason tells them apart).
WORKER_STOPPING = "worker stopping"


def released_by_operator(attempts: Iterable[outbox.AttemptRecord]) -> bool:
    """Whether a notice's timeline holds an operator's release (of a held notice)."""
    return any(attempt.kind == "release" and attempt.reason != WORKER_STOPPING for attempt in attempts)


#: Why a notice that falls due long after its benefit's window closed is held instead of sent.
CLOSED_BEFORE_SENT = "the benefit's window closed long before the notice could be sent; an operator may release it"


def closed_when_due(
    notice: outbox.NoticeRecord, hold_before: datetime.date | None, attempts: Sequence[outbox.AttemptRecord] | None
) -> outbox.Transition | None:
    """HELD for a claimed notice whose benefit's window closed before `hold_before` (see notice_rules.held): recorded in
    time, it fell due only after pushing it stopped being right (a provider down for days, a stopped
    worker). None to send it, and always None once an operator released it (its timeline, `attempts`,
    holds a release; the worker reads the timeline only for a notice `held` finds stale)."""
    if not notice_rules.held(notice, hold_before) or released_by_operator(attempts or ()):
        return None
    return outbox.Transition(notice_status.NoticeStatus.HELD, "hold", "held", reason=CLOSED_BEFORE_SENT)


def _contact_arrived(now: datetime.datetime) -> outbox.Transition:
    return outbox.Transition(
        notice_status.NoticeStatus.PENDING, "contact", "contact_arrived",
        reason="the address and consent for the channel arrived", next_attempt_at=now,
    )


def waiting(
    notice: outbox.NoticeRecord, fields: Mapping[str, Any], now: datetime.datetime, *, lease: datetime.datetime | None
) -> notice_rules.Transitioned:
    """A claimed notice its worker found without an address or consent, judged again on the firm's
    `fields` as read in the same transaction as this write: WAITING with the reason.

    If the contact arrived meanwhile, PENDING and due now instead: the fold that brought it looked for
    waiting notices before this one was waiting, so nothing else would ever wake it. (The store reads
    the firm so that a fold of it in progress has either committed or not started.)
    """
    gap = contact_gap(notice.channel, fields)
    change = (
        _contact_arrived(now) if gap is None
        else outbox.Transition(notice_status.NoticeStatus.WAITING, "wait", "waiting", reason=gap)
    )
    return notice_rules.transition(notice, change, now, expect=notice_status.NoticeStatus.SENDING, lease=lease)


def contact_changed(changed_fields: Iterable[str]) -> bool:
    """Whether a fold that changed these profile fields may wake waiting notices (see `woken`)."""
    return any(field.startswith(CONTACT_PREFIX) for field in changed_fields)


def woken(
    waiting_notices: Sequence[outbox.NoticeRecord], fields: Mapping[str, Any], now: datetime.datetime,
    hold_before: datetime.date | None = None,
) -> list[notice_rules.Transitioned]:
    """The firm's waiting notices a change of its contact wakes, given its `fields` after the fold: each
    whose channel now has an address and consent goes back to PENDING, due now (timeline kind
    "contact"), unless its benefit's window closed before `hold_before` (see notice_rules.held): that one is HELD
    for an operator, as a stale notice is when recorded. The worker judges a woken one again before
    sending (the benefit may have ended, the firm may have opted out); one whose channel still lacks
    an address or consent keeps waiting, untouched."""
    return [
        notice_rules.transition(notice, _held_on_waking(now) if notice_rules.held(notice, hold_before) else _contact_arrived(now),
                                now, expect=notice_status.NoticeStatus.WAITING)
        for notice in waiting_notices
        if notice.status == notice_status.NoticeStatus.WAITING and contact_gap(notice.channel, fields) is None
    ]


def _held_on_waking(now: datetime.datetime) -> outbox.Transition:
    return outbox.Transition(
        notice_status.NoticeStatus.HELD, "contact", "held",
        reason="the address and consent arrived long after the benefit's window closed; an operator may release it",
    )
