"""Folding on SQL: events into their firms' profiles, then the firms judged.

A group of events (`fold_group`) is one transaction on the single writer: the events are claimed,
folded one after another (connectors.sql_fold_group), and their profiles, provenance rows,
decisions with their audit entries and notices, and new statuses written together at the end.
On PostgreSQL the claimed event rows are locked with `FOR UPDATE SKIP LOCKED` and their firms' rows
with `FOR UPDATE`, so two `serve` instances never fold the same event, nor the same firm at once.
"""

from __future__ import annotations

import contextlib
import datetime
import operator
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext import asyncio as sa_asyncio

from connectors import sql_approvals, sql_bulk, sql_fold_group
from connectors import sql_models as models
from engine.audit import summaries
from engine.core import china_time, event_status, matching, records
from engine.ingest import event_store
from engine.judging import firm_input, recording
from engine.notices import approvals, notice_rules

_EVENT = models.Event.__table__
_FIRM = models.Firm.__table__
_DESIGNATION = models.RegionDesignation.__table__
_DECISION = models.Decision.__table__
_EXPLANATION = models.Explanation.__table__

#: What judging a firm reads of one of its decisions (recording.context_of), without explanation or facts:
#: the id (to put them in order) first, then as_of and the outcome's six fields in matching.Decision's order.
_CONTEXT_VALUES = (
    _DECISION.c.id, _DECISION.c.as_of, _DECISION.c.clause_id, _DECISION.c.cite, _DECISION.c.rule_version,
    _DECISION.c.status, sa.cast(_DECISION.c.amount, sa.Float), _DECISION.c.period,
)


#: Decisions as recorded (facts as JSON text, the explanation by its SHA-256): one executemany per transaction.
DECISIONS = sql_bulk.BulkInsert(_DECISION, (
    "id", "uscc", "clause_id", "cite", "rule_version", "status", "amount", "explanation_sha256", "facts", "as_of",
    "event_id", "created_at", "period", "approval", "cumulative", "closes", "by_sms",
), encoded=("facts",))
#: Explanations, each once (named by their text's SHA-256): one already stored is left as it is.
_EXPLANATIONS = sql_bulk.BulkInsert(_EXPLANATION, ("sha256", "body"), encoded=("body",), conflict=("sha256",),
                                    repeats_stored=True)


def decision_row(
    id_: int, uscc: str, d: matching.Decision, encoded: firm_input.Encoded, as_of: datetime.date, event_id: str | None,
    now: datetime.datetime, approval: str | None,
) -> tuple[Any, ...]:
    """A decision's values in DECISIONS' columns (`encoded`: its explanation and facts, firm_input.encode);
    its explanation is stored by `store_explanations`."""
    return (id_, uscc, d.clause_id, d.cite, d.rule_version, matching.VERDICT_TEXT[d.status], d.amount,
            encoded.explanation_sha256, encoded.facts, as_of, event_id, now, d.period, approval, d.cumulative, d.closes,
            d.by_sms)


async def store_explanations(connection: sa_asyncio.AsyncConnection, encoded: Iterable[firm_input.Encoded]) -> None:
    """Store the explanations of decisions about to be inserted, each distinct one once, in the caller's
    transaction. On PostgreSQL another writer may hold an uncommitted copy of one, which this insert
    then waits for; every writer inserts them in the order of their hashes, so of two writers storing
    some of the same texts one may wait for the other, never each for the other."""
    texts = {e.explanation_sha256: e.explanation for e in encoded}
    await _EXPLANATIONS.insert(connection, sorted(texts.items()))


def utc_now() -> datetime.datetime:
    """The time a write records (UTC)."""
    return datetime.datetime.now(datetime.UTC)


