"""A decision names its firm and its explanation, a notice its decision and its firm: on SQLite by foreign
keys, on PostgreSQL by triggers that check each statement's rows at once (migration 0013). Either way a
row naming what is not stored is refused with the whole statement, what is still named cannot be
deleted, and on PostgreSQL a delete and an insert naming the same row, side by side, cannot both
succeed (the delete at READ COMMITTED, the application's level; above it, refused)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

import pytest
import sqlalchemy as sa

from connectors import sql_base
from connectors import sql_models as models
from tests.conftest import SQL_BACKENDS
from tests.notices import helpers

_FIRM = models.Firm.__table__
_DECISION = models.Decision.__table__
_NOTICE = models.Notice.__table__
_EXPLANATION = models.Explanation.__table__
_STRANGER = "91140302MA0000000X"  # a firm no row of the database holds


def _copies(table: sa.Table, key: str, *rows: tuple[Any, dict[str, Any]]) -> sa.Insert:
    """One INSERT … SELECT copying stored rows of `table` (each found by its `key`) with some columns changed."""
    columns = [c.name for c in table.columns]
    selects = [
        sa.select(*[sa.literal(changes[name], table.c[name].type) if name in changes else table.c[name] for name in columns])
        .where(table.c[key] == source)
        for source, changes in rows
    ]
    return sa.insert(table).from_select(columns, selects[0] if len(selects) == 1 else sa.union_all(*selects))


def _copy(table: sa.Table, key: str, source: Any, **changes: Any) -> sa.Insert:
    return _copies(table, key, (source, changes))


async def _fed(store) -> dict[str, Any]:
    """A firm the pipeline judged (decisions, their explanations, notices), and the ids a copy can take."""
    await helpers.feed(store, *helpers.eligible_firm_events())
    async with store.write() as connection:
        notice = (await connection.execute(sa.select(_NOTICE).limit(1))).mappings().one()
        decision = (await connection.execute(sa.select(_DECISION).where(_DECISION.c.id == notice["decision_id"]))).mappings().one()
        next_id = (await connection.execute(sa.select(sa.func.max(_DECISION.c.id)))).scalar_one() + 1
    return {"notice": notice, "decision": decision, "counts": await _counts(store), "next_id": next_id}


async def _counts(store) -> dict[str, int]:
    async with store.write() as connection:
        return {t.name: (await connection.execute(sa.select(sa.func.count()).select_from(t))).scalar_one()
                for t in (_FIRM, _DECISION, _NOTICE, _EXPLANATION)}


@pytest.mark.parametrize("store", SQL_BACKENDS, indirect=True)
@pytest.mark.parametrize("table,change", [
    ("decision", {"uscc": _STRANGER}),
    ("decision", {"explanation_sha256": "0" * 64}),
    ("notice", {"decision_id": 10**9}),
    ("notice", {"uscc": _STRANGER}),
])
async def test_a_row_naming_what_is_not_stored_is_refused_with_its_statement(store, table, change):
    fed = await _fed(store)
    # A good row beside the bad one in the same statement: the check counts the distinct keys the statement
    # names, so finding the good row's must not let the bad row's through.
    if table == "decision":
        source = fed["decision"]["id"]
        both = _copies(_DECISION, "id", (source, {"id": fed["next_id"]}), (source, {"id": fed["next_id"] + 1, **change}))
    else:
        source = fed["notice"]["notice_id"]
        both = _copies(_NOTICE, "notice_id", (source, {"id": 10**6, "notice_id": "ntc_good", "revision": 7}),
                       (source, {"id": 10**6 + 1, "notice_id": "ntc_bad", "revision": 8, **change}))
    with pytest.raises(sa.exc.IntegrityError):
        async with store.write() as connection:
            await connection.execute(both)
    assert await _counts(store) == fed["counts"]


@pytest.mark.parametrize("store", SQL_BACKENDS, indirect=True)
async def test_what_is_still_named_cannot_be_deleted(store):
    fed = await _fed(store)
    decision, notice = fed["decision"], fed["notice"]
    async with store.write() as connection:
        # A firm named by one decision alone, and a firm named by one notice alone.
        for uscc in ("91140302MA0000001X", "91140302MA0000002X"):
            await connection.execute(_copy(_FIRM, "uscc", decision["uscc"], uscc=uscc))
        await connection.execute(_copy(_DECISION, "id", decision["id"], id=fed["next_id"], uscc="91140302MA0000001X"))
        await connection.execute(_copy(_NOTICE, "notice_id", notice["notice_id"], id=10**6, notice_id="ntc_other",
                                        uscc="91140302MA0000002X"))
    named = [
        sa.delete(_FIRM).where(_FIRM.c.uscc == "91140302MA0000001X"),
        sa.delete(_FIRM).where(_FIRM.c.uscc == "91140302MA0000002X"),
        sa.delete(_EXPLANATION).where(_EXPLANATION.c.sha256 == decision["explanation_sha256"]),
        sa.delete(_DECISION).where(_DECISION.c.id == notice["decision_id"]),
    ]
    before = await _counts(store)
    for statement in named:
        with pytest.raises(sa.exc.IntegrityError):
            async with store.write() as connection:
                await connection.execute(statement)
    assert await _counts(store) == before
    # What nothing names can go.
    async with store.write() as connection:
        await connection.execute(_copy(_FIRM, "uscc", decision["uscc"], uscc="91140302MA0000003X"))
    async with store.write() as connection:
        assert (await connection.execute(sa.delete(_FIRM).where(_FIRM.c.uscc == "91140302MA0000003X"))).rowcount == 1


@pytest.mark.parametrize("store", SQL_BACKENDS, indirect=True)
async def test_a_reference_cannot_be_changed_to_what_is_not_stored(store):
    """Nor can a key that rows name be changed under them (PostgreSQL refuses any change of either)."""
    fed = await _fed(store)
    changes = [
        sa.update(_DECISION).where(_DECISION.c.id == fed["decision"]["id"]).values(uscc=_STRANGER),
        sa.update(_DECISION).where(_DECISION.c.id == fed["decision"]["id"]).values(explanation_sha256="0" * 64),
        sa.update(_NOTICE).where(_NOTICE.c.notice_id == fed["notice"]["notice_id"]).values(decision_id=10**9),
        sa.update(_NOTICE).where(_NOTICE.c.notice_id == fed["notice"]["notice_id"]).values(uscc=_STRANGER),
        sa.update(_FIRM).where(_FIRM.c.uscc == fed["decision"]["uscc"]).values(uscc=_STRANGER),
    ]
    for statement in changes:
        with pytest.raises(sa.exc.IntegrityError):
            async with store.write() as connection:
                await connection.execute(statement)
    async with store.write() as connection:
        decision = (await connection.execute(sa.select(_DECISION).where(_DECISION.c.id == fed["decision"]["id"]))).mappings().one()
    assert decision == fed["decision"]


async def _until_waiting(connection, pid: int, blocked: Awaitable[Any]) -> asyncio.Task:
    """Start `blocked` and return once the server shows its backend waiting for a lock."""
    task = asyncio.ensure_future(blocked)
    for _ in range(1000):
        waiting = (await connection.execute(sa.text("SELECT wait_event_type FROM pg_stat_activity WHERE pid = :pid"),
                                            {"pid": pid})).scalar()
        if waiting == "Lock" or task.done():
            break
        await asyncio.sleep(0.01)  # polling the server for the state the test needs, not waiting out a race
    assert not task.done(), "the statement did not wait for the other transaction"
    return task


@pytest.mark.parametrize("store", ["postgres"], indirect=True)
@pytest.mark.parametrize("first", ["insert", "delete"])
async def test_a_delete_and_an_insert_naming_the_same_firm_cannot_both_succeed(store, first):
    """The insert's check locks the firm it names as a foreign key does: a delete of it waits for the insert's
    transaction and is then refused; an insert naming a firm being deleted waits for the delete and is then
    refused. No decision is left naming a firm that is not stored."""
    fed = await _fed(store)
    uscc = "91140302MA0000004X"
    async with store.write() as connection:
        await connection.execute(_copy(_FIRM, "uscc", fed["decision"]["uscc"], uscc=uscc))
    insert = _copy(_DECISION, "id", fed["decision"]["id"], id=fed["next_id"], uscc=uscc)
    delete = sa.delete(_FIRM).where(_FIRM.c.uscc == uscc)
    engine = sql_base.create_engine(store.url)
    try:
        async with engine.connect() as holder, engine.connect() as waiter, engine.connect() as observer:
            pid = (await waiter.execute(sa.text("SELECT pg_backend_pid()"))).scalar_one()
            await waiter.commit()
            await holder.execute(insert) if first == "insert" else await holder.execute(delete)
            task = await _until_waiting(observer, pid, waiter.execute(delete) if first == "insert" else waiter.execute(insert))
            await holder.commit()
            with pytest.raises(sa.exc.IntegrityError):
                await task
            await waiter.rollback()
    finally:
        await engine.dispose()
    async with store.write() as connection:
        firm = (await connection.execute(sa.select(sa.func.count()).where(_FIRM.c.uscc == uscc))).scalar_one()
        named = (await connection.execute(sa.select(sa.func.count()).where(_DECISION.c.uscc == uscc))).scalar_one()
    assert (firm, named) == ((1, 1) if first == "insert" else (0, 0))


@pytest.mark.parametrize("store", ["postgres"], indirect=True)
async def test_a_delete_of_what_may_be_named_runs_at_read_committed(store):
    """Above READ COMMITTED the delete's check could miss rows committed after its snapshot by a transaction
    that locked the row; such deletes are refused, at READ COMMITTED they are checked."""
    fed = await _fed(store)
    uscc = "91140302MA0000005X"
    async with store.write() as connection:
        await connection.execute(_copy(_FIRM, "uscc", fed["decision"]["uscc"], uscc=uscc))
    engine = sql_base.create_engine(store.url)
    try:
        async with engine.connect() as connection:
            await connection.execute(sa.text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"))
            with pytest.raises(sa.exc.IntegrityError, match="READ COMMITTED only"):
                await connection.execute(sa.delete(_FIRM).where(_FIRM.c.uscc == uscc))
            await connection.rollback()
    finally:
        await engine.dispose()
    async with store.write() as connection:
        assert (await connection.execute(sa.delete(_FIRM).where(_FIRM.c.uscc == uscc))).rowcount == 1
