"""The console's SQL reads over the service's tables: the match log, decision details, firm search.

The console is a read model over SqlStorage (`store.read()` connections); nothing here writes.
Lists are ordered by id, newest first, which is stable under concurrent inserts for keyset
batches (the CSV export) and good enough for offset pages (new rows push old ones down a page,
they never reorder them).
"""

from __future__ import annotations

import dataclasses
import datetime
import math
from collections.abc import AsyncIterator, Mapping, Sequence
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from engine.core import matching
from connectors import sql_models as models

DECISION = models.Decision.__table__
FIRM = models.Firm.__table__
NOTICE = models.Notice.__table__
EVENT = models.Event.__table__

PAGE_SIZE = 50
#: Rows per database round trip when streaming the CSV export.
CSV_BATCH = 500

VERDICTS = tuple(v.value for v in matching.Verdict)
APPROVALS = ("none", "pending", "approved", "rejected")


def firm_name() -> sa.ColumnElement[str]:
    """The firm's name out of its flat profile fields (JSON on SQLite, JSONB on PostgreSQL)."""
    return FIRM.c.fields["name"].as_string()


def firm_field(name: str) -> sa.ColumnElement[str]:
    """One flat profile field as text (contact.mobile, contact.email)."""
    return FIRM.c.fields[name].as_string()


def city_of(region: sa.ColumnElement[str]) -> sa.ColumnElement[str]:
    """The city (地级) a county code belongs to: its first four digits."""
    return sa.func.substr(region, 1, 4)


