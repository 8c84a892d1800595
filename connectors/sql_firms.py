"""Reading firms on SQL: profiles, their provenance, their decisions and their county's designations."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext import asyncio as sa_asyncio

from connectors import sql_base
from connectors import sql_models as models
from engine.core import matching, records, stores

_FIRM = models.Firm.__table__
_FIELD = models.ProfileField.__table__
_DESIGNATION = models.RegionDesignation.__table__
_DECISION = models.Decision.__table__
_EXPLANATION = models.Explanation.__table__


def firm_record(row: Any) -> records.FirmRecord:
    """A firm row as the engine reads it."""
    return records.FirmRecord(
        uscc=row.uscc,
        fields=row.fields,
        stamps=row.stamps,
        events_applied=row.events_applied,
        created_at=models.as_utc(row.created_at),
        updated_at=models.as_utc(row.updated_at),
    )


class SqlFirms(sql_base.SqlBase, stores.FirmReader):
    """FirmReader on SQL."""

    async def get_firm(self, uscc: str) -> records.FirmRecord | None:
        async with self._read() as connection:
            row = (await connection.execute(sa.select(_FIRM).where(_FIRM.c.uscc == uscc))).first()
        return None if row is None else firm_record(row)

    async def field_history(self, uscc: str) -> list[records.FieldAssignment]:
        query = sa.select(_FIELD).where(_FIELD.c.uscc == uscc).order_by(_FIELD.c.occurred_at, _FIELD.c.event_id, _FIELD.c.id)
        async with self._read() as connection:
            rows = await connection.execute(query)
            return [
                records.FieldAssignment(r.field, r.value, r.event_id, models.as_utc(r.occurred_at), models.as_utc(r.recorded_at))
                for r in rows
            ]

    async def _decisions_where(
        self, connection: sa_asyncio.AsyncConnection, condition: Any, *, lock: bool = False
    ) -> list[records.StoredDecision]:
        query = (sa.select(_DECISION, _EXPLANATION.c.body.label("explanation"))
                 .join(_EXPLANATION, _EXPLANATION.c.sha256 == _DECISION.c.explanation_sha256)
                 .where(condition).order_by(_DECISION.c.id))
        rows = await connection.execute(query.with_for_update(of=_DECISION) if lock and not self.is_sqlite else query)
        return [
            records.StoredDecision(
                id=r.id,
                uscc=r.uscc,
                as_of=r.as_of,
                event_id=r.event_id,
                created_at=models.as_utc(r.created_at),
                decision=matching.Decision(
                    clause_id=r.clause_id,
                    cite=r.cite,
                    rule_version=r.rule_version,
                    status=matching.Verdict(r.status),
                    amount=None if r.amount is None else float(r.amount),
                    explanation=r.explanation,
                    facts=r.facts,
                    period=r.period,
                    cumulative=r.cumulative,
                    closes=r.closes,
                    by_sms=r.by_sms,
                ),
                approval=r.approval,
            )
            for r in rows
        ]

    async def _decisions(self, connection: sa_asyncio.AsyncConnection, uscc: str) -> list[records.StoredDecision]:
        return await self._decisions_where(connection, _DECISION.c.uscc == uscc)

    async def decisions(self, uscc: str) -> list[records.StoredDecision]:
        async with self._read() as connection:
            return await self._decisions(connection, uscc)

    @staticmethod
    async def designations_in(connection: sa_asyncio.AsyncConnection, county: str | None) -> frozenset[matching.Designation]:
        if county is None:
            return frozenset()
        rows = await connection.execute(
            sa.select(_DESIGNATION.c.kind, _DESIGNATION.c.year).where(_DESIGNATION.c.county == county))
        return frozenset(matching.Designation(row.kind, row.year) for row in rows)

    async def designations(self, county: str) -> frozenset[matching.Designation]:
        async with self._read() as connection:
            return await self.designations_in(connection, county)
