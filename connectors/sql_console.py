"""The console's read model on the SQL tables (engine.console.read_model.ConsoleReadModel).

Reads go through SqlStorage's read connections; nothing here writes. Firm names and contact
details are read out of the firm's flat profile fields (JSON on SQLite, JSONB on PostgreSQL).
"""

from __future__ import annotations

import datetime
from collections.abc import AsyncGenerator, Sequence
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from connectors import sql_models as models
from connectors import sql_base, sql_console_stats, sql_storage
from engine import audit, constants
from engine.console import read_model
from engine.console.read_model import (
    AuditFilters,
    DecisionDetail,
    DecisionFilters,
    DecisionRow,
    FirmRow,
    Page,
    PendingFilters,
    PendingPage,
)
from engine.core import china_time
from engine.core.scopes import Scope

DECISION = models.Decision.__table__
EXPLANATION = models.Explanation.__table__
FIRM = models.Firm.__table__
NOTICE = models.Notice.__table__
AUDIT = models.AuditEntry.__table__
_DECISION_FIRM = DECISION.join(FIRM, FIRM.c.uscc == DECISION.c.uscc)
# Every notice and decision has its firm (foreign keys), so these inner joins drop no rows.
_NOTICE_FIRM = NOTICE.join(FIRM, FIRM.c.uscc == NOTICE.c.uscc)


def firm_field(name: str) -> sa.ColumnElement[str]:
    """One flat profile field as text (name, contact.mobile, contact.email)."""
    return FIRM.c.fields[name].as_string()


def in_scope(scope: Scope) -> list[sa.ColumnElement[bool]]:
    """The operator's scope as a condition on FIRM (sql_base.region_in)."""
    return sql_base.region_in(scope, FIRM.c.region)


def _notices(scope: Scope) -> sa.FromClause:
    # Counting notices by clause needs their firms only to apply a restricted scope.
    return NOTICE if scope.prefixes is None else _NOTICE_FIRM


def _contains_firm(text: str, uscc: sa.ColumnElement[str]) -> sa.ColumnElement[bool]:
    # USCCs are stored upper-case; names are matched as typed.
    needle = text.upper() if text.isascii() else text
    return sa.or_(uscc.contains(needle, autoescape=True), firm_field("name").contains(text, autoescape=True))


def decision_conditions(filters: DecisionFilters) -> list[sa.ColumnElement[bool]]:
    """The filters as conditions over DECISION joined with FIRM. Documents are matched on the cite,
    which always starts with the document's slug."""
    conditions: list[sa.ColumnElement[bool]] = []
    if filters.firm:
        conditions.append(_contains_firm(filters.firm, DECISION.c.uscc))
    if filters.clause:
        conditions.append(DECISION.c.clause_id == filters.clause)
    if filters.document:
        conditions.append(DECISION.c.cite.startswith(f"{filters.document}#", autoescape=True))
    if filters.region:
        conditions.append(FIRM.c.region.startswith(filters.region, autoescape=True))
    if filters.status:
        conditions.append(DECISION.c.status == filters.status)
    if filters.mode:
        if filters.mode_clauses is None:
            raise ValueError("a mode filter needs its clauses: use DecisionFilters.for_catalogue")
        ids = sorted(filters.mode_clauses)
        conditions.append(DECISION.c.clause_id.in_(ids) if ids else sa.false())
    if filters.approval == "none":
        conditions.append(DECISION.c.approval.is_(None))
    elif filters.approval:
        conditions.append(DECISION.c.approval == filters.approval)
    if filters.date_from:
        conditions.append(DECISION.c.as_of >= filters.date_from)
    if filters.date_to:
        conditions.append(DECISION.c.as_of <= filters.date_to)
    return conditions


def pending_conditions(filters: PendingFilters) -> list[sa.ColumnElement[bool]]:
    """Pending decisions matching the approvals list's filters, over DECISION joined with FIRM."""
    conditions: list[sa.ColumnElement[bool]] = [DECISION.c.approval == "pending"]
    if filters.clause:
        conditions.append(DECISION.c.clause_id == filters.clause)
    if filters.region:
        conditions.append(FIRM.c.region.startswith(filters.region, autoescape=True))
    return conditions