@dataclasses.dataclass(frozen=True)
class Page:
    """One page of a list: the rows, which page it is and how many rows match in all."""

    items: Sequence[Any]
    number: int
    size: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.size))

    @property
    def has_prev(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number < self.pages


def page_number(query: Mapping[str, str]) -> int:
    """The ?page= parameter, 1 when absent or nonsense."""
    try:
        return max(1, int(query.get("page", "1")))
    except ValueError:
        return 1


def _date(text: str, label: str, errors: list[str]) -> datetime.date | None:
    if not text:
        return None
    try:
        return datetime.date.fromisoformat(text)
    except ValueError:
        errors.append(f"{label}格式应为 YYYY-MM-DD：{text}")
        return None


@dataclasses.dataclass(frozen=True)
class DecisionFilters:
    """The match log's filters, as given in the query string (empty means "any")."""

    firm: str = ""
    clause: str = ""
    document: str = ""
    region: str = ""
    status: str = ""
    mode: str = ""
    approval: str = ""
    date_from: datetime.date | None = None
    date_to: datetime.date | None = None

    @classmethod
    def parse(cls, query: Mapping[str, str]) -> tuple[DecisionFilters, list[str]]:
        """Filters from a query string, and the problems found (in Chinese); bad values are ignored."""
        errors: list[str] = []
        text = {key: query.get(key, "").strip() for key in ("firm", "clause", "document", "region", "status", "mode", "approval")}
        if text["status"] and text["status"] not in VERDICTS:
            errors.append(f"未知的判定结果：{text['status']}")
            text["status"] = ""
        if text["approval"] and text["approval"] not in APPROVALS:
            errors.append(f"未知的审批状态：{text['approval']}")
            text["approval"] = ""
        if text["region"] and not text["region"].isdigit():
            errors.append(f"地区代码应为数字前缀：{text['region']}")
            text["region"] = ""
        since = _date(query.get("from", "").strip(), "起始日期", errors)
        until = _date(query.get("to", "").strip(), "截止日期", errors)
        return cls(**text, date_from=since, date_to=until), errors

    def as_query(self) -> dict[str, str]:
        """The non-empty filters as query parameters (for pagination and export links)."""
        values = {**{f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in ("date_from", "date_to")},
                  "from": self.date_from.isoformat() if self.date_from else "",
                  "to": self.date_to.isoformat() if self.date_to else ""}
        return {key: value for key, value in values.items() if value}

    def where(self, catalogue: Any) -> list[sa.ColumnElement[bool]]:
        """SQL conditions over DECISION joined with FIRM. Mode needs the catalogue (the table does not
        hold it); documents are matched on the cite, which always starts with the document's slug."""
        conditions: list[sa.ColumnElement[bool]] = []
        if self.firm:
            needle = self.firm.upper() if self.firm.isascii() else self.firm
            conditions.append(sa.or_(DECISION.c.uscc.contains(needle, autoescape=True), firm_name().contains(self.firm, autoescape=True)))
        if self.clause:
            conditions.append(DECISION.c.clause_id == self.clause)
        if self.document:
            conditions.append(DECISION.c.cite.startswith(f"{self.document}#", autoescape=True))
        if self.region:
            conditions.append(FIRM.c.region.startswith(self.region, autoescape=True))
        if self.status:
            conditions.append(DECISION.c.status == self.status)
        if self.mode:
            ids = [c.id for c in catalogue.clauses if c.mode == self.mode] if catalogue is not None else []
            conditions.append(DECISION.c.clause_id.in_(ids) if ids else sa.false())
        if self.approval == "none":
            conditions.append(DECISION.c.approval.is_(None))
        elif self.approval:
            conditions.append(DECISION.c.approval == self.approval)
        if self.date_from:
            conditions.append(DECISION.c.as_of >= self.date_from)
        if self.date_to:
            conditions.append(DECISION.c.as_of <= self.date_to)
        return conditions


@dataclasses.dataclass(frozen=True)
class DecisionRow:
    """One line of the match log."""

    id: int
    created_at: datetime.datetime
    as_of: datetime.date
    uscc: str
    firm_name: str | None
    region: str | None
    clause_id: str
    cite: str
    status: str
    amount: Decimal | None
    approval: str | None
    mobile: str | None = None
    email: str | None = None


def _decision_select(*extra: sa.ColumnElement[Any]) -> sa.Select:
    return sa.select(
        DECISION.c.id, DECISION.c.created_at, DECISION.c.as_of, DECISION.c.uscc, firm_name().label("firm_name"),
        FIRM.c.region, DECISION.c.clause_id, DECISION.c.cite, DECISION.c.status, DECISION.c.amount, DECISION.c.approval, *extra,
    ).select_from(DECISION.join(FIRM, FIRM.c.uscc == DECISION.c.uscc))


def _decision_row(row: Any) -> DecisionRow:
    values = row._asdict()
    values["created_at"] = models.as_utc(values["created_at"])
    return DecisionRow(**values)


async def decision_page(store: Any, filters: DecisionFilters, catalogue: Any, number: int, size: int = PAGE_SIZE) -> Page:
    """One page of the filtered match log, newest first."""
    conditions = filters.where(catalogue)
    count = sa.select(sa.func.count()).select_from(DECISION.join(FIRM, FIRM.c.uscc == DECISION.c.uscc)).where(*conditions)
    query = _decision_select().where(*conditions).order_by(DECISION.c.id.desc()).limit(size).offset((number - 1) * size)
    async with store.read() as connection:
        total = (await connection.execute(count)).scalar_one()
        rows = [_decision_row(r) for r in await connection.execute(query)]
    return Page(rows, number, size, total)


async def decision_batches(store: Any, filters: DecisionFilters, catalogue: Any, batch: int | None = None) -> AsyncIterator[list[DecisionRow]]:
    """The whole filtered match log, newest first, in batches read one at a time (keyset on id), so an
    export of any size holds one batch in memory and no read transaction stays open between batches."""
    batch = batch or CSV_BATCH
    conditions = filters.where(catalogue)
    contact = (firm_field("contact.mobile").label("mobile"), firm_field("contact.email").label("email"))
    before: int | None = None
    while True:
        query = _decision_select(*contact).where(*conditions)
        if before is not None:
            query = query.where(DECISION.c.id < before)
        async with store.read() as connection:
            rows = [_decision_row(r) for r in await connection.execute(query.order_by(DECISION.c.id.desc()).limit(batch))]
        if rows:
            yield rows
        if len(rows) < batch:
            return
        before = rows[-1].id


async def decision_detail(store: Any, decision_id: int) -> dict[str, Any] | None:
    """Everything stored on one decision, with the firm's name and region."""
    query = sa.select(DECISION, firm_name().label("firm_name"), FIRM.c.region.label("region")).select_from(
        DECISION.join(FIRM, FIRM.c.uscc == DECISION.c.uscc)).where(DECISION.c.id == decision_id)
    async with store.read() as connection:
        row = (await connection.execute(query)).first()
    if row is None:
        return None
    values = row._asdict()
    for key in ("created_at", "approval_at"):
        values[key] = models.as_utc(values[key])
    return values


async def decision_notice_ids(store: Any, decision_id: int) -> list[str]:
    """The notices a decision caused, oldest first."""
    query = sa.select(NOTICE.c.notice_id).where(NOTICE.c.decision_id == decision_id).order_by(NOTICE.c.id)
    async with store.read() as connection:
        return list((await connection.execute(query)).scalars())


@dataclasses.dataclass(frozen=True)
class FirmRow:
    """One line of the firm search."""

    uscc: str
    name: str | None
    region: str | None
    updated_at: datetime.datetime
    decisions: int


async def search_firms(store: Any, text: str, number: int, size: int = PAGE_SIZE) -> Page:
    """Firms whose USCC or name contains `text` (all firms when empty), most recently updated first."""
    conditions = []
    if text:
        needle = text.upper() if text.isascii() else text
        conditions.append(sa.or_(FIRM.c.uscc.contains(needle, autoescape=True), firm_name().contains(text, autoescape=True)))
    decisions = sa.select(sa.func.count()).where(DECISION.c.uscc == FIRM.c.uscc).scalar_subquery()
    query = (sa.select(FIRM.c.uscc, firm_name().label("name"), FIRM.c.region, FIRM.c.updated_at, decisions.label("decisions"))
             .where(*conditions).order_by(FIRM.c.updated_at.desc(), FIRM.c.uscc).limit(size).offset((number - 1) * size))
    async with store.read() as connection:
        total = (await connection.execute(sa.select(sa.func.count()).select_from(FIRM).where(*conditions))).scalar_one()
        rows = [FirmRow(r.uscc, r.name, r.region, models.as_utc(r.updated_at), r.decisions) for r in await connection.execute(query)]
    return Page(rows, number, size, total)


async def firm_region(store: Any, uscc: str) -> str | None:
    """The firm's region column (its county code)."""
    async with store.read() as connection:
        return (await connection.execute(sa.select(FIRM.c.region).where(FIRM.c.uscc == uscc))).scalar()


async def clause_decision_counts(store: Any, clause_id: str | None = None) -> dict[str, dict[str, int]]:
    """Clause id → decision status → how many decisions."""
    query = sa.select(DECISION.c.clause_id, DECISION.c.status, sa.func.count()).group_by(DECISION.c.clause_id, DECISION.c.status)
    if clause_id is not None:
        query = query.where(DECISION.c.clause_id == clause_id)
    counts: dict[str, dict[str, int]] = {}
    async with store.read() as connection:
        for clause, verdict, n in await connection.execute(query):
            counts.setdefault(clause, {})[verdict] = n
    return counts


async def clause_notice_counts(store: Any, clause_id: str | None = None) -> dict[str, dict[str, int]]:
    """Clause id → notice status → how many notices."""
    query = sa.select(NOTICE.c.clause_id, NOTICE.c.status, sa.func.count()).group_by(NOTICE.c.clause_id, NOTICE.c.status)
    if clause_id is not None:
        query = query.where(NOTICE.c.clause_id == clause_id)
    counts: dict[str, dict[str, int]] = {}
    async with store.read() as connection:
        for clause, state, n in await connection.execute(query):
            counts.setdefault(clause, {})[state] = n
    return counts


async def recent_decisions(store: Any, clause_id: str, limit: int = 20) -> list[DecisionRow]:
    """The clause's latest decisions of any status, newest first."""
    query = _decision_select().where(DECISION.c.clause_id == clause_id).order_by(DECISION.c.id.desc()).limit(limit)
    async with store.read() as connection:
        return [_decision_row(r) for r in await connection.execute(query)]


async def pending_rows(store: Any, clause_id: str | None) -> list[DecisionRow]:
    """Decisions waiting for 二次确认, oldest first (the order they should be worked through)."""
    query = _decision_select().where(DECISION.c.approval == "pending")
    if clause_id:
        query = query.where(DECISION.c.clause_id == clause_id)
    async with store.read() as connection:
        return [_decision_row(r) for r in await connection.execute(query.order_by(DECISION.c.id))]
