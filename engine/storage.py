"""The storage interface, procrastinate-style: one abstract class, two implementations.

`connectors.memory_storage.InMemoryStorage` serves fast unit tests; `connectors.sql_storage.SqlStorage`
(SQLite or PostgreSQL through SQLModel) serves the running service and the integration tests.
Both keep the same promises, and the same contract tests run against both.
"""

from __future__ import annotations

import abc
import contextlib
import dataclasses
import datetime
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from engine import audit
from engine.core import matching, event_status
from engine.ingest import validation
from engine.backfill import store as backfill_store
from engine.notices import outbox

#: What the pipeline passes to `fold_*`: profile (nested), as-of date and context → decisions.
Judge = Callable[[Mapping[str, Any], datetime.date, matching.MatchContext], Sequence[matching.Decision]]


@dataclasses.dataclass(frozen=True)
class NewEvent:
    """A verified, validated event about to be stored."""

    event_id: str
    type: str
    uscc: str | None
    occurred_at: datetime.datetime
    body: str
    body_sha256: str
    headers: Mapping[str, str]


@dataclasses.dataclass(frozen=True)
class StoredEvent:
    """An event as kept on disk."""

    seq: int
    event_id: str
    type: str
    uscc: str | None
    occurred_at: datetime.datetime
    received_at: datetime.datetime
    body: str
    body_sha256: str
    headers: Mapping[str, str]
    status: event_status.EventStatus
    processed_at: datetime.datetime | None = None
    error: str | None = None


@dataclasses.dataclass(frozen=True)
class AddResult:
    """Outcome of storing one event: `created` is False for a redelivery of a known event id."""

    event_id: str
    created: bool
    #: For a redelivery: whether the stored body differs from the one delivered now.
    body_differs: bool = False


@dataclasses.dataclass(frozen=True)
class FirmRecord:
    """A firm's current profile, flat fields with stamps (see engine.profile)."""

    uscc: str
    fields: Mapping[str, Any]
    stamps: Mapping[str, Sequence[str]]
    events_applied: int
    created_at: datetime.datetime
    updated_at: datetime.datetime


@dataclasses.dataclass(frozen=True)
class FieldAssignment:
    """One provenance row: `event_id` set `field` to `value` (occurred at `occurred_at`)."""

    field: str
    value: Any
    event_id: str
    occurred_at: datetime.datetime
    recorded_at: datetime.datetime


@dataclasses.dataclass(frozen=True)
class StoredDecision:
    """A decision as recorded for a firm."""

    id: int
    uscc: str
    as_of: datetime.date
    event_id: str | None
    created_at: datetime.datetime
    decision: matching.Decision
    #: The 二次确认 gate: None (no gate), "pending", "approved" or "rejected".
    approval: str | None = None


@dataclasses.dataclass(frozen=True)
class FoldOutcome:
    """What folding one event changed."""

    changed_fields: Sequence[str] = ()
    decisions: Sequence[matching.Decision] = ()
    firms_judged: int = 0


@dataclasses.dataclass(frozen=True)
class RiskDesignation:
    """`region.risk_designated`: the county had a medium/high risk area in `year`."""

    county: str
    year: int
    level: str


@dataclasses.dataclass(frozen=True)
class TokenRecord:
    """An API token's stored form."""

    id: int
    role: str
    label: str
    created_at: datetime.datetime
    revoked_at: datetime.datetime | None


class FoldGroup(abc.ABC):
    """Pending events claimed for folding in one transaction (`Storage.fold_group`)."""

    #: The claimed events to fold, in arrival order.
    events: Sequence[StoredEvent]

    @abc.abstractmethod
    async def fold_firm_event(self, event: StoredEvent, assignments: Mapping[str, Any], judge: Judge) -> FoldOutcome:
        """Fold one of `events` as `Storage.fold_firm_event` does; the group's later events of the same
        firm see its profile and decisions. If it raises, nothing of this event is kept and the group
        may go on (an error of the database itself may spoil the whole group, which then raises when
        its block ends). An event the group already folded is left alone."""

    @abc.abstractmethod
    async def fold_region_event(self, event: StoredEvent, designation: RiskDesignation, judge: Judge) -> FoldOutcome:
        """Fold one of `events` as `Storage.fold_region_event` does (a region event is claimed alone);
        if it raises, nothing of it is kept."""

    @abc.abstractmethod
    async def mark_failed(self, event_id: str, reason: str) -> None:
        """Park one of `events` as `failed` with the reason instead of folding it."""

    @property
    def contended(self) -> bool:
        """Whether something else is waiting for this group's transaction to end (on SQLite, newly
        received events waiting for the single writer), so a long group should end early."""
        return False


