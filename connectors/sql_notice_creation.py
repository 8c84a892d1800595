"""Creating notices on SQL: the notices newly stored decisions entitle, with their digest windows.

The layer above SqlNotices (connectors.sql_base names the layers): the layers that store decisions (the
二次确认 gate, the folds) call it inside their own transaction. It reads what the firms were told before,
asks engine.notices.notice_rules which notices that makes and when they fall due, and inserts them.
The notices' life after that (claims, the one status writer, opt-outs) is connectors.sql_notices';
this is the one place they begin.
"""

from __future__ import annotations

import datetime
import operator
from collections.abc import Collection, Sequence

import sqlalchemy as sa
from sqlalchemy.ext import asyncio as sa_asyncio

from connectors import sql_bulk, sql_notices
from connectors import sql_models as models
from engine.core import matching, notice_status
from engine.notices import notice_rules, outbox

_NOTICE = models.Notice.__table__
_PENDING = notice_status.NoticeStatus.PENDING.value
#: The columns a new notice is inserted with (the others start empty). Its decision's id first: a backfill
#: drafts its notices before its decisions have ids (connectors.sql_backfill), with the decision's place in
#: the batch there, swapped for the id once the batch's transaction has drawn them.
_INSERTED = ("decision_id", "notice_id", "uscc", "clause_id", "channel", "period", "attempts", "next_attempt_at",
             "created_at", "updated_at", "kind", "revision", "amount", "previous_amount", "previous_decision_id", "closes")
#: A notice's values for those columns, in that order (one C call instead of a getattr per column).
_inserted_values = operator.attrgetter(*_INSERTED)
#: Each status's stored text (NoticeStatus.value goes through the enum's descriptor).
_STATUS_TEXT = {status: status.value for status in notice_status.NoticeStatus}
#: The oldest pending, undigested notice per (firm, channel) of a list of firms, on PostgreSQL: one index
#: probe per firm and channel (ix_notice_firm_channel_status), whatever the planner's statistics say. With
#: a list of firms in `IN`, statistics older than a first backfill's inserts (autovacuum off, or not yet
#: run) made it scan every notice, or intersect the indexes on status and digest_id, for each batch:
#: 0.14–0.5 s a batch at 900,000 notices, growing with them, against 1.4 ms this way.
_OLDEST_WAITING_PG = sa.text("""
    SELECT f.uscc, c.channel, m.oldest
    FROM unnest(CAST(:firms AS varchar[])) AS f(uscc)
    CROSS JOIN unnest(CAST(:channels AS varchar[])) AS c(channel)
    CROSS JOIN LATERAL (
        SELECT min(n.created_at) AS oldest FROM notice AS n
        WHERE n.uscc = f.uscc AND n.channel = c.channel AND n.status = :pending AND n.digest_id IS NULL
    ) AS m
    WHERE m.oldest IS NOT NULL
""")
#: The key a repeated notice would repeat (inserting one again is skipped on PostgreSQL).
_NOTICE_KEY = ("uscc", "clause_id", "channel", "period", "revision")
#: New notices, one statement (PostgreSQL) or executemany (SQLite) per transaction.
NOTICES = sql_bulk.BulkInsert(_NOTICE, (*_INSERTED, "status"), conflict=_NOTICE_KEY, returning="notice_id")


def notice_row(notice: outbox.NoticeRecord) -> tuple[object, ...]:
    """A notice's values in NOTICES' columns."""
    return (*_inserted_values(notice), _STATUS_TEXT[notice.status])


#: What notice_rules.told_of reads of a firm's earlier notices.
_TOLD = (_NOTICE.c.uscc, _NOTICE.c.clause_id, _NOTICE.c.channel, _NOTICE.c.period, _NOTICE.c.revision,
         sa.cast(_NOTICE.c.amount, sa.Float).label("amount"), _NOTICE.c.decision_id)


