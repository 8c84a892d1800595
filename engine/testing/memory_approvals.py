"""The 二次确认 gate in memory, and recording decisions (where the gate applies)."""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Sequence

from engine import audit
from engine.core import matching, records
from engine.judging import recording
from engine.notices import approvals
from engine.testing import memory_notices


class MemoryApprovals(memory_notices.MemoryNotices, approvals.ApprovalStore):
    """ApprovalStore in memory; approving creates the notices the decisions entitle."""

    def _record_decisions(
        self, uscc: str, decisions: Sequence[matching.Decision], as_of: datetime.date, event_id: str | None, actor: str,
        *, audited: bool = True, now: datetime.datetime | None = None,
    ) -> tuple[list[records.StoredDecision], int]:
        """Store a firm's decisions and the notices they entitle; `audited`: with an audit entry for each
        (a backfill's batch appends one summary instead, engine.audit.summaries)."""
        now = now or datetime.datetime.now(datetime.UTC)
        stored = [
            records.StoredDecision(next(self._ids), uscc, as_of, event_id, now, d, approvals.gated(d, self.gates))
            for d in decisions
        ]
        self.stored_decisions.setdefault(uscc, []).extend(stored)
        if audited:
            self._audit([recording.decision_audit(s, actor) for s in stored])
        return stored, self._create_notices(uscc, [(s.id, s.decision) for s in stored if s.approval is None], now, actor,
                                            audited=audited)

    async def clause_settings(self) -> dict[str, bool]:
        return dict(self.gates)

    async def set_clause_approval(self, clause_id: str, needs_approval: bool, actor: str) -> None:
        async with self._lock:
            self.gates[clause_id] = needs_approval
            self._audit([audit.Draft(actor, "clause.approval_gate", "clause", clause_id, {"needs_approval": needs_approval})])

    async def pending_approvals(self, clause_id: str | None = None) -> list[records.StoredDecision]:
        return [
            d for ds in self.stored_decisions.values() for d in ds
            if d.approval == "pending" and (clause_id is None or d.decision.clause_id == clause_id)
        ]

    async def resolve_approvals(self, decision_ids: Sequence[int], approve: bool, actor: str, reason: str | None) -> list[int]:
        if not approve and not (reason or "").strip():
            raise ValueError("a rejection needs a reason")
        async with self._lock:
            state = "approved" if approve else "rejected"
            resolved = []
            now = datetime.datetime.now(datetime.UTC)
            for uscc, decisions in self.stored_decisions.items():
                for index, stored in enumerate(decisions):
                    if stored.id in decision_ids and stored.approval == "pending":
                        decisions[index] = dataclasses.replace(stored, approval=state)
                        self._audit([audit.Draft(actor, f"decision.{state}", "decision", str(stored.id),
                                                 {"uscc": uscc, "clause_id": stored.decision.clause_id, "reason": reason})])
                        if approve:
                            self._create_notices(uscc, [(stored.id, stored.decision)], now)
                        resolved.append(stored.id)
            return sorted(resolved)
