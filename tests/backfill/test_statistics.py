"""A backfill on PostgreSQL keeps the planner's statistics of the tables it grows: a first backfill makes
`decision` and `notice` ten- or a hundredfold larger, and without fresh statistics PostgreSQL planned each
batch's reads (latest decisions, what the firms were told) as scans of the whole table."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from engine import constants
from engine.backfill import runner
from tests.backfill import helpers


async def _planner_rows(store, table: str) -> float:
    async with store.read() as connection:
        return (await connection.execute(sa.text("SELECT reltuples FROM pg_class WHERE relname = :t"), {"t": table})).scalar_one()


async def _rows(store, table: str) -> int:
    async with store.read() as connection:
        return (await connection.execute(sa.text(f"SELECT count(*) FROM {table}"))).scalar_one()


@pytest.mark.parametrize("store", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
async def test_the_planner_counts_what_a_backfill_wrote(store, production_matcher, tmp_path, monkeypatch):
    # The three 西宁 firms judged under the mis-encoded threshold, then the corrected rule applied: the
    # firm at exactly 150,000 becomes met ("月销售额15万元(含)以下") and is told by SMS and email.
    await helpers.ingest(store, helpers.wrong_matcher(tmp_path), helpers.qinghai_vat_firms())
    monkeypatch.setattr(constants, "BACKFILL_ANALYZE_AFTER_ROWS", 2)
    plan = runner.Plan(as_of=dt.date(2022, 4, 15), clause_ids=frozenset({helpers.CLAUSE}), batch_size=1)
    result = await runner.run(store, production_matcher, plan)
    assert (result.tally.recorded, result.tally.notices_created) == (3, 2)
    # ANALYZE ran once the batches had written 2 rows or more (then each time their writes doubled): the
    # planner's row counts lag the tables' by less than half (never analyzed, they were -1).
    for table in ("decision", "notice"):
        rows = await _rows(store, table)
        assert rows / 2 <= await _planner_rows(store, table) <= rows, table
