"""The notice outbox: records, the storage interface for them, and the rules that create them.

A notice row is written in the same transaction as the `met` decision that entitles it, keyed
by (firm, clause, channel, period, revision), so a benefit is announced once per period whatever
happens to the events afterwards, and each later change of its amount in the period once more
(revision 1, 2, …: an addition under a cumulative cap, or an adjustment). *Period* is chosen by the
matcher from the clause's mode (engine.core.matching.period_for).
"""

from __future__ import annotations

import abc
import dataclasses
import datetime
import secrets
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from engine.core import china_time, notice_status, records, stores

CHANNELS = ("sms", "email")

#: What SMS a firm takes, as it chose on its page: every notice, notices of automatic grants only, or none
#: (the same as replying T: an opt-out of the channel).
SMS_ALL = "all"
SMS_GRANTS_ONLY = "grants_only"
SMS_NONE = "none"
SMS_PREFERENCES = (SMS_ALL, SMS_GRANTS_ONLY, SMS_NONE)

#: What a notice tells the firm: a benefit first announced in its period.
NEW = "new"
#: A further grant under a cumulative cap (追加): the amount is the new grant, `previous_amount` the total told before.
ADDITION = "addition"
#: A changed amount (调整): `amount` is the amount now, `previous_amount` the amount told before.
ADJUSTMENT = "adjustment"
KINDS = (NEW, ADDITION, ADJUSTMENT)


#: Random bytes in a notice id after its time (80 bits: unguessable, and no collision in any number we make).
_RANDOM_BYTES = 10


def new_notice_id() -> str:
    """A stable, unguessable id: it travels in Message-ID, OutId and receipts.

    It begins with the time in milliseconds, so ids made later sort later and the database's index of
    them grows at its end: with random ids a first backfill's ten million notices were inserted all over
    that index, one page read per notice once it outgrew the cache."""
    return _notice_id(secrets.token_bytes(_RANDOM_BYTES))


def notice_ids() -> Iterator[str]:
    """Ids like :func:`new_notice_id`'s, as many as are taken, the system's randomness drawn for 256 at a
    time: a system call per id was most of the cost of a notice in a backfill's batch."""
    while True:
        drawn = secrets.token_bytes(_RANDOM_BYTES * 256)
        for start in range(0, len(drawn), _RANDOM_BYTES):
            yield _notice_id(drawn[start:start + _RANDOM_BYTES])


def _notice_id(random: bytes) -> str:
    return f"ntc_{time.time_ns() // 1_000_000:012x}{random.hex()}"


@dataclasses.dataclass(frozen=True)
class NoticeRecord:
    """A notice as stored."""

    notice_id: str
    uscc: str
    clause_id: str
    channel: str
    period: str
    decision_id: int
    status: notice_status.NoticeStatus
    attempts: int
    next_attempt_at: datetime.datetime
    lease_until: datetime.datetime | None
    provider_id: str | None
    message: Mapping[str, Any] | None
    reason: str | None
    created_at: datetime.datetime
    updated_at: datetime.datetime
    #: NEW, ADDITION or ADJUSTMENT.
    kind: str = NEW
    #: 0 for the first notice of the benefit in its period, then one more per change of its amount.
    revision: int = 0
    #: The amount this notice announces (for an addition: the new grant), as the decision computed it.
    amount: float | None = None
    #: For an addition or adjustment: the amount told before (for an addition: the period's total so far).
    previous_amount: float | None = None
    #: For an addition or adjustment: the decision the notice before announced (what changed since).
    previous_decision_id: int | None = None
    #: The last day of the benefit's window (the decision's `closes`): a notice still waiting for a
    #: contact long after it is held when the contact comes, not pushed.
    closes: datetime.date | None = None
    #: The digest this notice goes out in (one message to the firm on the channel for everything due
    #: together), named after its first notice when claimed; the message's Message-ID and OutId. None until
    #: claimed, and again if it leaves the digest unsent (see notice_rules.KEEPS_DIGEST).
    digest_id: str | None = None


#: The notices of one digest (one message to one firm on one channel), in the order they were created.
Digest = list[NoticeRecord]


@dataclasses.dataclass(frozen=True)
class DigestWindow:
    """How long a firm's new notices on a channel wait for more before they go out as one message: until
    `quiet` passes with nothing new for the firm, but no longer than `longest` after the first."""

    quiet: datetime.timedelta
    longest: datetime.timedelta