def claimable(events: Sequence[StoredEvent]) -> list[StoredEvent]:
    """The events, oldest first, that one group may fold: a region event alone, else those before the
    first region event (a region event re-judges firms, so it must see the events before it folded
    and the events after it must see it)."""
    for index, event in enumerate(events):
        if event.type in validation.REGION_TYPES:
            return list(events[: index or 1])
    return list(events)


class Storage(outbox.NoticeStore, audit.AuditStore, backfill_store.BackfillStore, abc.ABC):
    """Everything the service keeps. Each method is one transaction."""

    #: Whether the store's schema is managed by migrations (and /readyz must check its revision).
    has_migrations: bool = False

    @abc.abstractmethod
    async def open(self) -> None:
        """Acquire resources (connections); called once at start-up."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Release resources."""

    @abc.abstractmethod
    async def ping(self) -> None:
        """Raise if the store cannot be reached."""

    @abc.abstractmethod
    async def schema_revision(self) -> str | None:
        """The applied migration revision (None where the store has no migrations)."""

    # Events ---------------------------------------------------------------------------------

    @abc.abstractmethod
    async def add_events(self, events: Sequence[NewEvent]) -> list[AddResult]:
        """Store new events atomically and durably; known event ids are reported, not stored again."""

    @abc.abstractmethod
    async def get_event(self, event_id: str) -> StoredEvent | None:
        """The event with this id, or None."""

    @abc.abstractmethod
    async def pending_events(self, limit: int) -> list[StoredEvent]:
        """Events still `received`, oldest first (by arrival sequence)."""

    @abc.abstractmethod
    async def count_pending_events(self) -> int:
        """How many events are still `received` (a queue depth for metrics)."""

    @abc.abstractmethod
    async def firm_events(self, uscc: str) -> list[StoredEvent]:
        """All events about a firm, in arrival order."""

    @abc.abstractmethod
    async def mark_failed(self, event_id: str, reason: str) -> None:
        """Record that the pipeline could not process an event (status `failed`)."""

    # Folding ---------------------------------------------------------------------------------

    @abc.abstractmethod
    def fold_group(self, limit: int = 1, *, event_id: str | None = None) -> contextlib.AbstractAsyncContextManager[FoldGroup]:
        """Claim up to `limit` pending events, oldest first (or only `event_id`, if it is still pending),
        to be folded in one transaction: `async with store.fold_group(n) as group`, then fold or mark
        failed each of `group.events` through the group. Everything the group did is committed together
        when the block ends without error; if it raises, nothing of it is kept and the events stay pending.

        A region event is claimed alone (it re-judges firms the others may touch; see `claimable`). No
        other process folds a claimed event while the group is open. Where several processes fold on one
        database, an event is left out of `group.events` (it stays pending) while an earlier event of its
        firm, or an earlier region event, is still pending in another process's hands, so each firm's
        events are folded in arrival order; if that would leave none, the call waits for the other
        process's group to end and claims again. So `group.events` is empty only when no pending event
        is left that another process has not claimed (or `event_id` is no longer pending)."""

    async def fold_firm_event(self, event: StoredEvent, assignments: Mapping[str, Any], judge: Judge) -> FoldOutcome:
        """In one transaction: record provenance, update the profile, judge it, store changed decisions
        with the notices a new `met` entitles, and mark the event processed. An event already processed
        is left alone."""
        async with self.fold_group(event_id=event.event_id) as group:
            return await group.fold_firm_event(event, assignments, judge) if group.events else FoldOutcome()

    async def fold_region_event(self, event: StoredEvent, designation: RiskDesignation, judge: Judge) -> FoldOutcome:
        """In one transaction: record the designation, re-judge every firm in the county, mark processed.
        An event already processed is left alone."""
        async with self.fold_group(event_id=event.event_id) as group:
            return await group.fold_region_event(event, designation, judge) if group.events else FoldOutcome()

    # Firms -----------------------------------------------------------------------------------

    @abc.abstractmethod
    async def get_firm(self, uscc: str) -> FirmRecord | None:
        """The firm's current profile, or None."""

    @abc.abstractmethod
    async def field_history(self, uscc: str) -> list[FieldAssignment]:
        """Every assignment ever made to the firm's fields, oldest occurrence first."""

    @abc.abstractmethod
    async def decisions(self, uscc: str) -> list[StoredDecision]:
        """Every decision stored for the firm, in the order stored."""

    @abc.abstractmethod
    async def risk_years(self, county: str) -> frozenset[int]:
        """Years in which the county was designated a risk area."""

    # Approval gate (二次确认) -------------------------------------------------------------------

    @abc.abstractmethod
    async def clause_settings(self) -> dict[str, bool]:
        """Clause id → whether its new `met` decisions wait for an operator's approval."""

    @abc.abstractmethod
    async def set_clause_approval(self, clause_id: str, needs_approval: bool, actor: str) -> None:
        """Turn the gate on or off for a clause (audited)."""

    @abc.abstractmethod
    async def pending_approvals(self, clause_id: str | None = None) -> list[StoredDecision]:
        """Decisions waiting for approval, oldest first."""

    @abc.abstractmethod
    async def resolve_approvals(self, decision_ids: Sequence[int], approve: bool, actor: str, reason: str | None) -> list[int]:
        """Approve (creating the notices) or reject (a reason is required) pending decisions, audited;
        return the ids actually resolved (ones no longer pending are left alone)."""

    # Tokens ----------------------------------------------------------------------------------

    @abc.abstractmethod
    async def add_token(self, token_sha256: str, role: str, label: str) -> TokenRecord:
        """Store a new token's hash."""

    @abc.abstractmethod
    async def find_token(self, token_sha256: str) -> TokenRecord | None:
        """The unrevoked token with this hash, or None."""


