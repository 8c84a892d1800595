"""Upgrading an empty database gives exactly the models' schema, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic import autogenerate, migration
from sqlmodel import SQLModel

from connectors import sql_base, sql_storage
from connectors import sql_migrate as migrate
from connectors import sql_models as models  # noqa: F401  (tables on the metadata)
from tests import conftest


@pytest.mark.parametrize("empty_database", conftest.SQL_BACKENDS, indirect=True)
async def test_upgrade_from_empty_matches_the_models(migrated_database):
    engine = sql_base.create_engine(migrated_database)
    try:
        async with engine.connect() as connection:
            differences = await connection.run_sync(
                lambda sync: autogenerate.compare_metadata(
                    migration.MigrationContext.configure(sync, opts={"compare_type": True}), SQLModel.metadata
                )
            )
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
