"""Reading firms in memory: profiles, their provenance, their decisions and their county's designations."""

from __future__ import annotations

from engine.core import matching, records, stores
from engine.testing import memory_base


class MemoryFirms(memory_base.MemoryBase, stores.FirmReader):
    """FirmReader in memory."""

    async def get_firm(self, uscc: str) -> records.FirmRecord | None:
        return self.firms.get(uscc)

    async def field_history(self, uscc: str) -> list[records.FieldAssignment]:
        return sorted(self.history.get(uscc, []), key=lambda a: (a.occurred_at, a.event_id))

    async def decisions(self, uscc: str) -> list[records.StoredDecision]:
        return list(self.stored_decisions.get(uscc, []))

    async def designations(self, county: str) -> frozenset[matching.Designation]:
        return frozenset(self.designations_by_county.get(county, ()))
