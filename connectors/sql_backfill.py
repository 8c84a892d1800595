"""Backfill storage on SQL: key-range batches read, changes written per batch.

Reads are keyset-paginated on the firm's primary key, so a batch costs the same at the first firm
and the millionth and nothing is held beyond the batch in hand. The latest decision per clause
is picked by the database (``max(id)`` over the ``(uscc, clause_id, id)`` index); explanations
are never read. Writes lock the batch's firm rows (PostgreSQL), so the pipeline cannot fold an
event for one of them between the check that nothing moved and the insert.

A batch's rows, notices and audit members are drafted before its write transaction, from what the
database says then (gates, what the firms were told, their notices waiting for a digest), with each
decision's place in the batch standing for its id. Under the write lock those are read again: if
nothing moved, the draft is written with the ids drawn then; otherwise the batch is recorded from
what is read under the lock, as the pipeline records decisions. On SQLite, where writers take turns,
this is what lets several worker processes write at once: each holds the lock for its inserts alone
(10,000 firms: 3.4 of a run's 7.5 s, against 7.6 of 10-12 s when the lock covered the drafting too).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
from collections.abc import AsyncIterator, Collection, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext import asyncio as sa_asyncio

from connectors import sql_bulk, sql_fold_group, sql_folding, sql_notice_creation
from connectors import sql_models as models
from engine import constants
from engine.audit import summaries
from engine.backfill import store
from engine.core import matching
from engine.judging import firm_input, recording
from engine.notices import approvals, notice_rules, outbox

_FIRM = models.Firm.__table__
_DECISION = models.Decision.__table__
_EXPLANATION = models.Explanation.__table__
_NOTICE = models.Notice.__table__
_DESIGNATION = models.RegionDesignation.__table__
_SETTING = models.ClauseSetting.__table__
_OPENING = models.WindowOpening.__table__
_CHECK = models.WindowCheck.__table__
_RUN = models.BackfillRun.__table__
_BATCH = models.BackfillBatch.__table__
#: The one row of window_check.
_OPENINGS = "openings"
#: Key of the PostgreSQL advisory lock one window check holds ("pp-windows" as a number).
_WINDOWS_LOCK = int.from_bytes(b"pp-windows", "big") >> 17


_NO_DESIGNATIONS: frozenset[matching.Designation] = frozenset()


def _decided_on(clause_ids: Sequence[str]) -> sa.ColumnElement[bool]:
    """A decision on one of these clauses, beside a condition on a batch's firms: ``clause_id || ''``, not the
    column, so that no index on clause_id can serve it. PostgreSQL's planner, its statistics behind a bulk
    load, took the index on clause_id and read every decision of those clauses for each batch (6.8 s a query
    at 11 million decisions, growing with them, against 25 ms through the firms' (uscc, clause_id, id)
    index): a first backfill of a million firms was not linear. The firms are the selective part."""
    return _DECISION.c.clause_id.op("||")("").in_(clause_ids)


@dataclasses.dataclass
class _Draft:
    """A backfill batch made before its write transaction (SqlBackfill._draft): what it was made from, and its
    rows bound for the database, where a decision's id (in its row, its notices' rows and the audit members)
    is still its place in the batch."""

    firms: list[str]
    clause_ids: list[str]
    gates: dict[str, bool]
    told: dict[outbox.BenefitKey, outbox.Told]
    waiting_since: dict[tuple[str, str], dt.datetime]
    due: dict[tuple[str, str], dt.datetime]
    decision_rows: list[Sequence[Any]]
    #: The batch's explanations not yet stored when it was drafted, each once.
    explanations: list[firm_input.Encoded]
    pending: int
    notices: list[outbox.NoticeRecord]
    notice_rows: list[Sequence[Any]]
    decision_members: list[dict[str, Any]]
    notice_members: list[dict[str, Any]]


class SqlBackfill(sql_folding.SqlFolding, store.BackfillStore):
    """BackfillStore on SQL; changes are recorded the way the pipeline records them."""

    #: Rows this store's backfill batches have written, and how many of them when it last ran ANALYZE.
    _rows_written = 0
    _rows_when_analyzed = 0

    async def firm_count(self) -> int:
        async with self._read() as connection:
            return (await connection.execute(sa.select(sa.func.count()).select_from(_FIRM))).scalar_one()

    async def batch_bounds(self, size: int) -> AsyncIterator[tuple[str, str]]:
        after = ""
        while True:
            async with self._read() as connection:
                # The size-th key after `after`, or the last one: one index walk per batch.
                last = (
                    await connection.execute(
                        sa.select(sa.func.max(sa.column("uscc"))).select_from(
                            sa.select(_FIRM.c.uscc).where(_FIRM.c.uscc > after).order_by(_FIRM.c.uscc).limit(size).subquery()
                        )
                    )
                ).scalar()
            if last is None:
                return
            yield after, last
            after = last

    async def firm_batch(
        self, after: str, upto: str, clause_ids: Collection[str], grant_clause_ids: Collection[str] = ()
    ) -> store.Batch:
        in_range = (_DECISION.c.uscc > after) & (_DECISION.c.uscc <= upto)
        clauses = sorted(clause_ids)
        async with self._read() as connection:
            firms = (
                await connection.execute(
                    sa.select(_FIRM.c.uscc, _FIRM.c.fields, _FIRM.c.events_applied, _FIRM.c.region)
                    .where((_FIRM.c.uscc > after) & (_FIRM.c.uscc <= upto))
                    .order_by(_FIRM.c.uscc)
                )
            ).all()
            latest = (
                sa.select(sa.func.max(_DECISION.c.id))
                .where(in_range & _decided_on(clauses))
                .group_by(_DECISION.c.uscc, _DECISION.c.clause_id)
            )
            priors = await connection.execute(
                sa.select(_DECISION.c.id, _DECISION.c.uscc, _DECISION.c.clause_id, _DECISION.c.status,
                          _DECISION.c.rule_version, _DECISION.c.amount)
                .where(_DECISION.c.id.in_(latest))
            )
            by_firm: dict[str, dict[str, firm_input.Prior]] = {}
            for row in priors:
                by_firm.setdefault(row.uscc, {})[row.clause_id] = firm_input.Prior(
                    row.id, matching.Verdict(row.status), row.rule_version, None if row.amount is None else float(row.amount)
                )
            grants: dict[str, list[firm_input.Grant]] = {}
            if grant_clause_ids:
                rows = await connection.execute(
                    sa.select(_DECISION.c.uscc, _DECISION.c.as_of, _DECISION.c.clause_id, _DECISION.c.amount)
                    .where(in_range & _decided_on(sorted(grant_clause_ids))
                           & (_DECISION.c.status == matching.Verdict.MET.value) & _DECISION.c.amount.is_not(None))
                    .order_by(_DECISION.c.id)
                )
                for row in rows:
                    grants.setdefault(row.uscc, []).append(firm_input.Grant(row.as_of, row.clause_id, float(row.amount)))
            regions = {row.region for row in firms if row.region}
            designated: dict[str, set[matching.Designation]] = {}
            if regions:
                for row in await connection.execute(
                    sa.select(_DESIGNATION.c.county, _DESIGNATION.c.kind, _DESIGNATION.c.year)
                    .where(_DESIGNATION.c.county.in_(sorted(regions)))
                ):
                    designated.setdefault(row.county, set()).add(matching.Designation(row.kind, row.year))
            told = notice_rules.told_of(await connection.execute(
                sa.select(_NOTICE.c.uscc, _NOTICE.c.clause_id, _NOTICE.c.channel, _NOTICE.c.period, _NOTICE.c.revision,
                          sa.cast(_NOTICE.c.amount, sa.Float).label("amount"), _NOTICE.c.decision_id)
                .where((_NOTICE.c.uscc > after) & (_NOTICE.c.uscc <= upto) & _NOTICE.c.clause_id.in_(clauses))
            ))
            gated = frozenset(
                (await connection.execute(sa.select(_SETTING.c.clause_id).where(_SETTING.c.needs_approval.is_(True)))).scalars()
            )
        by_county = {county: frozenset(found) for county, found in designated.items()}
        none: dict[str, firm_input.Prior] = {}
        return store.Batch(
            # Positional and unpacked: attribute access on result rows costs more than the rest here.
            firms=[
                firm_input.FirmInput(uscc, fields, version, by_firm.get(uscc, none), tuple(grants.get(uscc, ())),
                                by_county.get(region, _NO_DESIGNATIONS))
                for uscc, fields, version, region in firms
            ],
            told=told,
            gated=gated,
        )

    async def record_backfill(self, changes: Sequence[firm_input.Change], as_of: dt.date, actor: str) -> store.Recorded:
        if not changes:
            return store.Recorded()
        if changes[0].encoded is None:
            # Judged in this process (as the backfill's workers do): encoded here, each distinct decision once.
            changes = firm_input.encoded(changes)
        # Everything that does not need the write lock is made before taking it, so that the processes
        # writing their batches side by side hold it in turn only for what must be done under it.
        draft = await self._draft(changes, as_of)
        if draft.explanations and not self.is_sqlite:
            # Committed in a transaction of their own: processes judging alike firms store the same new
            # texts at once, and an insert of one waits for another transaction's uncommitted copy, which in
            # the batch's transaction would have made each writer wait for the other's whole batch. A text
            # stored for a batch that then fails is kept, unreferenced: it is named by its content.
            async with self._write() as connection:
                await sql_folding.store_explanations(connection, draft.explanations)
            draft.explanations = []
        async with self._write() as connection:
            query = sa.select(_FIRM.c.uscc, _FIRM.c.events_applied).where(_FIRM.c.uscc.in_(draft.firms)).order_by(_FIRM.c.uscc)
            versions = dict((await connection.execute(query if self.is_sqlite else query.with_for_update())).all())
            latest = dict(
                ((row.uscc, row.clause_id), row.latest)
                for row in await connection.execute(
                    sa.select(_DECISION.c.uscc, _DECISION.c.clause_id, sa.func.max(_DECISION.c.id).label("latest"))
                    .where(_DECISION.c.uscc.in_(draft.firms) & _decided_on(draft.clause_ids))
                    .group_by(_DECISION.c.uscc, _DECISION.c.clause_id)
                )
            )
            moved = {
                change.uscc
                for change in changes
                if versions.get(change.uscc) != change.firm_version
                or latest.get((change.uscc, change.decision.clause_id)) != change.prior_id
            }
            keep = [change for change in changes if change.uscc not in moved]
            if not keep:
                return store.Recorded(skipped_firms=tuple(sorted(moved)))
            if not moved and await self._draft_holds(connection, draft):
                decisions, pending, notices = await self._write_draft(connection, draft, actor, as_of)
            else:
                # What the draft was made from has changed (a firm moved, a gate was set, a notice was told or
                # sent meanwhile): record the batch from what is read now, as the pipeline records decisions.
                batch = sql_fold_group.DecisionBatch(
                    [(change.uscc, change.decision) for change in keep], as_of, None,
                    encoded=[firm_input.encoding(c) for c in keep],
                )
                # One audit entry for the batch, a hash over what it recorded (engine.audit.summaries).
                [records], notices = await self.record_batches(connection, [batch], actor, summarised=True)
                decisions, pending = len(records), sum(1 for r in records if r.approval == "pending")
        await self._keep_statistics(decisions + notices)
        return store.Recorded(decisions=decisions, notices=notices, pending_approval=pending, skipped_firms=tuple(sorted(moved)))

    async def _draft(self, changes: Sequence[firm_input.Change], as_of: dt.date) -> _Draft:
        """The batch's rows, notices and audit members as record_batches would make them, from what is stored
        now (read outside any write transaction); a decision's id is its place in the batch for now.
        `changes` come encoded (firm_input.encoded)."""
        firms = sorted({change.uscc for change in changes})
        clause_ids = sorted({change.decision.clause_id for change in changes})
        now = sql_folding.utc_now()
        encoded = [firm_input.encoding(c) for c in changes]
        explained = {e.explanation_sha256: e for e in encoded}
        async with self._read() as connection:
            gates = await self._gates(connection)
            told = await self._told(connection, firms, clause_ids)
            waiting = await self._waiting_since(connection, firms)
            stored = set((await connection.execute(
                sa.select(_EXPLANATION.c.sha256).where(_EXPLANATION.c.sha256.in_(sorted(explained)))
            )).scalars())
            dialect = connection.dialect
        approval = [approvals.gated(c.decision, gates) for c in changes] if gates else [None] * len(changes)
        rows = [
            sql_folding.decision_row(place, c.uscc, c.decision, e, as_of, None, now, state)
            for place, (c, e, state) in enumerate(zip(changes, encoded, approval, strict=True))
        ]
        notified = [(c.uscc, place, c.decision) for place, (c, state) in enumerate(zip(changes, approval)) if state is None]
        due = self.digest_due(waiting, notified, now)
        notices = notice_rules.new_notices(notified, told, now, self.hold_before(now), due)
        return _Draft(
            firms=firms, clause_ids=clause_ids, gates=gates, told=told, waiting_since=waiting, due=due,
            decision_rows=sql_folding.DECISIONS.bind(dialect, rows),
            explanations=[e for sha256, e in explained.items() if sha256 not in stored],
            pending=approval.count("pending"),
            notices=notices,
            notice_rows=sql_notice_creation.NOTICES.bind(dialect, [sql_notice_creation.notice_row(n) for n in notices]),
            decision_members=[recording.member_of(place, c.uscc, as_of, c.decision, state)
                              for place, (c, state) in enumerate(zip(changes, approval))],
            notice_members=[notice_rules.notice_member(n) for n in notices],
        )

    async def _draft_holds(self, connection: sa_asyncio.AsyncConnection, draft: _Draft) -> bool:
        """Whether what the draft was made from is still what is stored (inside the write transaction)."""
        return (
            await self._gates(connection) == draft.gates
            and await self._told(connection, draft.firms, draft.clause_ids) == draft.told
            and await self._waiting_since(connection, draft.firms) == draft.waiting_since
        )

    async def _write_draft(
        self, connection: sa_asyncio.AsyncConnection, draft: _Draft, actor: str, as_of: dt.date
    ) -> tuple[int, int, int]:
        """Insert a draft that holds, its ids drawn now; how many decisions, of them pending approval, and notices."""
        # Another writer may have stored some of them since the draft: those are skipped.
        await sql_folding.store_explanations(connection, draft.explanations)
        ids = await sql_bulk.next_ids(connection, _DECISION, len(draft.decision_rows))
        await sql_folding.DECISIONS.insert(connection, [(id_, *row[1:]) for id_, row in zip(ids, draft.decision_rows, strict=True)],
                                           bound=True)
        await self._extend_digest_windows(connection, draft.notices, draft.due)
        inserted = await sql_notice_creation.NOTICES.insert(
            connection, [(ids[row[0]], *row[1:]) for row in draft.notice_rows], bound=True
        )
        members = draft.notice_members
        if inserted is not None:
            # PostgreSQL: a notice another transaction told meanwhile was skipped by its unique key.
            kept = set(inserted)
            members = [member for member in members if member["notice_id"] in kept]
        for member in draft.decision_members:
            member["id"] = ids[member["id"]]
        for member in members:
            member["decision_id"] = ids[member["decision_id"]]
        # One audit entry for the batch, a hash over what it recorded (engine.audit.summaries); last, as the
        # chain's lock is held from there to the commit (sql_audit).
        await self._audit(connection, [summaries.summary(actor, as_of, draft.decision_members, members)])
        return len(ids), draft.pending, len(members)

    async def _keep_statistics(self, written: int) -> None:
        """On PostgreSQL, ANALYZE the tables a backfill grows whenever its writes since the last time have
        reached what it had written before (constants.BACKFILL_ANALYZE_AFTER_ROWS first): the same bulk load
        that makes them grow ten- or a hundredfold otherwise leaves the planner reading them as they were.
        SQLite's planner keeps no statistics here (the queries are written to need none)."""
        if self.is_sqlite:
            return
        self._rows_written += written
        if self._rows_written - self._rows_when_analyzed < max(constants.BACKFILL_ANALYZE_AFTER_ROWS, self._rows_when_analyzed):
            return
        async with self._write() as connection:
            await connection.execute(sa.text("ANALYZE decision, notice"))
        self._rows_when_analyzed = self._rows_written

    async def stored_rule_versions(self) -> dict[str, set[str]]:
        async with self._read() as connection:
            latest = sa.select(sa.func.max(_DECISION.c.id)).group_by(_DECISION.c.uscc, _DECISION.c.clause_id)
            rows = await connection.execute(
                sa.select(_DECISION.c.clause_id, _DECISION.c.rule_version).where(_DECISION.c.id.in_(latest)).distinct()
            )
            versions: dict[str, set[str]] = {}
            for clause_id, version in rows:
                versions.setdefault(clause_id, set()).add(version)
        return versions

    async def windows_checked_through(self) -> dt.date | None:
        async with self._read() as connection:
            return (await connection.execute(
                sa.select(_CHECK.c.checked_through).where(_CHECK.c.name == _OPENINGS)
            )).scalar_one_or_none()

    async def set_windows_checked_through(self, day: dt.date) -> None:
        now = dt.datetime.now(dt.UTC)
        async with self._write() as connection:
            await connection.execute(
                self.insert(_CHECK).values(name=_OPENINGS, checked_through=day, updated_at=now).on_conflict_do_update(
                    index_elements=["name"], set_={"checked_through": day, "updated_at": now},
                    where=_CHECK.c.checked_through < day,  # never moves back (two services checking at once)
                )
            )

    @contextlib.asynccontextmanager
    async def window_check_turn(self) -> AsyncIterator[bool]:
        if self.is_sqlite:  # one service process per SQLite file
            yield True
            return
        assert self._writer is not None, "SqlStorage.open() was not called"
        # A session lock on a connection of its own, held for the whole check (many transactions).
        async with self._writer.connect() as connection:
            held = (await connection.execute(sa.select(sa.func.pg_try_advisory_lock(_WINDOWS_LOCK)))).scalar_one()
            await connection.commit()
            try:
                yield bool(held)
            finally:
                if held:
                    await connection.execute(sa.select(sa.func.pg_advisory_unlock(_WINDOWS_LOCK)))
                    await connection.commit()

    async def record_opening(self, record: store.OpeningRecord) -> bool:
        values = {
            "clause_id": record.clause_id, "opens_on": record.opens_on, "outcome": record.outcome, "firms": record.firms,
            "decisions": record.decisions, "met": record.met, "handled_at": record.handled_at or dt.datetime.now(dt.UTC),
        }
        async with self._write() as connection:
            result = await connection.execute(self.insert(_OPENING).values(**values).on_conflict_do_nothing())
            return result.rowcount == 1

    async def window_openings(self) -> list[store.OpeningRecord]:
        async with self._read() as connection:
            rows = await connection.execute(sa.select(_OPENING).order_by(_OPENING.c.opens_on, _OPENING.c.clause_id))
            return [
                store.OpeningRecord(r.clause_id, r.opens_on, r.outcome, r.firms, r.decisions, r.met,
                                    models.as_utc(r.handled_at))
                for r in rows
            ]

    async def create_run(self, spec: store.RunSpec, bounds: Sequence[tuple[str, str]]) -> None:
        async with self._write() as connection:
            await connection.execute(sa.insert(_RUN).values(
                run_id=spec.run_id, as_of=spec.as_of, clause_ids=None if spec.clause_ids is None else sorted(spec.clause_ids),
                actor=spec.actor, first_only=spec.first_only, catalogue_version=spec.catalogue_version,
                created_at=spec.created_at or dt.datetime.now(dt.UTC),
            ))
            if bounds:
                await connection.execute(sa.insert(_BATCH), [
                    {"run_id": spec.run_id, "seq": seq, "after_key": after, "upto_key": upto, "status": store.PENDING,
                     "firms": 0, "recorded": 0, "notices": 0}
                    for seq, (after, upto) in enumerate(bounds)
                ])

    async def get_run(self, run_id: str) -> store.RunSpec | None:
        async with self._read() as connection:
            row = (await connection.execute(sa.select(_RUN).where(_RUN.c.run_id == run_id))).one_or_none()
        if row is None:
            return None
        return store.RunSpec(row.run_id, row.as_of, None if row.clause_ids is None else frozenset(row.clause_ids), row.actor,
                             row.first_only, row.catalogue_version, models.as_utc(row.created_at))

    async def claim_batch(self, run_id: str, worker: str, now: dt.datetime, lease: dt.timedelta) -> store.BatchClaim | None:
        # shared_rules.claimable, as a condition: pending, or claimed under a lease that has ended.
        claimable = (_BATCH.c.status == store.PENDING) | ((_BATCH.c.status == store.CLAIMED) & (_BATCH.c.lease_until < now))
        first = sa.select(_BATCH.c.seq, _BATCH.c.after_key, _BATCH.c.upto_key).where(
            _BATCH.c.run_id == run_id, claimable).order_by(_BATCH.c.seq).limit(1)
        if not self.is_sqlite:
            first = first.with_for_update(skip_locked=True)  # another process's claim in flight: take the next
        async with self._write() as connection:  # on SQLite the write lock makes the read and update one step
            row = (await connection.execute(first)).one_or_none()
            if row is None:
                return None
            await connection.execute(
                sa.update(_BATCH).where(_BATCH.c.run_id == run_id, _BATCH.c.seq == row.seq)
                .values(status=store.CLAIMED, claimed_by=worker, lease_until=now + lease)
            )
        return store.BatchClaim(run_id, row.seq, row.after_key, row.upto_key, now + lease)

    async def finish_batch(self, claim: store.BatchClaim, worker: str, now: dt.datetime, *, firms: int, recorded: int,
                           notices: int) -> bool:
        async with self._write() as connection:
            result = await connection.execute(
                sa.update(_BATCH).where(_BATCH.c.run_id == claim.run_id, _BATCH.c.seq == claim.seq,
                                        _BATCH.c.status == store.CLAIMED, _BATCH.c.claimed_by == worker)
                .values(status=store.DONE, lease_until=None, firms=firms, recorded=recorded, notices=notices, finished_at=now)
            )
            return result.rowcount == 1

    async def run_progress(self, run_id: str) -> store.RunProgress:
        async with self._read() as connection:
            rows = (await connection.execute(
                sa.select(_BATCH.c.status, sa.func.count(), sa.func.coalesce(sa.func.sum(_BATCH.c.firms), 0),
                          sa.func.coalesce(sa.func.sum(_BATCH.c.recorded), 0), sa.func.coalesce(sa.func.sum(_BATCH.c.notices), 0))
                .where(_BATCH.c.run_id == run_id).group_by(_BATCH.c.status)
            )).all()
        done = next((r for r in rows if r[0] == store.DONE), None)
        return store.RunProgress({r[0]: r[1] for r in rows}, *(int(v) for v in (done[2:] if done else (0, 0, 0))))
