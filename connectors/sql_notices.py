"""The notice outbox on SQL: claims, the one status writer, opt-outs. Creating notices is the layer
above's, connectors.sql_notice_creation.

Claims use `FOR UPDATE SKIP LOCKED` on PostgreSQL, so several workers share the queue without
taking the same notice; on SQLite the single writer connection serialises claims.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext import asyncio as sa_asyncio

from connectors import sql_audit, sql_bulk, sql_firms
from connectors import sql_models as models
from engine.core import json_text, notice_status, records
from engine.notices import notice_rules, outbox, withholding

_NOTICE = models.Notice.__table__
_ATTEMPT = models.NoticeAttempt.__table__
#: A notice's attempts, a row per transition (the provider's response encoded here).
_ATTEMPTS = sql_bulk.BulkInsert(
    _ATTEMPT, ("notice_id", "kind", "outcome", "status_after", "provider_id", "response", "reason", "at"), encoded=("response",))
_OPT_OUT = models.ChannelOptOut.__table__
_FIRM = models.Firm.__table__
_PREFERENCE = models.FirmPreference.__table__
_DECISION = models.Decision.__table__
_DUE = sorted(s.value for s in notice_status.DUE)
#: Digests a claim on PostgreSQL looks at beyond those it wants, in case others are being claimed right then.
_SPARE_CANDIDATES = 8
#: Try the advisory lock of each (firm, channel) named, in order, in one round trip; true where taken.
_TRY_LOCKS = sa.text(
    "SELECT pg_try_advisory_xact_lock(hashtextextended(name, 0)) FROM unnest(CAST(:names AS text[])) WITH ORDINALITY AS t(name, n) ORDER BY n"
)


def _record(row: Any) -> outbox.NoticeRecord:
    return outbox.NoticeRecord(
        notice_id=row.notice_id,
        uscc=row.uscc,
        clause_id=row.clause_id,
        channel=row.channel,
        period=row.period,
        decision_id=row.decision_id,
        status=notice_status.NoticeStatus(row.status),
        attempts=row.attempts,
        next_attempt_at=models.as_utc(row.next_attempt_at),
        lease_until=models.as_utc(row.lease_until),
        provider_id=row.provider_id,
        message=row.message,
        reason=row.reason,
        created_at=models.as_utc(row.created_at),
        updated_at=models.as_utc(row.updated_at),
        kind=row.kind,
        revision=row.revision,
        amount=None if row.amount is None else float(row.amount),
        previous_amount=None if row.previous_amount is None else float(row.previous_amount),
        previous_decision_id=row.previous_decision_id,
        closes=row.closes,
        digest_id=row.digest_id,
    )


class SqlNotices(sql_audit.SqlAudit, outbox.NoticeStore):
    """NoticeStore on SQL; every change appends to the audit chain in the same transaction."""

    async def claim_due_digests(
        self,
        now: datetime.datetime,
        limit: int,
        lease: datetime.timedelta,
        channels: Sequence[str] = outbox.CHANNELS,
    ) -> list[outbox.Digest]:
        due_now = (
            sa.select(_NOTICE.c.uscc, _NOTICE.c.channel, _NOTICE.c.digest_id)
            .where(
                _NOTICE.c.status.in_(_DUE),
                _NOTICE.c.next_attempt_at <= now,
                _NOTICE.c.channel.in_(list(channels)),
            )
            .order_by(_NOTICE.c.next_attempt_at, _NOTICE.c.id)
        )
        claimed: list[outbox.Digest] = []
        async with self._write() as connection:
            # Candidates first (a firm's channel and digest each, oldest due first), then all their notices in
            # one read, and every claim in one statement: a digest is claimed by one worker whole.
            keys: dict[tuple[str, str, str | None], None] = {}  # ordered, distinct
            # A few spare candidates on PostgreSQL: another claimer (another worker, or this one's next SMS slot)
            # may hold the first ones' locks, or have claimed them since they were read, and the next due digest
            # should be taken instead of nothing.
            wanted = limit if self.is_sqlite else limit + _SPARE_CANDIDATES
            for uscc, channel, digest_id in (await connection.execute(due_now.limit(max(limit * 4, 4 * wanted)))).all():
                keys.setdefault((uscc, channel, digest_id))
                if len(keys) >= wanted:
                    break
            candidates = list(keys)
            if not self.is_sqlite:  # SQLite's single writer: nothing else claims while this transaction reads
                candidates = await self._lock_due(connection, candidates, limit, now)
            claimed = await self._due_digests(connection, candidates, now, lease)
            if claimed:
                await connection.execute(
                    sa.update(_NOTICE).where(_NOTICE.c.notice_id == sa.bindparam("claimed_id")).values(
                        status=notice_status.NoticeStatus.SENDING.value, lease_until=now + lease, updated_at=now,
                        digest_id=sa.bindparam("claimed_digest")),
                    [{"claimed_id": n.notice_id, "claimed_digest": digest[0].digest_id} for digest in claimed for n in digest],
                )
                await self._audit(connection, [notice_rules.claim_audit(n.notice_id, now + lease)
                                               for digest in claimed for n in digest])
        return claimed

    async def _lock_due(
        self, connection: sa_asyncio.AsyncConnection, candidates: Sequence[tuple[str, str, str | None]], limit: int,
        now: datetime.datetime,
    ) -> list[tuple[str, str, str | None]]:
        """The first `limit` candidates whose (firm, channel) this transaction could lock (PostgreSQL advisory
        locks, held to its end) and that are still due once locked: the first `limit` tried at once, the spares
        only as needed (a spare locked needlessly would keep another claimer from it). A candidate another
        claimer holds is skipped, and so is one another claimed and committed after it was read (its lock is
        free again, but its notices are no longer due: seen by a statement run after the lock was taken)."""
        chosen: list[tuple[str, str, str | None]] = []
        tried = 0
        while len(chosen) < limit and tried < len(candidates):
            chunk = candidates[tried:tried + limit - len(chosen)]
            tried += len(chunk)
            got = (await connection.execute(_TRY_LOCKS, {"names": [f"digest:{uscc}:{channel}" for uscc, channel, _ in chunk]})).scalars()
            locked = [key for key, ok in zip(chunk, got) if ok]  # not ok: another is claiming that digest now
            if locked:
                still_due = sa.select(_NOTICE.c.uscc, _NOTICE.c.channel, _NOTICE.c.digest_id).distinct().where(
                    sa.tuple_(_NOTICE.c.uscc, _NOTICE.c.channel).in_(sorted({(u, c) for u, c, _ in locked}))
                    & _NOTICE.c.status.in_(_DUE) & (_NOTICE.c.next_attempt_at <= now)
                )
                due = {tuple(row) for row in await connection.execute(still_due)}
                chosen += [key for key in locked if key in due]
        return chosen

    async def _due_digests(
        self,
        connection: sa_asyncio.AsyncConnection,
        candidates: Sequence[tuple[str, str, str | None]],
        now: datetime.datetime,
        lease: datetime.timedelta,
    ) -> list[outbox.Digest]:
        """The candidates still due, each as the digest to claim (not yet written), in one read of their notices
        (on PostgreSQL locked, waiting for a fold writing them)."""
        if not candidates:
            return []
        # Only the (firm, channel) pairs this worker holds: another's rows are never locked here.
        pairs = sorted({(uscc, channel) for uscc, channel, _ in candidates})
        members = sa.select(_NOTICE).where(
            sa.tuple_(_NOTICE.c.uscc, _NOTICE.c.channel).in_(pairs) & _NOTICE.c.status.in_(_DUE)
        ).order_by(_NOTICE.c.id)
        if not self.is_sqlite:
            # Wait for, rather than skip, rows a fold is writing (it moves the firm's due time): the
            # advisory lock already keeps other claimers out, and a skipped row would go in a second message.
            members = members.with_for_update()
        pools: dict[tuple[str, str, str | None], list[outbox.NoticeRecord]] = {}
        for row in await connection.execute(members):
            notice = _record(row)
            pools.setdefault((notice.uscc, notice.channel, notice.digest_id), []).append(notice)
        return [
            notice_rules.claimed_digest(pools[key], now, lease)
            for key in candidates
            if any(n.next_attempt_at <= now for n in pools.get(key, []))
        ]

    async def transition_digest(
        self,
        digest: Sequence[outbox.NoticeRecord],
        change: outbox.Transition,
        *,
        expect: notice_status.NoticeStatus | None = None,
        lease: datetime.datetime | None = None,
    ) -> list[outbox.NoticeRecord]:
        now = datetime.datetime.now(datetime.UTC)
        ids = [n.notice_id for n in digest]
        async with self._write() as connection:
            query = sa.select(_NOTICE).where(_NOTICE.c.notice_id.in_(ids)).order_by(_NOTICE.c.id)
            current = [_record(row) for row in await connection.execute(query if self.is_sqlite else query.with_for_update())]
            done = notice_rules.digest_transitions(current, change, now, expect=expect, lease=lease)
            await self.write_transitions(connection, done)
        return [d.notice for d in done]

    async def transition_digests(
        self, changes: Sequence[outbox.DigestChange], *, expect: notice_status.NoticeStatus | None = None
    ) -> list[list[outbox.NoticeRecord] | notice_status.IllegalTransition]:
        """Every digest's change in one transaction: one read of their notices, one statement per table written."""
        ids = [n.notice_id for item in changes for n in item.digest]
        if not ids:
            return [[] for _ in changes]
        now = datetime.datetime.now(datetime.UTC)
        async with self._write() as connection:
            query = sa.select(_NOTICE).where(_NOTICE.c.notice_id.in_(ids)).order_by(_NOTICE.c.id)
            current = {r.notice_id: r for r in map(_record, await connection.execute(query if self.is_sqlite else query.with_for_update()))}
            done = notice_rules.batch_transitions(current, changes, now, expect=expect)
            await self.write_transitions(connection, [t for d in done if not isinstance(d, Exception) for t in d])
        return [d if isinstance(d, Exception) else [t.notice for t in d] for d in done]

    async def delivery_context(self, usccs: Sequence[str]) -> dict[str, outbox.FirmContext]:
        """One read for the whole batch: the firms, their decisions, opt-outs and SMS choices (a query each)."""
        firms = sorted(set(usccs))
        if not firms:
            return {}
        async with self._read() as connection:
            profiles = {r.uscc: r for r in await connection.execute(sa.select(_FIRM).where(_FIRM.c.uscc.in_(firms)))}
            decisions: dict[str, list[records.StoredDecision]] = {}
            for stored in await self._decisions_where(connection, _DECISION.c.uscc.in_(firms)):
                decisions.setdefault(stored.uscc, []).append(stored)
            opted_out: dict[str, dict[str, datetime.datetime]] = {}
            for row in await connection.execute(sa.select(_OPT_OUT).where(_OPT_OUT.c.uscc.in_(firms))):
                opted_out.setdefault(row.uscc, {})[row.channel] = models.as_utc(row.at)
            preferences = dict((await connection.execute(
                sa.select(_PREFERENCE.c.uscc, _PREFERENCE.c.sms).where(_PREFERENCE.c.uscc.in_(firms))
            )).all())
        return {
            uscc: outbox.FirmContext(
                sql_firms.firm_record(profiles[uscc]) if uscc in profiles else None, decisions.get(uscc, []),
                opted_out.get(uscc, {}), preferences.get(uscc) or outbox.SMS_ALL,
            )
            for uscc in firms
        }

    async def digest_notices(self, digest_id: str) -> list[outbox.NoticeRecord]:
        async with self._read() as connection:
            rows = await connection.execute(sa.select(_NOTICE).where(_NOTICE.c.digest_id == digest_id).order_by(_NOTICE.c.id))
            return [_record(row) for row in rows]

    async def expired_leases(self, now: datetime.datetime) -> list[outbox.NoticeRecord]:
        query = sa.select(_NOTICE).where(_NOTICE.c.status == notice_status.NoticeStatus.SENDING.value, _NOTICE.c.lease_until < now)
        async with self._read() as connection:
            return [_record(row) for row in await connection.execute(query)]

    async def transition_notice(
        self,
        notice_id: str,
        change: outbox.Transition,
        *,
        expect: notice_status.NoticeStatus | None = None,
        lease: datetime.datetime | None = None,
    ) -> outbox.NoticeRecord:
        now = datetime.datetime.now(datetime.UTC)
        async with self._write() as connection:
            query = sa.select(_NOTICE).where(_NOTICE.c.notice_id == notice_id)
            notice = _record((await connection.execute(query if self.is_sqlite else query.with_for_update())).one())
            done = notice_rules.transition(notice, change, now, expect=expect, lease=lease)
            new = done.notice
            await connection.execute(
                sa.update(_NOTICE).where(_NOTICE.c.notice_id == notice_id).values(
                    status=new.status.value, updated_at=new.updated_at, reason=new.reason, lease_until=new.lease_until,
                    attempts=new.attempts, next_attempt_at=new.next_attempt_at, provider_id=new.provider_id,
                    message=None if new.message is None else dict(new.message), digest_id=new.digest_id,
                )
            )
            await self._audit(connection, [done.audit])
            a = done.attempt
            await connection.execute(
                sa.insert(_ATTEMPT).values(
                    notice_id=a.notice_id, kind=a.kind, outcome=a.outcome, status_after=a.status_after.value,
                    provider_id=a.provider_id, response=a.response, reason=a.reason, at=a.at,
                )
            )
        return new

    async def wait_for_contact(self, notice: outbox.NoticeRecord) -> outbox.NoticeRecord:
        now = datetime.datetime.now(datetime.UTC)
        firm = sa.select(_FIRM.c.fields).where(_FIRM.c.uscc == notice.uscc)
        query = sa.select(_NOTICE).where(_NOTICE.c.notice_id == notice.notice_id)
        async with self._write() as connection:
            if not self.is_sqlite:
                # The firm's row first, shared: a fold of the firm holds it (FOR UPDATE) until it commits, so
                # this reads what that fold wrote, or the fold starts after and sees this notice waiting.
                # (Firm before notice, the order a fold takes them in.) SQLite's single writer serialises both.
                firm, query = firm.with_for_update(read=True), query.with_for_update()
            fields = (await connection.execute(firm)).scalar_one_or_none() or {}
            current = _record((await connection.execute(query)).one())
            done = withholding.waiting(current, fields, now, lease=notice.lease_until)
            await self.write_transitions(connection, [done])
        return done.notice

    async def waiting_notices(self, connection: sa_asyncio.AsyncConnection, uscc: str) -> list[outbox.NoticeRecord]:
        """The firm's notices waiting for its address or consent, in the caller's transaction (locked on
        PostgreSQL until it ends: the caller is about to wake them). By firm, on its index."""
        query = sa.select(_NOTICE).where(
            (_NOTICE.c.uscc == uscc) & (_NOTICE.c.status == notice_status.NoticeStatus.WAITING.value)
        ).order_by(_NOTICE.c.id)
        if not self.is_sqlite:
            query = query.with_for_update()
        return [_record(row) for row in await connection.execute(query)]

    async def write_transitions(self, connection: sa_asyncio.AsyncConnection, done: Sequence[notice_rules.Transitioned]) -> None:
        """Save status changes notice_rules made, in the caller's transaction: the notices, their timeline
        lines and audit entries (one statement per table however many)."""
        if not done:
            return
        await connection.execute(
            sa.update(_NOTICE).where(_NOTICE.c.notice_id == sa.bindparam("b_notice_id")).values(
                status=sa.bindparam("b_status"), updated_at=sa.bindparam("b_updated_at"), reason=sa.bindparam("b_reason"),
                lease_until=sa.bindparam("b_lease_until"), attempts=sa.bindparam("b_attempts"),
                next_attempt_at=sa.bindparam("b_next_attempt_at"), provider_id=sa.bindparam("b_provider_id"),
                message=sa.bindparam("b_message"), digest_id=sa.bindparam("b_digest_id"),
            ),
            [
                {"b_notice_id": n.notice_id, "b_status": n.status.value, "b_updated_at": n.updated_at, "b_reason": n.reason,
                 "b_lease_until": n.lease_until, "b_attempts": n.attempts, "b_next_attempt_at": n.next_attempt_at,
                 "b_provider_id": n.provider_id, "b_message": None if n.message is None else dict(n.message),
                 "b_digest_id": n.digest_id}
                for n in (change.notice for change in done)
            ],
        )
        await _ATTEMPTS.insert(connection, [
            (a.notice_id, a.kind, a.outcome, a.status_after.value, a.provider_id, json_text.encode(a.response), a.reason, a.at)
            for a in (change.attempt for change in done)
        ])
        await self._audit(connection, [change.audit for change in done])

    async def get_notice(self, notice_id: str) -> outbox.NoticeRecord | None:
        async with self._read() as connection:
            row = (await connection.execute(sa.select(_NOTICE).where(_NOTICE.c.notice_id == notice_id))).first()
        return _record(row) if row else None

    async def find_notice_by_provider_id(self, provider_id: str) -> outbox.NoticeRecord | None:
        async with self._read() as connection:
            row = (await connection.execute(sa.select(_NOTICE).where(_NOTICE.c.provider_id == provider_id))).first()
        return _record(row) if row else None

    async def firm_notices(self, uscc: str) -> list[outbox.NoticeRecord]:
        async with self._read() as connection:
            rows = await connection.execute(sa.select(_NOTICE).where(_NOTICE.c.uscc == uscc).order_by(_NOTICE.c.id))
            return [_record(row) for row in rows]

    async def notice_attempts(self, notice_id: str) -> list[outbox.AttemptRecord]:
        query = sa.select(_ATTEMPT).where(_ATTEMPT.c.notice_id == notice_id).order_by(_ATTEMPT.c.id)
        async with self._read() as connection:
            return [
                outbox.AttemptRecord(
                    r.notice_id, r.kind, r.outcome, notice_status.NoticeStatus(r.status_after), r.provider_id, r.response, r.reason, models.as_utc(r.at)
                )
                for r in await connection.execute(query)
            ]

    async def count_notices(self) -> dict[str, int]:
        query = sa.select(_NOTICE.c.status, sa.func.count()).group_by(_NOTICE.c.status)
        async with self._read() as connection:
            return {row[0]: row[1] for row in await connection.execute(query)}

    async def opt_out(self, uscc: str, channel: str, source: str, at: datetime.datetime) -> None:
        async with self._write() as connection:
            await connection.execute(
                self.insert(_OPT_OUT)
                .values(uscc=uscc, channel=channel, source=source, at=at)
                .on_conflict_do_nothing(index_elements=["uscc", "channel"])
            )

    async def opt_outs(self, uscc: str) -> dict[str, datetime.datetime]:
        async with self._read() as connection:
            rows = await connection.execute(sa.select(_OPT_OUT.c.channel, _OPT_OUT.c.at).where(_OPT_OUT.c.uscc == uscc))
            return {row.channel: models.as_utc(row.at) for row in rows}

    async def sms_preference(self, uscc: str) -> str:
        async with self._read() as connection:
            found = (await connection.execute(sa.select(_PREFERENCE.c.sms).where(_PREFERENCE.c.uscc == uscc))).scalar()
        return found or outbox.SMS_ALL

    async def set_sms_preference(self, uscc: str, preference: str, actor: str, at: datetime.datetime) -> None:
        entry = withholding.preference_audit(uscc, preference, actor)
        async with self._write() as connection:
            await connection.execute(
                self.insert(_PREFERENCE).values(uscc=uscc, sms=preference, updated_at=at)
                .on_conflict_do_update(index_elements=["uscc"], set_={"sms": preference, "updated_at": at})
            )
            if preference == outbox.SMS_NONE:
                await connection.execute(
                    self.insert(_OPT_OUT).values(uscc=uscc, channel="sms", source=f"firm page ({actor})"[:200], at=at)
                    .on_conflict_do_nothing(index_elements=["uscc", "channel"])
                )
            else:
                await connection.execute(sa.delete(_OPT_OUT).where((_OPT_OUT.c.uscc == uscc) & (_OPT_OUT.c.channel == "sms")))
            await self._audit(connection, [entry])

    async def firms_with_mobile(self, mobile_e164: str) -> list[str]:
        query = sa.select(_FIRM.c.uscc).where(_FIRM.c.fields["contact.mobile"].as_string() == mobile_e164).order_by(_FIRM.c.uscc)
        async with self._read() as connection:
            return list((await connection.execute(query)).scalars())