@dataclasses.dataclass(frozen=True)
class Told:
    """What a firm has been told on one channel of one benefit in one period (its latest notice)."""

    revision: int
    #: The amount the latest notice announced.
    amount: float | None
    #: Every amount announced in the period added up (a cumulative cap's ledger as told).
    total: float
    #: The decision the latest notice announced (its facts say what the amount was based on).
    decision_id: int


#: (firm, clause, channel, period): the notices of one benefit on one channel in one period.
BenefitKey = tuple[str, str, str, str]


@dataclasses.dataclass(frozen=True)
class AttemptRecord:
    """One line of a notice's delivery timeline: a send attempt, a receipt, or an operator action."""

    notice_id: str
    kind: str  # send | receipt | recover | operator | skip | wait | contact | defer | compose | release | hold
    outcome: str
    status_after: notice_status.NoticeStatus
    provider_id: str | None
    response: Any
    reason: str | None
    at: datetime.datetime


@dataclasses.dataclass(frozen=True)
class Transition:
    """A status change and what to record with it (the one write path for notice status)."""

    new_status: notice_status.NoticeStatus
    kind: str
    outcome: str
    reason: str | None = None
    provider_id: str | None = None
    response: Any = None
    next_attempt_at: datetime.datetime | None = None
    #: The rendered message, stored on first send so every retry sends the same words.
    message: Mapping[str, Any] | None = None
    #: Whether this counts as a send attempt (for back-off and the retry limit).
    counts_attempt: bool = False


@dataclasses.dataclass(frozen=True)
class FirmContext:
    """What the delivery worker reads of a firm to judge and word its notices (see NoticeStore.delivery_context)."""

    firm: records.FirmRecord | None
    #: Every decision stored for the firm, in the order stored.
    decisions: Sequence[records.StoredDecision]
    #: Channel → when the firm opted out.
    opted_out: Mapping[str, datetime.datetime]
    #: The firm's SMS choice on its page (SMS_ALL if it never chose).
    sms_preference: str = SMS_ALL


@dataclasses.dataclass(frozen=True)
class DigestChange:
    """One digest's status change in a batch (NoticeStore.transition_digests); `lease`, if given, is the claim the
    writer must still hold (see NoticeStore.transition_notice)."""

    digest: Sequence[NoticeRecord]
    change: Transition
    lease: datetime.datetime | None = None


