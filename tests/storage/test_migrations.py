"""Upgrading an empty database gives exactly the models' schema, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa

from connectors import sql_base, sql_storage
from connectors import sql_migrate as migrate
from connectors import sql_models as models  # noqa: F401  (tables on the metadata)
from tests import conftest


@pytest.mark.parametrize("empty_database", conftest.SQL_BACKENDS, indirect=True)
async def test_upgrade_from_empty_matches_the_models(migrated_database):
    engine = sql_base.create_engine(migrated_database)
    try:
        async with engine.connect() as connection:
            differences = await connection.run_sync(conftest.differences_from_the_models)
            revision = (await connection.execute(sa.text("SELECT version_num FROM alembic_version"))).scalar()
    finally:
        await engine.dispose()
    assert differences == []
    assert revision == migrate.head_revision()


@pytest.mark.parametrize("empty_database", ["sqlite"], indirect=True)
async def test_sqlite_runs_in_wal_mode_with_foreign_keys(migrated_database):
    store = sql_storage.SqlStorage(migrated_database)
    await store.open()
    try:
        async with store._read() as connection:
            assert (await connection.exec_driver_sql("PRAGMA journal_mode")).scalar() == "wal"
            assert (await connection.exec_driver_sql("PRAGMA foreign_keys")).scalar() == 1
            assert (await connection.exec_driver_sql("PRAGMA synchronous")).scalar() == 2  # FULL
    finally:
        await store.close()


@pytest.mark.parametrize("empty_database", conftest.SQL_BACKENDS, indirect=True)
async def test_upgrading_notices_keeps_what_each_one_announced(empty_database):
    # A database of the previous release holds a notice; after 0004 it is revision 0 of its benefit,
    # announcing its decision's amount, so a later change of the amount is told against it.
    await asyncio.to_thread(migrate.upgrade, empty_database, "0003")
    engine = sql_base.create_engine(empty_database, writer=True)
    now = "2022-06-01 09:00:00+00:00"
    try:
        async with engine.begin() as connection:
            await connection.execute(sa.text(
                "INSERT INTO event (seq, event_id, type, uscc, occurred_at, received_at, body, body_sha256, headers, status) "
                f"VALUES (1, 'e1', 'firm.registered', NULL, '{now}', '{now}', '{{}}', 'x', '{{}}', 'processed')"))
            await connection.execute(sa.text(
                "INSERT INTO firm (uscc, fields, stamps, events_applied, created_at, updated_at) "
                f"VALUES ('91530102MA0000751N', '{{}}', '{{}}', 1, '{now}', '{now}')"))
            await connection.execute(sa.text(
                "INSERT INTO decision (id, uscc, clause_id, cite, rule_version, status, amount, explanation, facts, as_of, "
                f"event_id, created_at, period) VALUES (1, '91530102MA0000751N', 'yunnan-2022-2-1', 'yunnan-2022#二(一)', 'v1', "
                f"'met', 33900, '{{}}', '{{}}', '2022-06-01', 'e1', '{now}', '2022')"))
            await connection.execute(sa.text(
                "INSERT INTO notice (notice_id, uscc, clause_id, channel, period, decision_id, status, attempts, "
                f"next_attempt_at, created_at, updated_at) VALUES ('ntc_1', '91530102MA0000751N', 'yunnan-2022-2-1', 'sms', "
                f"'2022', 1, 'sent', 1, '{now}', '{now}', '{now}')"))
        await asyncio.to_thread(migrate.upgrade, empty_database)
        async with engine.connect() as connection:
            row = (await connection.execute(sa.text("SELECT kind, revision, amount FROM notice"))).one()
            cumulative = (await connection.execute(sa.text("SELECT cumulative FROM decision"))).scalar()
            # The rebuilt tables are the models' (keys and references included).
            differences = await connection.run_sync(conftest.differences_from_the_models)
    finally:
        await engine.dispose()
    assert differences == []
    assert (row.kind, row.revision, float(row.amount)) == ("new", 0, 33900.0)
    assert cumulative in (False, 0)


@pytest.mark.parametrize("empty_database", conftest.SQL_BACKENDS, indirect=True)
async def test_upgrading_keeps_each_risk_designation_as_one_of_its_kind(empty_database):
    # A database of the previous release holds a county's 2022 risk year; after 0011 it is a designation
    # of kind epidemic_risk, and the same county can also be named a demonstration county that year.
    await asyncio.to_thread(migrate.upgrade, empty_database, "0010")
    engine = sql_base.create_engine(empty_database, writer=True)
    now = "2022-06-01 09:00:00+00:00"
    try:
        async with engine.begin() as connection:
            for event_id, kind in (("r1", "region.risk_designated"), ("d1", "region.demo_county_designated")):
                await connection.execute(sa.text(
                    "INSERT INTO event (event_id, type, uscc, occurred_at, received_at, body, body_sha256, headers, status) "
                    f"VALUES ('{event_id}', '{kind}', NULL, '{now}', '{now}', '{{}}', 'x', '{{}}', 'processed')"))
            await connection.execute(sa.text(
                "INSERT INTO region_risk (county, year, level, event_id) VALUES ('141181', 2022, 'high', 'r1')"))
        await asyncio.to_thread(migrate.upgrade, empty_database)
        async with engine.begin() as connection:
            await connection.execute(sa.text(
                "INSERT INTO region_designation (county, kind, year, level, event_id) "
                "VALUES ('141181', 'sme_demo_county', 2022, NULL, 'd1')"))
            rows = (await connection.execute(sa.text(
                "SELECT county, kind, year, level, event_id FROM region_designation ORDER BY kind"))).all()
    finally:
        await engine.dispose()
    assert [tuple(row) for row in rows] == [("141181", "epidemic_risk", 2022, "high", "r1"),
                                            ("141181", "sme_demo_county", 2022, None, "d1")]


@pytest.mark.parametrize("empty_database", conftest.SQL_BACKENDS, indirect=True)
async def test_upgrading_stores_each_explanation_once_and_downgrading_gives_them_back(empty_database):
    # A database of the previous release holds three decisions, two of them explained word for word alike
    # (firms judged the same way); after 0012 the explanation table holds two texts, every decision still
    # reads its own, and taking the schema back to 0011 puts each one back on its row.
    await asyncio.to_thread(migrate.upgrade, empty_database, "0011")
    engine = sql_base.create_engine(empty_database, writer=True)
    now = "2022-06-01 09:00:00+00:00"
    alike = {"conditions": [{"attr": "employees", "op": "<=", "required": 300, "seen": 12, "verdict": "met"}]}
    other = {"conditions": [], "missing": ["增值税月销售额"]}
    try:
        async with engine.begin() as connection:
            for n in (1, 2, 3):
                await connection.execute(sa.text(
                    "INSERT INTO firm (uscc, fields, stamps, events_applied, created_at, updated_at) "
                    f"VALUES ('9153010{n}MA0000751N', '{{}}', '{{}}', 1, '{now}', '{now}')"))
            for n, explanation in ((1, alike), (2, alike), (3, other)):
                await connection.execute(
                    sa.text("INSERT INTO decision (id, uscc, clause_id, cite, rule_version, status, explanation, facts, as_of, "
                            f"created_at) VALUES ({n}, '9153010{n}MA0000751N', 'yunnan-2022-2-1', 'yunnan-2022#二(一)', 'v1', "
                            f"'met', :explanation, '{{}}', '2022-06-01', '{now}')")
                    .bindparams(sa.bindparam("explanation", explanation, type_=models.JSONType)))
        await asyncio.to_thread(migrate.upgrade, empty_database)
        store = sql_storage.SqlStorage(empty_database)
        await store.open()
        try:
            read = [[d.decision.explanation for d in await store.decisions(f"9153010{n}MA0000751N")] for n in (1, 2, 3)]
        finally:
            await store.close()
        async with engine.connect() as connection:
            stored = (await connection.execute(sa.text("SELECT count(*) FROM explanation"))).scalar_one()
        await asyncio.to_thread(migrate.downgrade, empty_database, "0011")
        async with engine.connect() as connection:
            back = (await connection.execute(
                sa.select(sa.column("id"), sa.column("explanation", models.JSONType)).select_from(sa.table("decision")).order_by("id")
            )).all()
    finally:
        await engine.dispose()
    assert read == [[alike], [alike], [other]]
    assert stored == 2
    assert [tuple(row) for row in back] == [(1, alike), (2, alike), (3, other)]