class SqlFolding(sql_approvals.SqlApprovals):
    """Folding and judging on SQL: the fold groups, region re-judging, and recording decisions with
    their audit entries and notices (gated ones wait for approval)."""

    @contextlib.asynccontextmanager
    async def fold_group(self, limit: int = 1, *, event_id: str | None = None) -> AsyncIterator[event_store.FoldGroup]:
        while True:
            async with self._write() as connection:
                events = await self._claim(connection, limit, event_id)
                group = sql_fold_group.SqlFoldGroup(self, connection, events, utc_now())
                # Events named by the caller are folded in the caller's order; claimed ones in arrival order.
                blocker = await group.open(hold_back=event_id is None)
                if blocker is None:
                    yield group
                    await group.flush()
                    return
            # Another process's group holds an event that must go before every one claimed here: wait
            # until that group ends (holding nothing meanwhile), then claim again.
            await self._wait_for_event(blocker)

    async def _wait_for_event(self, seq: int) -> None:
        async with self._write() as connection:
            await connection.execute(sa.select(_EVENT.c.seq).where(_EVENT.c.seq == seq).with_for_update(read=True))

    async def _claim(self, connection: sa_asyncio.AsyncConnection, limit: int, event_id: str | None) -> list[records.StoredEvent]:
        if event_id is not None:
            # Wait for whoever holds the event, then see whether it is still to be folded.
            row = (await connection.execute(self._locked(sa.select(_EVENT).where(_EVENT.c.event_id == event_id)))).one()
            return [self._event(row)] if row.status == event_status.EventStatus.RECEIVED.value else []
        query = sa.select(_EVENT).where(_EVENT.c.status == event_status.EventStatus.RECEIVED.value).order_by(_EVENT.c.seq).limit(limit)
        if not self.is_sqlite:
            # Another instance's group holds its events until it commits: take the next ones instead.
            query = query.with_for_update(skip_locked=True)
        return event_store.claimable([self._event(row) for row in await connection.execute(query)])

    async def fold_region(
        self, connection: sa_asyncio.AsyncConnection, event: records.StoredEvent, designation: records.RegionDesignation,
        judge: recording.Judge,
    ) -> event_store.FoldOutcome:
        await connection.execute(
            self.insert(_DESIGNATION)
            .values(county=designation.county, kind=designation.kind, year=designation.year, level=designation.level,
                    event_id=event.event_id)
            .on_conflict_do_nothing(index_elements=["county", "kind", "year"])
        )
        firms = (
            await connection.execute(
                self._locked(
                    sa.select(_FIRM.c.uscc, _FIRM.c.fields).where(_FIRM.c.region == designation.county).order_by(_FIRM.c.uscc)
                )
            )
        ).all()
        decisions = []
        for firm in firms:
            decisions += await self._judge(connection, firm.uscc, firm.fields, event, judge)
        return event_store.FoldOutcome(decisions=decisions, firms_judged=len(firms))

    async def _judge(
        self,
        connection: sa_asyncio.AsyncConnection,
        uscc: str,
        fields: Mapping[str, Any],
        event: records.StoredEvent,
        judge: recording.Judge,
    ) -> list[matching.Decision]:
        known = (await self.judging_context(connection, [uscc])).get(uscc, [])
        as_of = china_time.as_of_date(event.occurred_at)
        new = recording.judge_firm(uscc, fields, as_of, await self.designations_in(connection, fields.get("region")), known, judge)
        if new:
            await self._record_decisions(connection, [(uscc, d) for d in new], as_of, event.event_id, "pipeline")
        return new

    async def _record_decisions(
        self,
        connection: sa_asyncio.AsyncConnection,
        decisions: Sequence[tuple[str, matching.Decision]],
        as_of: datetime.date,
        event_id: str | None,
        actor: str,
    ) -> tuple[list[records.StoredDecision], int]:
        """Insert (uscc, decision) pairs with their audit entries and notices (gated ones wait for approval);
        return the stored decisions and how many notices were created."""
        [stored], notices = await self.record_batches(connection, [sql_fold_group.DecisionBatch(decisions, as_of, event_id)], actor)
        return stored, notices

    async def record_batches(
        self, connection: sa_asyncio.AsyncConnection, batches: Sequence[sql_fold_group.DecisionBatch], actor: str,
        *, summarised: bool = False,
    ) -> tuple[list[list[records.StoredDecision]], int]:
        """`_record_decisions` for several batches at once, one statement per table: the audit chain gets,
        batch after batch, the batch's decision entries then its notices' (what recording them one by one
        appends), or with `summarised` (a backfill's batch) one entry for all of them (engine.audit.summaries).
        Returns each batch's stored decisions and how many notices were created."""
        now = utc_now()
        gates = await self._gates(connection)
        pending = [(index, uscc, d, approvals.gated(d, gates)) for index, batch in enumerate(batches) for uscc, d in batch.decisions]
        encoded = [e for batch in batches for e in (batch.encoded or [firm_input.encode(d) for _uscc, d in batch.decisions])]
        if pending:
            await store_explanations(connection, encoded)
        ids = await sql_bulk.next_ids(connection, _DECISION, len(pending))
        await DECISIONS.insert(connection, [
            decision_row(id_, uscc, d, e, batches[index].as_of, batches[index].event_id, now, approval)
            for id_, (index, uscc, d, approval), e in zip(ids, pending, encoded, strict=True)
        ])
        by_batch: list[list[records.StoredDecision]] = [[] for _ in batches]
        for id_, (index, uscc, d, approval) in zip(ids, pending, strict=True):
            batch = batches[index]
            by_batch[index].append(records.StoredDecision(id_, uscc, batch.as_of, batch.event_id, now, d, approval))
        created = await self._insert_notices(
            connection, [(r.uscc, r.id, r.decision) for rs in by_batch for r in rs if r.approval is None], now
        )
        noticed: dict[int, list[Any]] = {}
        for notice in created:
            noticed.setdefault(notice.decision_id, []).append(notice)
        if summarised:
            as_of = batches[0].as_of if batches else None
            assert all(batch.as_of == as_of for batch in batches), "a summary covers decisions as of one day"
            drafts = [summaries.summary(actor, as_of, [recording.decision_member(r) for rs in by_batch for r in rs],
                                        [notice_rules.notice_member(n) for n in created])] if pending else []
        else:
            drafts = []
            for recorded in by_batch:
                drafts += [recording.decision_audit(r, actor) for r in recorded]
                drafts += [notice_rules.created_audit(n, actor) for r in recorded for n in noticed.get(r.id, ())]
        # Last: the chain's lock is held from here to the commit (sql_audit).
        await self._audit(connection, drafts)
        return by_batch, len(created)

    async def judging_context(
        self, connection: sa_asyncio.AsyncConnection, usccs: Sequence[str]
    ) -> dict[str, list[tuple[datetime.date, matching.Decision]]]:
        """What judging each firm reads of its decisions (recording.context_of): the latest per clause and
        every `met` one (earlier grants), oldest first, as (as-of date, decision) without explanations.

        A firm's log grows with every event that changes a verdict; reading it whole, explanations
        decoded, on every fold made folding slower the longer a firm had been known. Firms share most
        of their outcomes (same clause, rule version and verdict), so equal decisions are built once:
        decisions are immutable, and building ~70 per firm was most of the cost of reading them.
        """
        if not usccs:
            return {}
        mine = _DECISION.c.uscc.in_(list(usccs))
        latest = sa.select(sa.func.max(_DECISION.c.id)).where(mine).group_by(_DECISION.c.uscc, _DECISION.c.clause_id)
        # One row per firm, its decisions as one JSON array built by the database: ~70 decisions a firm
        # as rows cost the driver and SQLAlchemy ~3 µs each, which was most of a fold's reading.
        array, aggregate = (sa.func.json_array, sa.func.json_group_array) if self.is_sqlite \
            else (sa.func.json_build_array, sa.func.json_agg)
        rows = await connection.execute(
            sa.select(_DECISION.c.uscc, aggregate(array(*_CONTEXT_VALUES), type_=sa.JSON))
            .where(mine & (_DECISION.c.id.in_(latest) | (_DECISION.c.status == matching.Verdict.MET.value)))
            .group_by(_DECISION.c.uscc)
        )
        known: dict[str, list[tuple[datetime.date, matching.Decision]]] = {}
        decisions: dict[tuple[Any, ...], matching.Decision] = {}
        dates: dict[str, datetime.date] = {}
        for uscc, values in rows:
            values.sort(key=operator.itemgetter(0))  # oldest first: neither database orders an aggregate's input here
            firm = known[uscc] = []
            for _id, as_of, clause_id, cite, rule_version, verdict, amount, period in values:
                if amount is not None:
                    amount = float(amount)  # PostgreSQL writes a whole float8 as a JSON integer
                key = (clause_id, cite, rule_version, verdict, amount, period)
                if (decision := decisions.get(key)) is None:
                    decision = decisions[key] = matching.Decision(
                        clause_id=clause_id, cite=cite, rule_version=rule_version, status=matching.Verdict(verdict),
                        amount=amount, period=period,
                    )
                if (day := dates.get(as_of)) is None:
                    day = dates[as_of] = datetime.date.fromisoformat(as_of)
                firm.append((day, decision))
        return known
