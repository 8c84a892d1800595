"""The audit chain in memory."""

from __future__ import annotations

import datetime
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from engine import audit
from engine.audit import summaries
from engine.judging import recording
from engine.notices import notice_rules
from engine.testing import memory_firms


class MemoryAudit(memory_firms.MemoryFirms, audit.AuditStore):
    """AuditStore in memory."""

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

    async def summary_members(self, payload: Mapping[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        runs = summaries.decision_ids(payload)
        named = {s.id: s for stored in self.stored_decisions.values() for s in stored
                 if any(first <= s.id <= last for first, last in runs)}
        notices = [n for n in self.notices.values() if n.decision_id in named and n.created_at == named[n.decision_id].created_at]
        return [recording.decision_member(s) for s in named.values()], [notice_rules.notice_member(n) for n in notices]
