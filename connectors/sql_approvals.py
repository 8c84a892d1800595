"""The 二次确认 gate on SQL: which clauses wait for an operator, and resolving what waits."""

from __future__ import annotations

import datetime
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.ext import asyncio as sa_asyncio

from connectors import sql_models as models
from connectors import sql_notice_creation
from engine import audit
from engine.core import records
from engine.notices import approvals, notice_rules

_SETTING = models.ClauseSetting.__table__
_DECISION = models.Decision.__table__


class SqlApprovals(sql_notice_creation.SqlNoticeCreation, approvals.ApprovalStore):
    """ApprovalStore on SQL; approving creates the notices the decisions entitle."""

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
                self.insert(_SETTING).values(**values).on_conflict_do_update(
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
            if approve:
                created = await self._insert_notices(connection, [(d.uscc, d.id, d.decision) for d in pending], now)
                drafts += [notice_rules.created_audit(notice, actor) for notice in created]
            await self._audit(connection, drafts)  # last (sql_audit)
            return [d.id for d in pending]
