"""The audit chain on SQL.

Appends take the chain's tail inside the caller's transaction: SQLite has one writer; on
PostgreSQL a transaction-scoped advisory lock serialises appenders, so two never chain onto the
same entry.

That lock is the last a transaction takes: it appends its entries after every write that could wait
for another transaction (an insert of a row another may hold uncommitted, a row another has locked),
so the lock is held for little more than reading the tail, inserting the entries and the commit, and
its holder never waits for another transaction. Taken earlier, it made every writer's inserts one
queue (a backfill's two processes waited for each other a third of the time), and a holder waiting
for a firm another transaction had locked, while that one waited for the chain, was a deadlock.
"""

from __future__ import annotations

import datetime
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext import asyncio as sa_asyncio

from connectors import sql_bulk, sql_firms
from connectors import sql_models as models
from engine import audit
from engine.audit import summaries
from engine.core import json_text

_AUDIT = models.AuditEntry.__table__
#: Chain entries, their payloads encoded here: a fold's first judging of a firm appends a hundred or so.
_ENTRIES = sql_bulk.BulkInsert(
    _AUDIT, ("seq", "at", "actor", "action", "subject_type", "subject_id", "payload", "prev_hash", "hash"), encoded=("payload",))
_SETTING = models.ClauseSetting.__table__
_DECISION = models.Decision.__table__
_NOTICE = models.Notice.__table__

#: Key of the PostgreSQL advisory lock that serialises audit appends ("audit" in ASCII).
AUDIT_LOCK_KEY = 0x61756469


class SqlAudit(sql_firms.SqlFirms, audit.AuditStore):
    """AuditStore on SQL."""

    async def _audit(self, connection: sa_asyncio.AsyncConnection, drafts: Sequence[audit.Draft]) -> list[audit.Entry]:
        """Append `drafts` to the chain in the caller's transaction, as its last write (see the module docstring)."""
        if not drafts:
            return []
        if not self.is_sqlite:
            # Held until the commit (PostgreSQL; SQLite has one writer).
            await connection.execute(sa.select(sa.func.pg_advisory_xact_lock(AUDIT_LOCK_KEY)))
        tail = (await connection.execute(sa.select(_AUDIT.c.seq, _AUDIT.c.hash).order_by(_AUDIT.c.seq.desc()).limit(1))).first()
        seq, prev = (tail.seq, tail.hash) if tail else (0, audit.GENESIS)
        now = datetime.datetime.now(datetime.UTC)
        entries = []
        for draft in drafts:
            seq += 1
            entry = audit.chain(prev, seq, now, draft)
            entries.append(entry)
            prev = entry.hash
        await _ENTRIES.insert(connection, [
            (e.seq, e.at, e.actor, e.action, e.subject_type, e.subject_id, json_text.encode(dict(e.payload)), e.prev_hash, e.hash)
            for e in entries
        ])
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

    async def summary_members(self, payload: Mapping[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        named = sa.or_(sa.false(), *(_DECISION.c.id.between(first, last) for first, last in summaries.decision_ids(payload)))
        async with self._read() as connection:
            decisions = [
                summaries.decision_member(r.id, r.uscc, r.clause_id, r.cite, r.rule_version, r.status, r.amount, r.as_of,
                                          r.period, r.approval is not None)
                for r in await connection.execute(sa.select(_DECISION).where(named))
            ]
            notices = [
                summaries.notice_member(r.notice_id, r.uscc, r.clause_id, r.channel, r.period, r.decision_id, r.kind,
                                        r.revision, r.amount, r.previous_amount)
                for r in await connection.execute(
                    sa.select(_NOTICE).join(_DECISION, _DECISION.c.id == _NOTICE.c.decision_id)
                    .where(named & (_NOTICE.c.created_at == _DECISION.c.created_at))
                )
            ]
        return decisions, notices
