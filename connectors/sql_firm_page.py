"""The firm page's storage on SQL: firms' answers to decisions (firm_response) and link revocation
(firm_preference.links_revoked_before)."""

from __future__ import annotations

import datetime
from typing import Any

import sqlalchemy as sa

from connectors import sql_backfill, sql_base
from connectors import sql_models as models
from engine.core.scopes import Scope
from engine.firm_page import rules, store

_RESPONSE = models.FirmResponse.__table__
_PREFERENCE = models.FirmPreference.__table__
_DECISION = models.Decision.__table__
_FIRM = models.Firm.__table__


def _response(row: Any) -> store.FirmResponse:
    return store.FirmResponse(row.id, row.uscc, row.clause_id, row.decision_id, row.action, row.reason, models.as_utc(row.at))


class SqlFirmPage(sql_backfill.SqlBackfill, store.FirmPageStore):
    """FirmPageStore on SQL."""

    async def record_response(
        self, uscc: str, clause_id: str, decision_id: int, action: str, reason: str | None, at: datetime.datetime
    ) -> store.FirmResponse:
        entry = rules.response_audit(uscc, clause_id, decision_id, action, reason)
        async with self._write() as connection:
            owner = (await connection.execute(sa.select(_DECISION.c.uscc).where(_DECISION.c.id == decision_id))).scalar()
            if owner != uscc:
                raise KeyError(f"firm {uscc} has no decision {decision_id}")
            row = (await connection.execute(
                sa.insert(_RESPONSE).values(uscc=uscc, clause_id=clause_id, decision_id=decision_id, action=action,
                                            reason=reason, at=at).returning(*_RESPONSE.c)
            )).one()
            await self._audit(connection, [entry])
            return _response(row)

    async def firm_responses(self, uscc: str) -> list[store.FirmResponse]:
        query = sa.select(_RESPONSE).where(_RESPONSE.c.uscc == uscc).order_by(_RESPONSE.c.id)
        async with self._read() as connection:
            return [_response(row) for row in await connection.execute(query)]

    async def objections(self, limit: int = 200, *, scope: Scope) -> list[store.FirmResponse]:
        query = (sa.select(_RESPONSE).select_from(_RESPONSE.join(_FIRM, _FIRM.c.uscc == _RESPONSE.c.uscc))
                 .where(_RESPONSE.c.action == store.OBJECT, *sql_base.region_in(scope, _FIRM.c.region))
                 .order_by(_RESPONSE.c.id.desc()).limit(limit))
        async with self._read() as connection:
            return [_response(row) for row in await connection.execute(query)]

    async def links_revoked_before(self, uscc: str) -> datetime.datetime | None:
        query = sa.select(_PREFERENCE.c.links_revoked_before).where(_PREFERENCE.c.uscc == uscc)
        async with self._read() as connection:
            return models.as_utc((await connection.execute(query)).scalar())

    async def revoke_links(self, uscc: str, actor: str, at: datetime.datetime) -> None:
        entry = rules.revocation_audit(uscc, actor, at)
        async with self._write() as connection:
            if not await self._firm_exists(connection, uscc):
                raise KeyError(f"no firm {uscc}")
            await connection.execute(
                self.insert(_PREFERENCE).values(uscc=uscc, sms="all", links_revoked_before=at, updated_at=at)
                .on_conflict_do_update(index_elements=["uscc"], set_={"links_revoked_before": at, "updated_at": at})
            )
            await self._audit(connection, [entry])

    async def _firm_exists(self, connection: Any, uscc: str) -> bool:
        found = await connection.execute(sa.select(models.Firm.__table__.c.uscc).where(models.Firm.__table__.c.uscc == uscc))
        return found.first() is not None
