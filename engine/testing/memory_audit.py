"""The audit chain in memory."""

from __future__ import annotations

import datetime
from collections.abc import AsyncIterator, Sequence

from engine import audit
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
