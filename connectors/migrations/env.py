"""Alembic environment: runs migrations over the service's async engine (SQLite or PostgreSQL)."""

import asyncio
import logging

from alembic import context
from sqlmodel import SQLModel

from connectors import sql_base
from connectors import sql_models as models  # noqa: F401  (registers the tables on SQLModel.metadata)

target_metadata = SQLModel.metadata
log = logging.getLogger("connectors.migrations")


def _applied(*, ctx, step, heads, run_args) -> None:
    """One line per migration applied (Alembic's own chatter is kept at WARNING: engine/telemetry/logs.py),
    so a command says what it changed and says nothing when there was nothing to do."""
    before, after = step.source_revision_ids, step.destination_revision_ids
    log.info("database schema %s %s -> %s", "upgraded" if step.is_upgrade else "downgraded",
             ",".join(before) or "none", ",".join(after) or "none")


def _run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite cannot ALTER most things in place
        compare_type=True,
        on_version_apply=_applied,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _main() -> None:
    url = context.config.get_main_option("sqlalchemy.url")
    engine = sql_base.create_engine(url)
    try:
        async with engine.connect() as connection:
            sqlite = url.startswith("sqlite")
            if sqlite:
                # A batch migration rebuilds a table (copy, drop, rename); with foreign keys enforced,
                # dropping a table others reference fails. SQLite ignores this pragma inside a
                # transaction, so it is set on the bare connection before the migration's begins, and
                # the references are checked before committing.
                raw = await connection.get_raw_connection()
                await raw.driver_connection.execute("PRAGMA foreign_keys=OFF")
            await connection.run_sync(_run)
            if sqlite:
                broken = (await connection.exec_driver_sql("PRAGMA foreign_key_check")).all()
                if broken:
                    raise RuntimeError(f"the migration left rows referring to nothing: {broken[:5]}")
            await connection.commit()
    finally:
        await engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported; run `policy-push db upgrade`")
asyncio.run(_main())