class NoticeStore(stores.FirmReader, abc.ABC):
    """What the notice worker, the receipt webhooks and operators need from storage (the worker reads
    the firm's contact and the decision a notice announces through FirmReader)."""

    #: How long after a benefit's window closed a decision's notices are still pushed when it is recorded;
    #: later ones are HELD for an operator (POLICY_PUSH_STALE_AFTER_DAYS). None: never held.
    stale_after: datetime.timedelta | None = None
    #: How long new notices wait for more of the same firm before going out together
    #: (POLICY_PUSH_DIGEST_QUIET_MINUTES / _LONGEST_HOURS). None: due at once (everything due for a firm at
    #: that moment still goes out as one message).
    digest_window: DigestWindow | None = None

    def hold_before(self, now: datetime.datetime) -> datetime.date | None:
        """Benefits whose window closed before this date are held when recorded at `now` (China date)."""
        if self.stale_after is None:
            return None
        return now.astimezone(china_time.CHINA_TZ).date() - self.stale_after

    @abc.abstractmethod
    async def claim_due_digests(
        self, now: datetime.datetime, limit: int, lease: datetime.timedelta, channels: Sequence[str] = CHANNELS
    ) -> list[Digest]:
        """Claim up to `limit` digests that fall due: mark their notices SENDING with one lease and return each
        digest's notices (notice_rules.digest_members). Two workers never get the same notice, nor two digests
        of one firm and channel at once."""

    @abc.abstractmethod
    async def transition_digest(
        self,
        digest: Sequence[NoticeRecord],
        change: Transition,
        *,
        expect: notice_status.NoticeStatus | None = None,
        lease: datetime.datetime | None = None,
    ) -> list[NoticeRecord]:
        """:meth:`transition_notice` for every notice of a digest, in one transaction (all or none)."""

    async def transition_digests(
        self, changes: Sequence[DigestChange], *, expect: notice_status.NoticeStatus | None = None
    ) -> list[list[NoticeRecord] | notice_status.IllegalTransition]:
        """:meth:`transition_digest` for many digests at once, each all or none, in the order given: per digest
        its notices as they now are, or the IllegalTransition that refused it (nothing written for that one; the
        others are). SQL stores write them all in one transaction; this default, one transaction each."""
        done: list[list[NoticeRecord] | notice_status.IllegalTransition] = []
        for item in changes:
            try:
                done.append(await self.transition_digest(item.digest, item.change, expect=expect, lease=item.lease))
            except notice_status.IllegalTransition as exc:
                done.append(exc)
        return done

    async def delivery_context(self, usccs: Sequence[str]) -> dict[str, FirmContext]:
        """Per firm, its profile, decisions, opt-outs and SMS choice: what the worker judges a claimed batch of
        digests by. SQL stores read it for the whole batch at once; this default, firm by firm."""
        return {
            uscc: FirmContext(await self.get_firm(uscc), await self.decisions(uscc), await self.opt_outs(uscc),
                              await self.sms_preference(uscc))
            for uscc in dict.fromkeys(usccs)
        }

    @abc.abstractmethod
    async def digest_notices(self, digest_id: str) -> list[NoticeRecord]:
        """The notices of a digest, its first first."""

    @abc.abstractmethod
    async def expired_leases(self, now: datetime.datetime) -> list[NoticeRecord]:
        """Notices left SENDING past their lease (their worker died mid-send)."""

    @abc.abstractmethod
    async def transition_notice(
        self,
        notice_id: str,
        change: Transition,
        *,
        expect: notice_status.NoticeStatus | None = None,
        lease: datetime.datetime | None = None,
    ) -> NoticeRecord:
        """Change a notice's status (refusing illegal transitions) and append the timeline entry, atomically.
        With `expect`, raise IllegalTransition unless the notice is in that state; with `lease`, also
        unless it still carries that lease (the fencing token of the worker that claimed it: a worker
        whose lease ran out and was recovered by another must not write over the new owner)."""

    @abc.abstractmethod
    async def wait_for_contact(self, notice: NoticeRecord) -> NoticeRecord:
        """Set a claimed notice (still holding the lease `notice` carries) WAITING for want of an address
        or consent, judged on the firm's contact as it is within this same transaction
        (withholding.waiting): if it arrived since the worker read the firm, the notice is PENDING, due
        now, instead. A fold of the firm in progress must have committed or not yet begun, so no contact
        change goes unseen both by the fold (which wakes what is waiting) and by this write."""

    @abc.abstractmethod
    async def get_notice(self, notice_id: str) -> NoticeRecord | None:
        """The notice, or None."""

    @abc.abstractmethod
    async def find_notice_by_provider_id(self, provider_id: str) -> NoticeRecord | None:
        """A notice a provider's id (SMS BizId) belongs to (any of its digest's), or None."""

    @abc.abstractmethod
    async def firm_notices(self, uscc: str) -> list[NoticeRecord]:
        """Every notice of a firm, oldest first."""

    @abc.abstractmethod
    async def notice_attempts(self, notice_id: str) -> list[AttemptRecord]:
        """The notice's timeline, oldest first."""

    @abc.abstractmethod
    async def count_notices(self) -> dict[str, int]:
        """Notices per status (for tests, metrics and the console)."""

    @abc.abstractmethod
    async def opt_out(self, uscc: str, channel: str, source: str, at: datetime.datetime) -> None:
        """Record that the firm refused `channel` (idempotent: the first refusal's time is kept)."""

    @abc.abstractmethod
    async def opt_outs(self, uscc: str) -> dict[str, datetime.datetime]:
        """Channel → when the firm opted out."""

    @abc.abstractmethod
    async def firms_with_mobile(self, mobile_e164: str) -> list[str]:
        """USCCs whose profile holds this mobile number."""

    @abc.abstractmethod
    async def sms_preference(self, uscc: str) -> str:
        """What the firm last chose for SMS on its page (:data:`SMS_PREFERENCES`); SMS_ALL if it never chose.
        Whether SMS_NONE still stands is the opt-out's business (see withholding.sms_choice)."""

    @abc.abstractmethod
    async def set_sms_preference(self, uscc: str, preference: str, actor: str, at: datetime.datetime) -> None:
        """Keep the firm's choice and its audit entry (withholding.preference_audit) in one transaction.
        SMS_NONE also opts the firm out of SMS (as a reply T does); SMS_ALL or SMS_GRANTS_ONLY lifts an
        SMS opt-out: the firm asked for SMS again, on its own page."""
