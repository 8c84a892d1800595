"""The console's aggregate reads on SQL: the figures behind the statistics page and the home page.

Every figure is a COUNT or SUM grouped in the database (no row is loaded to be counted in Python), with
the operator's scope in the same query. Months are China months ("YYYY-MM", UTC+8) of when a row was
recorded, computed by the database: `china_month` compiles to strftime on SQLite and to_char on
PostgreSQL (timestamps are stored in UTC on both).
"""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext import compiler as sa_compiler
from sqlalchemy.sql import functions

from connectors import sql_base
from connectors import sql_models as models
from engine.console.read_model import HomeCounts, StatCounts
from engine.core import notice_status
from engine.core.china_time import CHINA_TZ
from engine.core.event_status import EventStatus
from engine.core.scopes import Scope
from engine.firm_page import store as firm_page_store

DECISION = models.Decision.__table__
FIRM = models.Firm.__table__
NOTICE = models.Notice.__table__
EVENT = models.Event.__table__
RESPONSE = models.FirmResponse.__table__
S = notice_status.NoticeStatus

#: Hours China time is ahead of UTC (a fixed offset: no daylight saving).
_CHINA_HOURS = int(CHINA_TZ.utcoffset(None).total_seconds() // 3600)
#: Notice states in which a provider accepted the notice: the firm was reached, or at least sent to.
ACCEPTED = (S.SENT.value, S.DELIVERED.value, S.UNDELIVERED.value)


class china_month(functions.FunctionElement):  # noqa: N801 - reads as the SQL function it stands for
    """The China month ("YYYY-MM") of a UTC timestamp column."""

    type = sa.String()
    inherit_cache = True
    name = "china_month"


@sa_compiler.compiles(china_month)
def _month_postgresql(element: china_month, compiler: Any, **kw: Any) -> str:
    column = compiler.process(element.clauses, **kw)
    return f"to_char(({column} AT TIME ZONE 'UTC') + INTERVAL '{_CHINA_HOURS} hours', 'YYYY-MM')"


@sa_compiler.compiles(china_month, "sqlite")
def _month_sqlite(element: china_month, compiler: Any, **kw: Any) -> str:
    column = compiler.process(element.clauses, **kw)
    return f"strftime('%Y-%m', {column}, '+{_CHINA_HOURS} hours')"


def _granted() -> list[sa.ColumnElement[bool]]:
    """`met` decisions an operator did not reject at the 二次确认 gate."""
    return [DECISION.c.status == "met", sa.or_(DECISION.c.approval.is_(None), DECISION.c.approval != "rejected")]


def _amount(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def _latest_answers() -> sa.Subquery:
    """Each decision's latest answer from its firm (answers are appended; the latest stands)."""
    latest = sa.select(sa.func.max(RESPONSE.c.id).label("id")).group_by(RESPONSE.c.decision_id).subquery("latest")
    return (sa.select(RESPONSE.c.decision_id, RESPONSE.c.action, RESPONSE.c.at)
            .select_from(RESPONSE.join(latest, latest.c.id == RESPONSE.c.id)).subquery("answer"))


def _when(condition: sa.ColumnElement[bool], value: Any = 1) -> sa.ColumnElement[Any]:
    return sa.func.coalesce(sa.func.sum(sa.case((condition, value), else_=0)), 0)


class SqlConsoleStats:
    """The aggregate reads of SqlConsoleReadModel (it inherits them); `_store` is its SqlStorage."""

    _store: Any

    async def stat_counts(self, *, scope: Scope) -> StatCounts:
        scoped = sql_base.region_in(scope, FIRM.c.region)
        decisions = DECISION.join(FIRM, FIRM.c.uscc == DECISION.c.uscc)
        notices = NOTICE.join(FIRM, FIRM.c.uscc == NOTICE.c.uscc)
        n_month, d_month = china_month(NOTICE.c.created_at).label("month"), china_month(DECISION.c.created_at).label("month")
        answer = _latest_answers()
        a_month = china_month(answer.c.at).label("month")
        # Granted decisions whose firm's latest answer is 确认.
        answered = decisions.join(answer, answer.c.decision_id == DECISION.c.id)
        confirmed = [*_granted(), *scoped, answer.c.action == firm_page_store.CONFIRM]
        queries = {
            "by_clause": sa.select(DECISION.c.clause_id, DECISION.c.cite, sa.func.count(), sa.func.sum(DECISION.c.amount))
            .select_from(decisions).where(*_granted(), *scoped).group_by(DECISION.c.clause_id, DECISION.c.cite),
            "notices_by_clause": sa.select(NOTICE.c.clause_id, NOTICE.c.status, sa.func.count()).select_from(notices).where(*scoped)
            .group_by(NOTICE.c.clause_id, NOTICE.c.status),
            "by_region": sa.select(FIRM.c.region, sa.func.count(), sa.func.sum(DECISION.c.amount)).select_from(decisions)
            .where(*_granted(), *scoped).group_by(FIRM.c.region),
            "notices_by_region": sa.select(FIRM.c.region, NOTICE.c.status, sa.func.count()).select_from(notices).where(*scoped)
            .group_by(FIRM.c.region, NOTICE.c.status),
            "by_month": sa.select(d_month, sa.func.count(), sa.func.sum(DECISION.c.amount)).select_from(decisions)
            .where(*_granted(), *scoped).group_by(d_month),
            "notices_by_month": sa.select(n_month, NOTICE.c.status, sa.func.count()).select_from(notices).where(*scoped)
            .group_by(n_month, NOTICE.c.status),
            "confirmed_by_month": sa.select(a_month, sa.func.count()).select_from(answered).where(*confirmed).group_by(a_month),
            "matched": sa.select(sa.func.count()).select_from(decisions).where(*_granted(), *scoped),
            "notified": self._reached(decisions, scoped, NOTICE.c.status.in_(ACCEPTED)),
            "delivered": self._reached(decisions, scoped, NOTICE.c.status == S.DELIVERED.value),
            "confirmed": sa.select(sa.func.count()).select_from(answered).where(*confirmed),
        }
        async with self._store.read() as connection:
            rows = {name: (await connection.execute(query)).all() for name, query in queries.items()}
        return StatCounts(
            granted_by_clause=[(clause, cite, n, _amount(amount)) for clause, cite, n, amount in rows["by_clause"]],
            notices_by_clause=[(clause, status, n) for clause, status, n in rows["notices_by_clause"]],
            granted_by_region=[(region, n, _amount(amount)) for region, n, amount in rows["by_region"]],
            notices_by_region=[(region, status, n) for region, status, n in rows["notices_by_region"]],
            granted_by_month=[(month, n, _amount(amount)) for month, n, amount in rows["by_month"]],
            notices_by_month=[(month, status, n) for month, status, n in rows["notices_by_month"]],
            confirmed_by_month=[(month, n) for month, n in rows["confirmed_by_month"]],
            funnel=(rows["matched"][0][0], rows["notified"][0][0], rows["delivered"][0][0], rows["confirmed"][0][0]),
        )

    @staticmethod
    def _reached(decisions: sa.FromClause, scoped: list[sa.ColumnElement[bool]], state: sa.ColumnElement[bool]) -> sa.Select:
        """Granted decisions with at least one notice in `state`."""
        return (sa.select(sa.func.count(sa.distinct(DECISION.c.id)))
                .select_from(decisions.join(NOTICE, NOTICE.c.decision_id == DECISION.c.id)).where(*_granted(), *scoped, state))

    async def home_counts(self, day_start: datetime.datetime, month_start: datetime.datetime, *, scope: Scope) -> HomeCounts:
        scoped = sql_base.region_in(scope, FIRM.c.region)
        decisions = DECISION.join(FIRM, FIRM.c.uscc == DECISION.c.uscc)
        notices = NOTICE.join(FIRM, FIRM.c.uscc == NOTICE.c.uscc)
        today, month = DECISION.c.created_at >= day_start, DECISION.c.created_at >= month_start
        answer = _latest_answers()
        # An event is in a restricted scope through its firm; one whose firm is unknown only in ALL.
        events = EVENT.join(FIRM, FIRM.c.uscc == EVENT.c.uscc) if scoped else EVENT
        queries = {
            "notices": sa.select(NOTICE.c.status, _when(NOTICE.c.created_at >= day_start), sa.func.count()).select_from(notices)
            .where(NOTICE.c.created_at >= month_start, *scoped).group_by(NOTICE.c.status),
            "granted": sa.select(_when(today), _when(today, DECISION.c.amount), _when(month), _when(month, DECISION.c.amount),
                                 sa.func.count(), sa.func.coalesce(sa.func.sum(DECISION.c.amount), 0))
            .select_from(decisions).where(*_granted(), *scoped),
            "approvals": sa.select(sa.func.count()).select_from(decisions).where(DECISION.c.approval == "pending", *scoped),
            "objections": sa.select(sa.func.count()).select_from(decisions.join(answer, answer.c.decision_id == DECISION.c.id))
            .where(answer.c.action == firm_page_store.OBJECT, *scoped),
            "stuck": sa.select(_when(NOTICE.c.status == S.DEAD.value), _when(NOTICE.c.status == S.HELD.value)).select_from(notices)
            .where(NOTICE.c.status.in_((S.DEAD.value, S.HELD.value)), *scoped),
            "parked": sa.select(sa.func.count()).select_from(events).where(EVENT.c.status == EventStatus.FAILED.value, *scoped),
        }
        async with self._store.read() as connection:
            rows = {name: (await connection.execute(query)).all() for name, query in queries.items()}
        granted = rows["granted"][0]
        stuck = rows["stuck"][0]
        return HomeCounts(
            notices=[(status, int(today_n), int(month_n)) for status, today_n, month_n in rows["notices"]],
            granted_today=(int(granted[0]), _amount(granted[1]) or Decimal(0)),
            granted_month=(int(granted[2]), _amount(granted[3]) or Decimal(0)),
            granted_ever=(int(granted[4]), _amount(granted[5]) or Decimal(0)),
            approvals_waiting=rows["approvals"][0][0], objections_waiting=rows["objections"][0][0],
            dead_notices=int(stuck[0]), held_notices=int(stuck[1]), parked_events=rows["parked"][0][0],
        )
