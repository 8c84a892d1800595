"""The audit chain and the approval gate in memory (mixed into InMemoryStorage)."""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import AsyncIterator, Sequence

from engine import audit
from engine.core import records


class MemoryAudit(audit.AuditStore):
    """AuditStore and approval gate for InMemoryStorage; relies on its `_lock`, `stored_decisions`, `_create_notices`."""

    def _init_audit(self) -> None:
        self.audit_log: list[audit.Entry] = []
        self.gates: dict[str, bool] = {}

    def _audit(self, drafts: Sequence[audit.Draft]) -> list[audit.Entry]:
        now = datetime.datetime.now(datetime.UTC)
        entries = []
        for draft in drafts:
            prev = self.audit_log[-1].hash if self.audit_log else audit.GENESIS
            entry = audit.chain(prev, len(self.audit_log) + 1, now, draft)
            self.audit_log.append(entry)
            entries.append(entry)
        return entries

    async def append_audit(self, drafts: Sequence[audit.Draft]) -> list[audit.Entry]:
        async with self._lock:
            return self._audit(drafts)

    async def audit_entries(
        self, *, since: datetime.datetime | None = None, until: datetime.datetime | None = None, batch: int = 1000
    ) -> AsyncIterator[audit.Entry]:
        for entry in list(self.audit_log):
            if (since is None or entry.at >= since) and (until is None or entry.at < until):
                yield entry

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