def match_context(risk: frozenset[int], decisions: Sequence[StoredDecision]) -> matching.MatchContext:
    """Build the context a judge sees from what storage holds for a firm."""
    return context_of(risk, [(stored.as_of, stored.decision) for stored in decisions])


def context_of(risk: frozenset[int], known: Sequence[tuple[datetime.date, matching.Decision]]) -> matching.MatchContext:
    """`match_context` from (as-of date, decision) pairs in the order stored: all a judge reads of them."""
    return matching.MatchContext(
        risk_years=risk,
        previous={decision.clause_id: decision for _, decision in known},
        grants=tuple((as_of, decision) for as_of, decision in known if decision.status == matching.Verdict.MET),
    )


def changed_decisions(
    new: Sequence[matching.Decision], previous: Mapping[str, matching.Decision]
) -> list[matching.Decision]:
    """The decisions worth storing: those that differ from the firm's previous one for the clause.

    A clause that never reached the firm (out of scope, never judged before) is not recorded: a
    firm in 青海 gets no rows for 云南's clauses, while an in-scope `not_met` is kept so operators
    can see why a firm did not match.
    """
    return [
        decision
        for decision in new
        if not decision.same_outcome(prior := previous.get(decision.clause_id))
        and not (prior is None and decision.status == matching.Verdict.NOT_MET and not decision.in_scope)
    ]


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


def gated(decision: matching.Decision, gates: Mapping[str, bool]) -> str | None:
    """The approval state a new decision starts in: pending when its clause is gated and it would notify."""
    return "pending" if gates.get(decision.clause_id) and notice_keys(decision) else None


def decision_audit(stored: StoredDecision, actor: str = "pipeline") -> audit.Draft:
    """The audit entry for a recorded decision."""
    d = stored.decision
    return audit.Draft(
        actor=actor,
        action="decision.recorded",
        subject_type="decision",
        subject_id=str(stored.id),
        payload={
            "uscc": stored.uscc, "clause_id": d.clause_id, "cite": d.cite, "rule_version": d.rule_version,
            "status": d.status.value, "amount": d.amount, "as_of": stored.as_of.isoformat(),
            "event_id": stored.event_id, "approval": stored.approval,
        },
    )


def notice_audit(notice_id: str, action: str, actor: str, payload: Mapping[str, Any]) -> audit.Draft:
    """The audit entry for a notice's creation or state change."""
    return audit.Draft(actor=actor, action=action, subject_type="notice", subject_id=notice_id, payload=dict(payload))