class SqlNoticeCreation(sql_notices.SqlNotices):
    """Creates the notices stored decisions entitle, in the caller's transaction (see the module docstring)."""

    async def _insert_notices(
        self,
        connection: sa_asyncio.AsyncConnection,
        stored: Sequence[tuple[str, int, matching.Decision]],
        now: datetime.datetime,
    ) -> list[outbox.NoticeRecord]:
        """Insert the notices the stored decisions entitle (notice_rules.new_notices, given what the firms
        were told before), without their audit entries; return them in the order of `stored`."""
        if not any(notice_rules.notice_keys(decision) for _, _, decision in stored):
            return []
        firms = sorted({uscc for uscc, _, _ in stored})
        told = await self._told(connection, firms, {decision.clause_id for _, _, decision in stored})
        due = self.digest_due(await self._waiting_since(connection, firms), stored, now)
        created = notice_rules.new_notices(stored, told, now, self.hold_before(now), due)
        if not created:
            return []
        await self._extend_digest_windows(connection, created, due)
        inserted = await NOTICES.insert(connection, [notice_row(notice) for notice in created])
        if inserted is None:
            # SQLite: the single writer holds the database, so what was told cannot have changed since we read it.
            return created
        # PostgreSQL: another transaction (an approval, a backfill) may have told the same change meanwhile;
        # the unique key (firm, clause, channel, period, revision) turned that repeat into nothing at all.
        kept = set(inserted)
        return [notice for notice in created if notice.notice_id in kept]

    async def _told(
        self, connection: sa_asyncio.AsyncConnection, firms: Collection[str], clause_ids: Collection[str]
    ) -> dict[outbox.BenefitKey, outbox.Told]:
        """What these firms were told of these clauses (notice_rules.told_of their stored notices)."""
        return notice_rules.told_of(await connection.execute(
            sa.select(*_TOLD).where(_NOTICE.c.uscc.in_(sorted(firms)) & _NOTICE.c.clause_id.in_(sorted(clause_ids)))
        ))

    async def _waiting_since(
        self, connection: sa_asyncio.AsyncConnection, firms: Sequence[str]
    ) -> dict[tuple[str, str], datetime.datetime]:
        """Since when the oldest pending, undigested notice of each (firm, channel) of these firms has waited
        (nothing to read without a digest window)."""
        if self.digest_window is None:
            return {}
        if connection.dialect.name == "postgresql":
            oldest = await connection.execute(_OLDEST_WAITING_PG, {"firms": list(firms), "channels": list(outbox.CHANNELS),
                                                                   "pending": _PENDING})
        else:
            # `status || ''` and `digest_id || ''`, not the columns: with a long list of firms SQLite's planner (it
            # has no statistics) took the index on status or on digest_id instead of the firms' own, and read every
            # pending, undigested notice of the database for each batch — a first backfill grew quadratic (100,000
            # firms: 0.42 s a batch at the end instead of 0.005). Expressions cannot use those indexes; the firms
            # are the selective part.
            oldest = await connection.execute(
                sa.select(_NOTICE.c.uscc, _NOTICE.c.channel, sa.func.min(_NOTICE.c.created_at))
                .where(_NOTICE.c.uscc.in_(firms) & (_NOTICE.c.status.op("||")("") == _PENDING)
                       & _NOTICE.c.digest_id.op("||")("").is_(None))
                .group_by(_NOTICE.c.uscc, _NOTICE.c.channel)
            )
        return {(row[0], row[1]): models.as_utc(row[2]) for row in oldest}

    def digest_due(
        self,
        waiting_since: dict[tuple[str, str], datetime.datetime],
        stored: Sequence[tuple[str, int, matching.Decision]],
        now: datetime.datetime,
    ) -> dict[tuple[str, str], datetime.datetime]:
        """When the new notices of the stored decisions fall due (notice_rules.digest_schedule), given since
        when each (firm, channel) has had notices waiting."""
        if self.digest_window is None:
            return {}
        keys = [(uscc, channel) for uscc, _, decision in stored for channel, _ in notice_rules.notice_keys(decision)]
        return notice_rules.digest_schedule(waiting_since, keys, now, self.digest_window)

    async def _extend_digest_windows(
        self,
        connection: sa_asyncio.AsyncConnection,
        created: Sequence[outbox.NoticeRecord],
        due: dict[tuple[str, str], datetime.datetime],
    ) -> None:
        """Something new for a firm: its notices waiting on the same channel wait with the new ones."""
        keys = sorted({(n.uscc, n.channel) for n in created if n.status is notice_status.NoticeStatus.PENDING} & set(due))
        if not keys:
            return
        await connection.execute(
            sa.update(_NOTICE)
            .where(
                (_NOTICE.c.uscc == sa.bindparam("b_uscc")) & (_NOTICE.c.channel == sa.bindparam("b_channel"))
                & (_NOTICE.c.status == _PENDING) & _NOTICE.c.digest_id.is_(None)
            )
            .values(next_attempt_at=sa.bindparam("b_due")),
            [{"b_uscc": uscc, "b_channel": channel, "b_due": due[(uscc, channel)]} for uscc, channel in keys],
        )
