"""The 二次确认 gate: clauses whose new `met` decisions wait for an operator before any notice."""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence

from engine.core import matching, records
from engine.notices import notice_rules


def gated(decision: matching.Decision, gates: Mapping[str, bool]) -> str | None:
    """The approval state a new decision starts in: pending when its clause is gated and it would notify."""
    return "pending" if gates.get(decision.clause_id) and notice_rules.notice_keys(decision) else None


class ApprovalStore(abc.ABC):
    """What the console and the API need to run the gate. Each method is one transaction."""

    @abc.abstractmethod
    async def clause_settings(self) -> dict[str, bool]:
        """Clause id → whether its new `met` decisions wait for an operator's approval."""

    @abc.abstractmethod
    async def set_clause_approval(self, clause_id: str, needs_approval: bool, actor: str) -> None:
        """Turn the gate on or off for a clause (audited)."""

    @abc.abstractmethod
    async def pending_approvals(self, clause_id: str | None = None) -> list[records.StoredDecision]:
        """Decisions waiting for approval, oldest first."""

    @abc.abstractmethod
    async def resolve_approvals(self, decision_ids: Sequence[int], approve: bool, actor: str, reason: str | None) -> list[int]:
        """Approve (creating the notices) or reject (a reason is required) pending decisions, audited;
        return the ids actually resolved (ones no longer pending are left alone)."""
