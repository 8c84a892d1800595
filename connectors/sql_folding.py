"""Folding on SQL (mixed into SqlStorage): an event into its firm's profile, then the firm judged.

Each fold is one transaction on the single writer: the event is still pending, the profile is
updated, the provenance rows appended, the decisions that change recorded with their audit
entries and notices, and the event marked processed. On PostgreSQL the event and firm rows are
locked first, so two `serve` instances never fold the same event or the same firm at once.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext import asyncio as sa_asyncio

from engine import matching, models, profile, status, storage

_FIRM = models.Firm.__table__
_FIELD = models.ProfileField.__table__
_RISK = models.RegionRisk.__table__
_DECISION = models.Decision.__table__


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


class SqlFolding:
    """The fold and judge half of SqlStorage; relies on its `_write`, `_insert`, `_locked`, `_still_pending`,
    `_set_status`, `_risk_years`, `_gates`, `_audit`, `_create_notices` and `is_sqlite`."""

    async def fold_firm_event(
        self, event: storage.StoredEvent, assignments: Mapping[str, Any], judge: storage.Judge
    ) -> storage.FoldOutcome:
        now = _now()
        async with self._write() as connection:
            if not await self._still_pending(connection, event.event_id):
                return storage.FoldOutcome()
            await connection.execute(
                self._insert(_FIRM)
                .values(uscc=event.uscc, fields={}, stamps={}, events_applied=0, created_at=now, updated_at=now)
                .on_conflict_do_nothing(index_elements=["uscc"])
            )
            firm = (await connection.execute(self._locked(sa.select(_FIRM).where(_FIRM.c.uscc == event.uscc)))).one()
            fields, stamps = dict(firm.fields), {k: list(v) for k, v in firm.stamps.items()}
            changed = profile.apply_assignments(
                fields, stamps, assignments, profile.stamp_of(event.occurred_at, event.event_id)
            )
            await connection.execute(
                sa.update(_FIRM)
                .where(_FIRM.c.uscc == event.uscc)
                .values(
                    fields=fields,
                    stamps=stamps,
                    region=fields.get("region"),
                    events_applied=firm.events_applied + 1,
                    updated_at=now,
                )
            )
            if assignments:
                await connection.execute(
                    sa.insert(_FIELD),
                    [
                        {
                            "uscc": event.uscc,
                            "field": path,
                            "value": value,
                            "event_id": event.event_id,
                            "occurred_at": event.occurred_at,
                            "recorded_at": now,
                        }
                        for path, value in assignments.items()
                    ],
                )
            decisions = await self._judge(connection, event.uscc, fields, event, judge) if changed else []
            await self._set_status(connection, event.event_id, status.EventStatus.PROCESSED)
        return storage.FoldOutcome(changed_fields=changed, decisions=decisions, firms_judged=int(bool(changed)))

    async def fold_region_event(
        self, event: storage.StoredEvent, designation: storage.RiskDesignation, judge: storage.Judge
    ) -> storage.FoldOutcome:
        async with self._write() as connection:
            if not await self._still_pending(connection, event.event_id):
                return storage.FoldOutcome()
            await connection.execute(
                self._insert(_RISK)
                .values(
                    county=designation.county,
                    year=designation.year,
                    level=designation.level,
                    event_id=event.event_id,
                )
                .on_conflict_do_nothing(index_elements=["county", "year"])
            )
            firms = (
                await connection.execute(
                    self._locked(
                        sa.select(_FIRM.c.uscc, _FIRM.c.fields)
                        .where(_FIRM.c.region == designation.county)
                        .order_by(_FIRM.c.uscc)
                    )
                )
            ).all()
            decisions = []
            for firm in firms:
                decisions += await self._judge(connection, firm.uscc, firm.fields, event, judge)
            await self._set_status(connection, event.event_id, status.EventStatus.PROCESSED)
        return storage.FoldOutcome(decisions=decisions, firms_judged=len(firms))

    async def _judge(
        self,
        connection: sa_asyncio.AsyncConnection,
        uscc: str,
        fields: Mapping[str, Any],
        event: storage.StoredEvent,
        judge: storage.Judge,
    ) -> list[matching.Decision]:
        stored = await self._judging_context(connection, uscc)
        risk = await self._risk_years(connection, fields.get("region"))
        context = storage.match_context(risk, stored)
        as_of = matching.as_of_date(event.occurred_at)
        new = storage.changed_decisions(judge(profile.nest(uscc, fields), as_of, context), context.previous)
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
    ) -> tuple[list[storage.StoredDecision], int]:
        """Insert (uscc, decision) pairs with their audit entries and notices (gated ones wait for approval);
        return the stored decisions and how many notices were created."""
        now = _now()
        gates = await self._gates(connection)
        approvals = [storage.gated(d, gates) for _, d in decisions]
        rows = [
                {
                    "uscc": uscc,
                    "clause_id": d.clause_id,
                    "cite": d.cite,
                    "rule_version": d.rule_version,
                    "status": d.status.value,
                    "amount": d.amount,
                    "explanation": dict(d.explanation),
                    "facts": dict(d.facts),
                    "as_of": as_of,
                    "event_id": event_id,
                    "created_at": now,
                    "period": d.period,
                    "approval": approval,
                }
                for (uscc, d), approval in zip(decisions, approvals, strict=True)
        ]
        if self.is_sqlite:
            # The single writer holds the database (BEGIN IMMEDIATE): the next ids are ours. Numbering
            # here avoids INSERT … RETURNING in id order, which SQLAlchemy runs one row per statement on
            # SQLite — one thread hop through aiosqlite per decision.
            last = (await connection.execute(sa.select(sa.func.coalesce(sa.func.max(_DECISION.c.id), 0)))).scalar_one()
            ids = list(range(last + 1, last + 1 + len(rows)))
            await connection.execute(sa.insert(_DECISION), [{**row, "id": id_} for row, id_ in zip(rows, ids, strict=True)])
        else:
            result = await connection.execute(sa.insert(_DECISION).returning(_DECISION.c.id, sort_by_parameter_order=True), rows)
            ids = list(result.scalars())
        records = [
            storage.StoredDecision(id_, uscc, as_of, event_id, now, d, approval)
            for id_, (uscc, d), approval in zip(ids, decisions, approvals, strict=True)
        ]
        await self._audit(connection, [storage.decision_audit(r, actor) for r in records])
        notices = await self._create_notices(connection, [(r.uscc, r.id, r.decision) for r in records if r.approval is None], now, actor)
        return records, notices

    async def _judging_context(self, connection: sa_asyncio.AsyncConnection, uscc: str) -> list[storage.StoredDecision]:
        """What judging a firm reads of its decisions (storage.match_context): the latest per clause and
        every `met` one (earlier grants), oldest first, without explanations and facts.

        A firm's log grows with every event that changes a verdict; reading it whole, explanations
        decoded, on every fold made folding slower the longer a firm had been known.
        """
        latest = sa.select(sa.func.max(_DECISION.c.id)).where(_DECISION.c.uscc == uscc).group_by(_DECISION.c.clause_id)
        rows = await connection.execute(
            sa.select(_DECISION.c.id, _DECISION.c.as_of, _DECISION.c.event_id, _DECISION.c.created_at, _DECISION.c.clause_id,
                      _DECISION.c.cite, _DECISION.c.rule_version, _DECISION.c.status, _DECISION.c.amount,
                      _DECISION.c.period, _DECISION.c.approval)
            .where((_DECISION.c.uscc == uscc)
                   & (_DECISION.c.id.in_(latest) | (_DECISION.c.status == matching.Verdict.MET.value)))
            .order_by(_DECISION.c.id)
        )
        return [
            storage.StoredDecision(
                id=r.id, uscc=uscc, as_of=r.as_of, event_id=r.event_id, created_at=models.as_utc(r.created_at),
                decision=matching.Decision(
                    clause_id=r.clause_id, cite=r.cite, rule_version=r.rule_version, status=matching.Verdict(r.status),
                    amount=None if r.amount is None else float(r.amount), period=r.period,
                ),
                approval=r.approval,
            )
            for r in rows
        ]
