"""The audit chain and the approval gate on SQL (mixed into SqlStorage).

Appends take the chain's tail inside the caller's transaction: SQLite has one writer; on
PostgreSQL a transaction-scoped advisory lock serialises appenders, so two never chain onto the
same entry.
"""

from __future__ import annotations

import datetime
from collections.abc import AsyncIterator, Sequence

import sqlalchemy as sa
from sqlalchemy.ext import asyncio as sa_asyncio

from engine import audit
from connectors import sql_models as models
from engine.core import records

_AUDIT = models.AuditEntry.__table__
_SETTING = models.ClauseSetting.__table__
_DECISION = models.Decision.__table__

#: Key of the PostgreSQL advisory lock that serialises audit appends ("audit" in ASCII).
AUDIT_LOCK_KEY = 0x61756469


class SqlAudit(audit.AuditStore):
    """AuditStore and approval gate for SqlStorage; relies on its `_write`, `_read`, `is_sqlite`, `_decisions_where`."""

    async def _lock_chain(self, connection: sa_asyncio.AsyncConnection) -> None:
        """Take the chain's lock for the rest of the transaction (PostgreSQL; SQLite has one writer)."""
        if not self.is_sqlite:
            await connection.execute(sa.select(sa.func.pg_advisory_xact_lock(AUDIT_LOCK_KEY)))

    async def _audit(
        self, connection: sa_asyncio.AsyncConnection, drafts: Sequence[audit.Draft], *, locked: bool = False
    ) -> list[audit.Entry]:
        """Append `drafts` to the chain in the caller's transaction (`locked`: it holds `_lock_chain` already)."""
        if not drafts:
            return []
        if not locked:
            await self._lock_chain(connection)
        tail = (await connection.execute(sa.select(_AUDIT.c.seq, _AUDIT.c.hash).order_by(_AUDIT.c.seq.desc()).limit(1))).first()
        seq, prev = (tail.seq, tail.hash) if tail else (0, audit.GENESIS)
        now = datetime.datetime.now(datetime.UTC)
        entries = []
        for draft in drafts:
            seq += 1
            entry = audit.chain(prev, seq, now, draft)
            entries.append(entry)
            prev = entry.hash
        await connection.execute(
            sa.insert(_AUDIT),
            [
                {"seq": e.seq, "at": e.at, "actor": e.actor, "action": e.action, "subject_type": e.subject_type,
                 "subject_id": e.subject_id, "payload": dict(e.payload), "prev_hash": e.prev_hash, "hash": e.hash}
                for e in entries
            ],
        )
        return entries

    async def append_audit(self, drafts: Sequence[audit.Draft]) -> list[audit.Entry]:
        async with self._write() as connection:
            return await self._audit(connection, drafts)

    async def audit_entries(
        self, *, since: datetime.datetime | None = None, until: datetime.datetime | None = None, batch: int = 1000
    ) -> AsyncIterator[audit.Entry]:
        after = 0
        while True:
            query = sa.select(_AUDIT).where(_AUDIT.c.seq > after).order_by(_AUDIT.c.seq).limit(batch)
            if since is not None:
                query = query.where(_AUDIT.c.at >= since)
            if until is not None:
                query = query.where(_AUDIT.c.at < until)
            async with self._read() as connection:
                rows = (await connection.execute(query)).all()
            for r in rows:
                yield audit.Entry(r.seq, models.as_utc(r.at), r.actor, r.action, r.subject_type, r.subject_id, r.payload, r.prev_hash, r.hash)
            if len(rows) < batch:
                return
            after = rows[-1].seq

    async def clause_settings(self) -> dict[str, bool]:
        async with self._read() as connection:
            return {r.clause_id: r.needs_approval for r in await connection.execute(sa.select(_SETTING))}

    async def _gates(self, connection: sa_asyncio.AsyncConnection) -> dict[str, bool]:
        rows = await connection.execute(sa.select(_SETTING.c.clause_id).where(_SETTING.c.needs_approval.is_(True)))
        return {clause_id: True for clause_id in rows.scalars()}

    async def set_clause_approval(self, clause_id: str, needs_approval: bool, actor: str) -> None:
        now = datetime.datetime.now(datetime.UTC)
        values = {"clause_id": clause_id, "needs_approval": needs_approval, "updated_by": actor, "updated_at": now}
        async with self._write() as connection:
            await connection.execute(
                self._insert(_SETTING).values(**values).on_conflict_do_update(
                    index_elements=["clause_id"], set_={"needs_approval": needs_approval, "updated_by": actor, "updated_at": now}
                )
            )
            await self._audit(connection, [audit.Draft(actor, "clause.approval_gate", "clause", clause_id, {"needs_approval": needs_approval})])

    async def pending_approvals(self, clause_id: str | None = None) -> list[records.StoredDecision]:
        condition = _DECISION.c.approval == "pending"
        if clause_id is not None:
            condition = condition & (_DECISION.c.clause_id == clause_id)
        async with self._read() as connection:
            return await self._decisions_where(connection, condition)

    async def resolve_approvals(self, decision_ids: Sequence[int], approve: bool, actor: str, reason: str | None) -> list[int]:
        if not approve and not (reason or "").strip():
            raise ValueError("a rejection needs a reason")
        now = datetime.datetime.now(datetime.UTC)
        async with self._write() as connection:
            condition = _DECISION.c.id.in_(list(decision_ids)) & (_DECISION.c.approval == "pending")
            pending = await self._decisions_where(connection, condition, lock=True)
            if not pending:
                return []
            state = "approved" if approve else "rejected"
            await connection.execute(
                sa.update(_DECISION).where(_DECISION.c.id.in_([d.id for d in pending]))
                .values(approval=state, approval_by=actor, approval_at=now, approval_reason=reason)
            )
            drafts = [
                audit.Draft(actor, f"decision.{state}", "decision", str(d.id),
                            {"uscc": d.uscc, "clause_id": d.decision.clause_id, "reason": reason})
                for d in pending
            ]
            await self._audit(connection, drafts)
            if approve:
                await self._create_notices(connection, [(d.uscc, d.id, d.decision) for d in pending], now)
            return [d.id for d in pending]