def audit_conditions(filters: AuditFilters) -> list[sa.ColumnElement[bool]]:
    """The audit page's filters as conditions over AUDIT."""
    conditions: list[sa.ColumnElement[bool]] = []
    if filters.action:
        conditions.append(AUDIT.c.action.startswith(filters.action, autoescape=True))
    if filters.actor:
        conditions.append(AUDIT.c.actor.contains(filters.actor, autoescape=True))
    if filters.subject:
        kind, sep, ident = filters.subject.partition(":")
        if sep:
            conditions.append(sa.and_(AUDIT.c.subject_type == kind, AUDIT.c.subject_id == ident))
        else:
            conditions.append(sa.or_(AUDIT.c.subject_id == filters.subject, AUDIT.c.subject_type == filters.subject))
    # Days in China time, both included: from the first day's midnight to the midnight after the last.
    if filters.date_from:
        conditions.append(AUDIT.c.at >= china_time.day_start_utc(filters.date_from))
    if filters.date_to:
        conditions.append(AUDIT.c.at < china_time.day_start_utc(filters.date_to + datetime.timedelta(days=1)))
    return conditions


def _decision_select(*extra: sa.ColumnElement[Any]) -> sa.Select:
    return sa.select(
        DECISION.c.id, DECISION.c.created_at, DECISION.c.as_of, DECISION.c.uscc, firm_field("name").label("firm_name"),
        FIRM.c.region, DECISION.c.clause_id, DECISION.c.cite, DECISION.c.status, DECISION.c.amount, DECISION.c.approval, *extra,
    ).select_from(_DECISION_FIRM)


def _decision_row(row: Any) -> DecisionRow:
    values = row._asdict()
    values["created_at"] = models.as_utc(values["created_at"])
    return DecisionRow(**values)


