"""The firm page's storage in memory: firms' answers to decisions and link revocation."""

from __future__ import annotations

import datetime

from engine.core.scopes import Scope
from engine.firm_page import rules, store
from engine.testing import memory_backfill


class MemoryFirmPage(memory_backfill.MemoryBackfill, store.FirmPageStore):
    """FirmPageStore in memory."""

    async def record_response(
        self, uscc: str, clause_id: str, decision_id: int, action: str, reason: str | None, at: datetime.datetime
    ) -> store.FirmResponse:
        entry = rules.response_audit(uscc, clause_id, decision_id, action, reason)
        async with self._lock:
            if uscc not in self.firms or not any(d.id == decision_id for d in self.stored_decisions.get(uscc, [])):
                raise KeyError(f"firm {uscc} has no decision {decision_id}")
            response = store.FirmResponse(next(self._ids), uscc, clause_id, decision_id, action, reason, at)
            self.responses.append(response)
            self._audit([entry])
            return response

    async def firm_responses(self, uscc: str) -> list[store.FirmResponse]:
        return [r for r in self.responses if r.uscc == uscc]

    async def objections(self, limit: int = 200, *, scope: Scope) -> list[store.FirmResponse]:
        def region(uscc: str) -> str | None:
            firm = self.firms.get(uscc)
            return firm.fields.get("region") if firm is not None else None

        return [r for r in reversed(self.responses) if r.action == store.OBJECT and scope.covers(region(r.uscc))][:limit]

    async def links_revoked_before(self, uscc: str) -> datetime.datetime | None:
        return self.preferences.get(uscc, {}).get("links_revoked_before")

    async def revoke_links(self, uscc: str, actor: str, at: datetime.datetime) -> None:
        entry = rules.revocation_audit(uscc, actor, at)
        async with self._lock:
            if uscc not in self.firms:
                raise KeyError(f"no firm {uscc}")
            self.preferences.setdefault(uscc, {})["links_revoked_before"] = at
            self._audit([entry])
