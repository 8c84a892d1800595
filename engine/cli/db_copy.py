"""`policy-push db copy --to postgresql://…`: move a whole SQLite installation to PostgreSQL
(docs/deployment.md, "Moving from SQLite to PostgreSQL").

The target gets its schema from the migrations, at the same revision as the source, and must hold
no rows; then every table is copied (connectors/sql_copy.py), the row counts are compared table by
table and the audit chain is walked on the target, which must end on the very entry the source's
chain has at that position.
"""

from __future__ import annotations

import asyncio

import click
import sqlalchemy as sa

from connectors import sql_copy, sql_health, sql_storage
from connectors import sql_models as models
from connectors import sql_migrate as migrate
from engine import audit, constants, settings
from engine.cli import database, options


def _target_url(ctx: click.Context, param: click.Parameter, value: str) -> str:
    try:
        url = settings.parse_database_url(value)
    except settings.SettingsError as exc:
        raise click.BadParameter(str(exc).replace(f"{settings.DATABASE_URL_VAR}: ", "")) from None
    if sql_health.is_sqlite(url):
        raise click.BadParameter("give a postgresql:// URL (to copy a SQLite file, use `policy-push db backup`)")
    return url


@click.command("copy")
@click.option("--to", "target", required=True, callback=_target_url, metavar="URL",
              help="The PostgreSQL database to copy into (postgresql://user:password@host:5432/db): new, or migrated and empty.")
@click.option("--batch", type=click.IntRange(1, 50_000), default=constants.DB_COPY_BATCH_ROWS, show_default=True,
              help="Rows per INSERT.")
def db_copy(target: str, batch: int) -> None:
    """Copy the whole SQLite installation (firms, events, decisions, notices, the audit chain, tokens,
    console accounts, …) into an empty PostgreSQL database, then compare row counts and verify the audit
    chain there. Stop the service first: what it writes after the copy starts is not copied."""
    config = options.load_settings()
    source = config.database_url
    if not config.is_sqlite:
        raise click.ClickException("the configured database is already PostgreSQL: use pg_dump and pg_restore "
                                   "(docs/deployment.md, \"Backup and restore\")")
    database.prepare(source, upgrade=False)  # whole, and at this code's head (else: `db upgrade` first)
    head = migrate.head_revision()
    _prepare_target(target, head)
    try:
        copied = asyncio.run(sql_copy.copy_rows(source, target, batch=batch))
    except sql_copy.CopyFailed as exc:
        raise click.ClickException(f"nothing copied, the target was left empty: {exc}") from None
    except (sa.exc.SQLAlchemyError, OSError) as exc:
        raise click.ClickException(f"nothing copied, the target was left empty: {_reason(exc)}") from None
    click.echo(f"copied {sql_health.where(source)} → {sql_health.where(target)} (migration {head})")
    counts = asyncio.run(sql_copy.row_counts(target))
    width = max(len(name) for name in copied)
    for name, rows in copied.items():
        click.echo(f"  {name:<{width}} {rows:>10}")
    click.echo(f"  {'total':<{width}} {sum(copied.values()):>10}")
    differ = [f"{name} (copied {rows}, target holds {counts.get(name)})" for name, rows in copied.items() if counts.get(name) != rows]
    if differ:
        raise click.ClickException("row counts differ on the target: " + "; ".join(differ))
    verdict = asyncio.run(_verify_chain(target))
    if not verdict.ok:
        raise click.ClickException(f"the audit chain on the target is broken at entry {verdict.first_bad_seq}: {verdict.reason}")
    # Whole on its own is not enough: it must be the source's chain, up to the same entry.
    expected = asyncio.run(sql_copy.audit_hash(source, verdict.entries)) if verdict.entries else audit.GENESIS
    if verdict.entries != copied[models.AuditEntry.__tablename__] or verdict.head != expected:
        raise click.ClickException(f"the audit chain on the target ends at entry {verdict.entries}, head {verdict.head}; "
                                   f"the source's entry {verdict.entries} is {expected}")
    click.echo(f"row counts match on every table; audit chain on the target: ok, {verdict.entries} entries, "
               f"head {verdict.head} (the source's entry {verdict.entries})")
    click.echo(f"next: set {settings.DATABASE_URL_VAR} to the target on every process, then start the service")


def _prepare_target(url: str, head: str) -> None:
    """Give the target this code's schema by the migrations, or check it has it; refuse a target holding rows."""
    try:
        asyncio.run(sql_health.check(url))
        revision = asyncio.run(sql_health.revision(url))
        if revision is None:
            present = asyncio.run(sql_copy.table_names(url))
            if present:
                raise click.ClickException(f"the target {sql_health.where(url)} is not empty: it holds tables "
                                           f"({', '.join(present[:5])}{', …' if len(present) > 5 else ''}) but no policy-push schema")
            database.create_or_upgrade(url, head)
        elif revision != head:
            raise click.ClickException(f"the target {sql_health.where(url)} is at migration {revision}, the source at {head}: "
                                       "give a new database (or bring it to the same release)")
        holding = {name: n for name, n in asyncio.run(sql_copy.row_counts(url)).items() if n}
    except sql_health.DatabaseUnusable as exc:
        raise click.ClickException(str(exc)) from None
    if holding:
        shown = ", ".join(f"{name} {n}" for name, n in list(holding.items())[:5])
        raise click.ClickException(f"the target {sql_health.where(url)} is not empty ({shown} rows): "
                                   "db copy only fills an empty database")


async def _verify_chain(url: str) -> audit.Verdict:
    store = sql_storage.SqlStorage(url)
    await store.open()
    try:
        return audit.verify([entry.as_json() async for entry in store.audit_entries()])
    finally:
        await store.close()


def _reason(exc: BaseException) -> str:
    inner = getattr(exc, "orig", None) or exc
    text = str(inner).strip().splitlines()
    return f"{type(inner).__name__}: {text[0] if text else ''}"