def _amount(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def _entry(row: Any) -> audit.Entry:
    return audit.Entry(row.seq, models.as_utc(row.at), row.actor, row.action, row.subject_type, row.subject_id, row.payload,
                       row.prev_hash, row.hash)


class SqlConsoleReadModel(sql_console_stats.SqlConsoleStats, read_model.ConsoleReadModel):
    """The console's reads over a SqlStorage's tables (the storage must be open while it is used); the
    aggregates behind the statistics and the home page are in connectors/sql_console_stats.py."""

    def __init__(self, store: sql_storage.SqlStorage) -> None:
        self._store = store

    async def _rows(self, query: sa.Executable) -> list[Any]:
        async with self._store.read() as connection:
            return list(await connection.execute(query))

    async def _counts(self, query: sa.Select) -> dict[str, dict[str, int]]:
        counts: dict[str, dict[str, int]] = {}
        for key, status, n in await self._rows(query):
            counts.setdefault(key, {})[status] = n
        return counts

    async def _page(self, count: sa.Select, query: sa.Select, number: int, size: int) -> tuple[int, list[Any]]:
        async with self._store.read() as connection:
            total = (await connection.execute(count)).scalar_one()
            rows = list(await connection.execute(query.limit(size).offset((number - 1) * size)))
        return total, rows

    # The match log and decisions ---------------------------------------------------------------

    async def decision_page(self, filters: DecisionFilters, number: int, size: int = read_model.PAGE_SIZE, *, scope: Scope) -> Page:
        conditions = decision_conditions(filters) + in_scope(scope)
        count = sa.select(sa.func.count()).select_from(_DECISION_FIRM).where(*conditions)
        total, rows = await self._page(count, _decision_select().where(*conditions).order_by(DECISION.c.id.desc()), number, size)
        return Page([_decision_row(r) for r in rows], number, size, total)

    async def decision_batches(
        self, filters: DecisionFilters, batch: int = read_model.CSV_BATCH, *, scope: Scope
    ) -> AsyncGenerator[list[DecisionRow], None]:
        query = _decision_select(firm_field("contact.mobile").label("mobile"), firm_field("contact.email").label("email"))
        query = query.where(*decision_conditions(filters), *in_scope(scope)).order_by(DECISION.c.id.desc()).limit(batch)
        before: int | None = None
        while True:
            page = query if before is None else query.where(DECISION.c.id < before)
            rows = [_decision_row(r) for r in await self._rows(page)]
            if rows:
                yield rows
            if len(rows) < batch:
                return
            before = rows[-1].id

    async def decision_detail(self, decision_id: int, *, scope: Scope) -> DecisionDetail | None:
        query = (sa.select(*(c for c in DECISION.c if c.name != "explanation_sha256"), EXPLANATION.c.body.label("explanation"),
                           firm_field("name").label("firm_name"), FIRM.c.region.label("region"))
                 .select_from(_DECISION_FIRM.join(EXPLANATION, EXPLANATION.c.sha256 == DECISION.c.explanation_sha256))
                 .where(DECISION.c.id == decision_id, *in_scope(scope)))
        rows = await self._rows(query)
        if not rows:
            return None
        values = rows[0]._asdict()
        values.update(created_at=models.as_utc(values["created_at"]), approval_at=models.as_utc(values["approval_at"]),
                      amount=_amount(values["amount"]))
        return DecisionDetail(**values)

    async def decision_notice_ids(self, decision_id: int) -> list[str]:
        query = sa.select(NOTICE.c.notice_id).where(NOTICE.c.decision_id == decision_id).order_by(NOTICE.c.id)
        return [row.notice_id for row in await self._rows(query)]

    async def pending_page(self, filters: PendingFilters, number: int, size: int = constants.APPROVALS_PAGE_SIZE, *,
                           scope: Scope) -> PendingPage:
        conditions = pending_conditions(filters) + in_scope(scope)
        summary = sa.select(sa.func.count(), sa.func.max(DECISION.c.id)).select_from(_DECISION_FIRM).where(*conditions)
        query = _decision_select().where(*conditions).order_by(DECISION.c.id).limit(size).offset((number - 1) * size)
        async with self._store.read() as connection:
            total, newest = (await connection.execute(summary)).one()
            rows = list(await connection.execute(query))
        return PendingPage([_decision_row(r) for r in rows], number, size, total, newest)

    async def pending_ids(self, filters: PendingFilters, *, upto: int, scope: Scope) -> list[int]:
        query = (sa.select(DECISION.c.id).select_from(_DECISION_FIRM)
                 .where(*pending_conditions(filters), DECISION.c.id <= upto, *in_scope(scope)).order_by(DECISION.c.id))
        return [row.id for row in await self._rows(query)]

    async def pending_regions(self, *, scope: Scope) -> dict[str, int]:
        query = (sa.select(FIRM.c.region, sa.func.count()).select_from(_DECISION_FIRM)
                 .where(DECISION.c.approval == "pending", FIRM.c.region.is_not(None), *in_scope(scope)).group_by(FIRM.c.region))
        return {region: n for region, n in await self._rows(query)}

    async def in_scope(self, decision_ids: Sequence[int], *, scope: Scope) -> set[int]:
        if not decision_ids:
            return set()
        query = sa.select(DECISION.c.id).select_from(_DECISION_FIRM).where(DECISION.c.id.in_(sorted(set(decision_ids))), *in_scope(scope))
        return {row.id for row in await self._rows(query)}

    # Firms ------------------------------------------------------------------------------------

    async def search_firms(self, text: str, number: int, size: int = read_model.PAGE_SIZE, *, scope: Scope) -> Page:
        conditions = ([_contains_firm(text, FIRM.c.uscc)] if text else []) + in_scope(scope)
        decisions = sa.select(sa.func.count()).where(DECISION.c.uscc == FIRM.c.uscc).scalar_subquery()
        query = (sa.select(FIRM.c.uscc, firm_field("name").label("name"), FIRM.c.region, FIRM.c.updated_at, decisions.label("decisions"))
                 .where(*conditions).order_by(FIRM.c.updated_at.desc(), FIRM.c.uscc))
        total, rows = await self._page(sa.select(sa.func.count()).select_from(FIRM).where(*conditions), query, number, size)
        return Page([FirmRow(r.uscc, r.name, r.region, models.as_utc(r.updated_at), r.decisions) for r in rows], number, size, total)

    async def firm_region(self, uscc: str) -> str | None:
        rows = await self._rows(sa.select(FIRM.c.region).where(FIRM.c.uscc == uscc))
        return rows[0].region if rows else None

    # Clauses ----------------------------------------------------------------------------------

    async def clause_decision_counts(self, clause_id: str | None = None, *, scope: Scope) -> dict[str, dict[str, int]]:
        query = (sa.select(DECISION.c.clause_id, DECISION.c.status, sa.func.count()).select_from(_DECISION_FIRM).where(*in_scope(scope))
                 .group_by(DECISION.c.clause_id, DECISION.c.status))
        return await self._counts(query if clause_id is None else query.where(DECISION.c.clause_id == clause_id))

    async def clause_notice_counts(self, clause_id: str | None = None, *, scope: Scope) -> dict[str, dict[str, int]]:
        query = (sa.select(NOTICE.c.clause_id, NOTICE.c.status, sa.func.count()).select_from(_notices(scope)).where(*in_scope(scope))
                 .group_by(NOTICE.c.clause_id, NOTICE.c.status))
        return await self._counts(query if clause_id is None else query.where(NOTICE.c.clause_id == clause_id))

    async def recent_decisions(self, clause_id: str, limit: int = 20, *, scope: Scope) -> list[DecisionRow]:
        query = _decision_select().where(DECISION.c.clause_id == clause_id, *in_scope(scope)).order_by(DECISION.c.id.desc()).limit(limit)
        return [_decision_row(r) for r in await self._rows(query)]

    # The audit trail --------------------------------------------------------------------------

    async def audit_page(self, filters: AuditFilters, number: int, size: int = read_model.PAGE_SIZE) -> Page:
        conditions = audit_conditions(filters)
        # Unfiltered, the chain's seqs run 1..N without gaps (a gap is what the verdict above the list
        # reports), so the newest seq is the count: one index lookup instead of a scan of the chain.
        count = (sa.select(sa.func.count()).select_from(AUDIT).where(*conditions) if conditions
                 else sa.select(sa.func.coalesce(sa.func.max(AUDIT.c.seq), 0)))
        total, rows = await self._page(count, sa.select(AUDIT).where(*conditions).order_by(AUDIT.c.seq.desc()), number, size)
        return Page([_entry(r) for r in rows], number, size, total)

    async def audit_actions(self) -> list[str]:
        return [row.action for row in await self._rows(sa.select(AUDIT.c.action).distinct().order_by(AUDIT.c.action))]

    async def audit_batches(self, batch: int = read_model.VERIFY_BATCH, *, after: int = 0) -> AsyncGenerator[list[audit.Entry], None]:
        while True:
            rows = await self._rows(sa.select(AUDIT).where(AUDIT.c.seq > after).order_by(AUDIT.c.seq).limit(batch))
            if rows:
                yield [_entry(r) for r in rows]
            if len(rows) < batch:
                return
            after = rows[-1].seq

    async def audit_entry(self, seq: int) -> audit.Entry | None:
        rows = await self._rows(sa.select(AUDIT).where(AUDIT.c.seq == seq))
        return _entry(rows[0]) if rows else None

    async def latest_audit_entry(self, action: str) -> audit.Entry | None:
        # Newest first along the primary key: a checkpoint is written every AUDIT_CHECKPOINT_EVERY
        # entries, so the walk back to the latest one is about that long, whatever the chain's length.
        rows = await self._rows(sa.select(AUDIT).where(AUDIT.c.action == action).order_by(AUDIT.c.seq.desc()).limit(1))
        return _entry(rows[0]) if rows else None
