"""A group of events folded in one SQL transaction (SqlStorage.fold_group).

The group reads once what its folds need: its firms' rows and what judging them reads of their
decision logs, when it opens (and a firm's waiting notices when a fold changes its contact). Each
event is then folded in memory, so the group's later events of a firm see the earlier ones' profile
and decisions, and nothing is written until the group ends: then the profiles, provenance rows,
decisions with their audit entries and notices, the waiting notices the folds woke, and the
events' new statuses go out in one multi-row statement per table, and one commit. A fold's cost
was mostly per statement (SQLAlchemy, the aiosqlite thread hop) and per commit, not the
database's own work. And a fold that raises has written nothing, so its event can be parked and
the others committed without a savepoint per event.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext import asyncio as sa_asyncio

from connectors import sql_bulk
from connectors import sql_models as models
from engine.core import china_time, event_status, json_text, matching, records
from engine.ingest import event_store, firm_fold, validation
from engine.judging import firm_input, recording
from engine.notices import notice_rules, outbox, withholding

_EVENT = models.Event.__table__
_FIRM = models.Firm.__table__
_FIELD = models.ProfileField.__table__

#: The firm columns a fold rewrites (created_at stays as first written).
_REWRITTEN = ("region", "fields", "stamps", "events_applied", "updated_at")
#: The group's profiles, one upsert for all (fields and stamps encoded by the group: json_text.encode).
_PROFILES = sql_bulk.BulkInsert(_FIRM, ("uscc", "created_at", *_REWRITTEN), encoded=("fields", "stamps"), conflict=("uscc",),
                                update=_REWRITTEN)
#: Provenance rows (each value encoded by the group).
_PROVENANCE = sql_bulk.BulkInsert(_FIELD, ("uscc", "field", "value", "event_id", "occurred_at", "recorded_at"), encoded=("value",))


@dataclasses.dataclass(frozen=True)
class DecisionBatch:
    """Decisions one fold changed, to be recorded: (uscc, decision) pairs, their as-of date and cause."""

    decisions: Sequence[tuple[str, matching.Decision]]
    as_of: datetime.date
    event_id: str | None
    #: Per decision, its explanation and facts already encoded (firm_input.encode), or None.
    encoded: Sequence[firm_input.Encoded] | None = None


class SqlFoldGroup(event_store.FoldGroup):
    """The group `SqlStorage.fold_group` yields; `open` before folding, `flush` before the commit."""

    def __init__(self, store: Any, connection: sa_asyncio.AsyncConnection, events: Sequence[records.StoredEvent], now: datetime.datetime) -> None:
        self.events = list(events)
        self._store = store  # the SqlStorage: its dialect and the statements it shares with other writers
        self._connection = connection
        self._now = now
        self._claimed = {event.event_id for event in self.events}  # those the group may fold
        self._handled: set[str] = set()
        self._firms: dict[str, firm_fold.FirmState] = {}
        self._known: dict[str, list[tuple[datetime.date, matching.Decision]]] = {}
        self._designations: dict[str, frozenset[matching.Designation]] = {}
        self._created: set[str] = set()
        self._touched: dict[str, None] = {}  # an ordered set: firms folded, first fold first
        self._provenance: list[tuple[Any, ...]] = []
        self._batches: list[DecisionBatch] = []
        self._statuses: list[tuple[str, event_status.EventStatus, str | None]] = []
        self._waiting: dict[str, list[outbox.NoticeRecord]] = {}  # per firm, as the group's folds left them
        self._woken: list[notice_rules.Transitioned] = []

    async def open(self, *, hold_back: bool) -> int | None:
        """Lock (PostgreSQL) and read the group's firms. With `hold_back`, first leave out the events an
        earlier event still pending in another process's group must go before; if that leaves none,
        return the arrival number (seq) of the earliest such event instead, and read nothing."""
        if hold_back and not self._store.is_sqlite and self.events:
            kept, blocker = await self._not_overtaking()
            if not kept:
                return blocker
            self.events, self._claimed = kept, {event.event_id for event in kept}
        usccs = sorted({e.uscc for e in self.events if e.uscc is not None and e.type not in validation.REGION_TYPES})
        if not usccs:
            rows: Any = []
        elif self._store.is_sqlite:
            rows = await self._connection.execute(self._firm_query(usccs))
        else:
            # Rows are locked in one order (by uscc) in every group, so two groups waiting for each
            # other's firms cannot deadlock. A firm not stored yet gets its row now, to be locked like
            # the others; the flush removes it again if no fold of this group used it.
            inserted = await self._connection.execute(
                self._store.insert(_FIRM).on_conflict_do_nothing(index_elements=["uscc"]).returning(_FIRM.c.uscc),
                [{"uscc": u, "fields": {}, "stamps": {}, "events_applied": 0, "created_at": self._now, "updated_at": self._now}
                 for u in usccs],
            )
            self._created = set(inserted.scalars())
            rows = await self._connection.execute(self._firm_query(usccs).order_by(_FIRM.c.uscc).with_for_update())
        self._firms = {row.uscc: firm_fold.FirmState(row.fields, row.stamps, row.events_applied) for row in rows}
        self._known = await self._store.judging_context(self._connection, usccs)
        return None

    @staticmethod
    def _firm_query(usccs: Sequence[str]) -> sa.Select:
        return sa.select(_FIRM.c.uscc, _FIRM.c.fields, _FIRM.c.stamps, _FIRM.c.events_applied).where(_FIRM.c.uscc.in_(usccs))

    async def _not_overtaking(self) -> tuple[list[records.StoredEvent], int | None]:
        """The group's events less those an earlier pending event outside the group must go before (one
        of the same firm, a region event, or any, for a region event), and the earliest such event's seq.
        Such an event is claimed by another process's group, or was committed after this group's claim.
        Its status changes only when that group commits, so checking before locking any firm suffices."""
        rows = (
            await self._connection.execute(
                sa.select(_EVENT.c.seq, _EVENT.c.uscc, _EVENT.c.type)
                .where(
                    (_EVENT.c.status == event_status.EventStatus.RECEIVED.value)
                    & (_EVENT.c.seq < self.events[-1].seq)
                    & _EVENT.c.seq.not_in([e.seq for e in self.events])
                )
                .order_by(_EVENT.c.seq)
            )
        ).all()

        def first_before(event: records.StoredEvent) -> int | None:
            region = event.type in validation.REGION_TYPES
            return next(
                (row.seq for row in rows
                 if row.seq < event.seq and (region or row.type in validation.REGION_TYPES or row.uscc == event.uscc)),
                None,
            )

        blockers = {event.event_id: first_before(event) for event in self.events}
        kept = [event for event in self.events if blockers[event.event_id] is None]
        return kept, min((seq for seq in blockers.values() if seq is not None), default=None)

    def _take(self, event_id: str) -> bool:
        if event_id not in self._claimed:
            raise ValueError(f"event {event_id} is not one this group claimed")
        return event_id not in self._handled

    async def fold_firm_event(
        self, event: records.StoredEvent, assignments: Mapping[str, Any], judge: recording.Judge
    ) -> event_store.FoldOutcome:
        if not self._take(event.event_id):
            return event_store.FoldOutcome()
        uscc = event.uscc
        applied = firm_fold.apply_event(self._firms.get(uscc or "", firm_fold.NEW_FIRM), event, assignments, self._now)
        as_of = china_time.as_of_date(event.occurred_at)
        decisions: list[matching.Decision] = []
        if applied.changed:
            county = await self.designations_in(applied.firm.fields.get("region"))
            decisions = recording.judge_firm(uscc, applied.firm.fields, as_of, county, self._known.get(uscc, []), judge)
        woken: list[notice_rules.Transitioned] = []
        if withholding.contact_changed(applied.changed):
            # An address or consent that arrives wakes the notices waiting for it, in this transaction.
            woken = withholding.woken(await self.waiting_notices(uscc), applied.firm.fields, self._now,
                                       self._store.hold_before(self._now))
        # Nothing below raises: an event joins the group's changes whole or not at all.
        self._handled.add(event.event_id)
        self._firms[uscc] = applied.firm
        self._touched[uscc] = None
        self._provenance += [
            (uscc, a.field, json_text.encode(a.value), a.event_id, a.occurred_at, a.recorded_at) for a in applied.provenance
        ]
        if decisions:
            # The next fold of this firm judges against these, as it would once they were stored.
            self._known.setdefault(uscc, []).extend((as_of, d) for d in decisions)
            self._batches.append(DecisionBatch([(uscc, d) for d in decisions], as_of, event.event_id))
        if woken:
            awake = {change.notice.notice_id for change in woken}
            self._waiting[uscc] = [n for n in self._waiting[uscc] if n.notice_id not in awake]
            self._woken += woken
        self._statuses.append((event.event_id, event_status.EventStatus.PROCESSED, None))
        return event_store.FoldOutcome(
            changed_fields=applied.changed, decisions=decisions, firms_judged=int(bool(applied.changed)), notices_woken=len(woken)
        )

    async def fold_region_event(
        self, event: records.StoredEvent, designation: records.RegionDesignation, judge: recording.Judge
    ) -> event_store.FoldOutcome:
        if not self._take(event.event_id):
            return event_store.FoldOutcome()
        if len(self._claimed) != 1:
            raise ValueError("a region event is folded in a group of its own")
        # It writes as it judges firm after firm; the savepoint takes all of that back if one fails.
        async with self._connection.begin_nested():
            outcome = await self._store.fold_region(self._connection, event, designation, judge)
        self._handled.add(event.event_id)
        self._statuses.append((event.event_id, event_status.EventStatus.PROCESSED, None))
        return outcome

    async def mark_failed(self, event_id: str, reason: str) -> None:
        if not self._take(event_id):
            raise event_status.IllegalTransition(f"event {event_id} was already folded in this group")
        self._handled.add(event_id)
        self._statuses.append((event_id, event_status.EventStatus.FAILED, reason))

    @property
    def contended(self) -> bool:
        return self._store.writer_wanted()

    async def designations_in(self, county: str | None) -> frozenset[matching.Designation]:
        if county is None:
            return frozenset()
        if county not in self._designations:
            self._designations[county] = await self._store.designations_in(self._connection, county)
        return self._designations[county]

    async def waiting_notices(self, uscc: str) -> list[outbox.NoticeRecord]:
        """The firm's notices still waiting for its address or consent, as far as this group knows (read,
        and locked on PostgreSQL, the first time one of its folds changes the firm's contact)."""
        if uscc not in self._waiting:
            self._waiting[uscc] = await self._store.waiting_notices(self._connection, uscc)
        return self._waiting[uscc]

    async def flush(self) -> None:
        """Write everything the group's folds changed (called once, before the commit)."""
        connection, now = self._connection, datetime.datetime.now(datetime.UTC)
        await _PROFILES.insert(connection, [
            (uscc, self._now, firm.fields.get("region"), json_text.encode(firm.fields), json_text.encode(firm.stamps),
             firm.events_applied, self._now)
            for uscc, firm in ((uscc, self._firms[uscc]) for uscc in self._touched)
        ])
        if unused := self._created - self._touched.keys():
            await connection.execute(sa.delete(_FIRM).where(_FIRM.c.uscc.in_(sorted(unused))))
        await _PROVENANCE.insert(connection, self._provenance)
        if self._batches:
            await self._store.record_batches(connection, self._batches, "pipeline")
        await self._store.write_transitions(connection, self._woken)
        # One UPDATE per outcome (status and reason), usually one for the whole group, naming its events:
        # an executemany of a row per event cost SQLAlchemy's parameter handling on every fold.
        outcomes: dict[tuple[event_status.EventStatus, str | None], list[str]] = {}
        for event_id, new, error in self._statuses:
            outcomes.setdefault((event_status.check_transition(event_status.EventStatus.RECEIVED, new), error), []).append(event_id)
        for (new, error), event_ids in outcomes.items():
            await connection.execute(
                sa.update(_EVENT).where(_EVENT.c.event_id.in_(event_ids)).values(status=new.value, processed_at=now, error=error))
