"""On PostgreSQL the audit chain's advisory lock is every writer's last (connectors/sql_audit.py): a
transaction appends its audit entries after every write that could wait for another transaction. A
writer holding it earlier made every other writer's inserts wait behind its own, and, holding it,
waited for rows other transactions had locked while they waited for the chain: a deadlock, which
PostgreSQL ends by failing one of them.

Each test holds the chain from a connection of its own, so that the writers under test line up behind
it in a known order, and watches where they wait in ``pg_stat_activity``."""

from __future__ import annotations

import asyncio
import datetime as dt

import asyncpg
import pytest
import sqlalchemy as sa

from connectors.sql_audit import AUDIT_LOCK_KEY
from engine import audit
from tests.backfill import helpers

AS_OF = dt.date(2022, 4, 15)
POSTGRES = [pytest.param("postgres", marks=pytest.mark.postgres)]
#: How long a writer may take to reach the lock it is expected to wait for (a bound, not a pause).
REACH_SECONDS = 30.0


async def _holding_the_chain(store) -> tuple[asyncpg.Connection, asyncpg.transaction.Transaction]:
    """A connection of the test's own, in a transaction holding the chain's lock."""
    dsn = sa.engine.make_url(store.url).set(drivername="postgresql").render_as_string(hide_password=False)
    connection = await asyncpg.connect(dsn)
    transaction = connection.transaction()
    await transaction.start()
    await connection.execute("SELECT pg_advisory_xact_lock($1)", AUDIT_LOCK_KEY)
    return connection, transaction


async def _waiting(connection: asyncpg.Connection, count: int, *tasks: asyncio.Task) -> list[asyncpg.Record]:
    """The database's other sessions waiting for a lock, once there are `count` of them (each task under
    test is still running: one that ended early would never be seen waiting)."""
    deadline = asyncio.get_running_loop().time() + REACH_SECONDS
    while True:
        for task in tasks:
            if task.done():
                task.result()  # its error, if it failed
                raise AssertionError("a writer finished while the audit chain was held")
        # The holder is in a transaction, where PostgreSQL would show the activity it read first again.
        await connection.execute("SELECT pg_stat_clear_snapshot()")
        waiting = await connection.fetch(
            "SELECT pid, wait_event FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND wait_event_type = 'Lock' ORDER BY backend_start"
        )
        if len(waiting) >= count:
            return waiting
        assert asyncio.get_running_loop().time() < deadline, f"{len(waiting)} of {count} writers waiting"
        await asyncio.sleep(0.01)


@pytest.mark.parametrize("store", POSTGRES, indirect=True)
async def test_a_backfill_batch_inserts_its_rows_before_it_waits_for_the_chain(store, production_matcher, tmp_path):
    changes = await helpers.judged_batch(store, production_matcher, tmp_path, AS_OF)
    holder, held = await _holding_the_chain(store)
    try:
        writing = asyncio.create_task(store.record_backfill(changes, AS_OF, "backfill"))
        [writer] = await _waiting(holder, 1, writing)
        assert writer["wait_event"] == "advisory"
        # Its decisions and notices are inserted (uncommitted): it waits only to append to the chain.
        inserted = await holder.fetch(
            "SELECT c.relname FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
            "WHERE l.pid = $1 AND l.mode = 'RowExclusiveLock' AND l.granted", writer["pid"]
        )
        assert {"decision", "notice"} <= {row["relname"] for row in inserted}
        await held.commit()
        recorded = await writing
    finally:
        await holder.close()
    # The corrected threshold: the firm at exactly 150,000 and the one below are now met, told by SMS and email.
    assert (recorded.decisions, recorded.notices) == (3, 2)
    assert audit.verify([e.as_json() async for e in store.audit_entries()]).ok


@pytest.mark.parametrize("store", POSTGRES, indirect=True)
async def test_an_officer_approving_while_a_backfill_writes_the_same_firm_is_no_deadlock(store, production_matcher, tmp_path):
    # 二次确认 on the clause before the firms are judged: the pipeline's grant waits for an officer.
    await store.set_clause_approval(helpers.CLAUSE, True, "admin")
    changes = await helpers.judged_batch(store, production_matcher, tmp_path, AS_OF)
    pending = await store.pending_approvals(helpers.CLAUSE)
    assert [d.uscc for d in pending] == [helpers.BELOW]
    holder, held = await _holding_the_chain(store)
    try:
        # The officer approves first; the backfill's batch, holding the same firm, comes second.
        approving = asyncio.create_task(store.resolve_approvals([d.id for d in pending], True, "officer", None))
        await _waiting(holder, 1, approving)
        writing = asyncio.create_task(store.record_backfill(changes, AS_OF, "backfill"))
        await _waiting(holder, 2, approving, writing)
        await held.commit()
        approved, recorded = await asyncio.gather(approving, writing)
    finally:
        await holder.close()
    assert approved == [pending[0].id]
    # The approval told the firm below the threshold; the batch, which found it told, does not tell it again.
    told = [n for n in await store.firm_notices(helpers.BELOW) if n.clause_id == helpers.CLAUSE]
    assert sorted(n.channel for n in told) == ["email", "sms"]
    assert recorded.decisions == 3
    assert audit.verify([e.as_json() async for e in store.audit_entries()]).ok
