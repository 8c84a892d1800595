"""`policy-push db backup PATH` and `db restore PATH`: a SQLite database copied out while the service runs,
and put back while it is stopped (docs/deployment.md, "Backup and restore").

PostgreSQL keeps its own backups: both commands refuse it in one line pointing to pg_dump.
"""

from __future__ import annotations

import asyncio
import datetime
import pathlib
import sqlite3

import click

from connectors import sql_backup, sql_health
from connectors import sql_migrate as migrate
from engine import settings
from engine.cli import database, options

_PG_DUMP = ("the configured database is PostgreSQL: use pg_dump and pg_restore "
            "(docs/deployment.md, \"Backup and restore\")")


def _sqlite_path(config: settings.Settings) -> pathlib.Path:
    if not config.is_sqlite:
        raise click.ClickException(_PG_DUMP)
    return sql_health.sqlite_path(config.database_url)


def _file_url(path: pathlib.Path) -> str:
    return f"sqlite+aiosqlite:///{path.absolute()}"


@click.command("backup")
@click.argument("path", type=click.Path(dir_okay=False, path_type=pathlib.Path))
@click.option("--force", is_flag=True, help="Replace PATH if it exists.")
def db_backup(path: pathlib.Path, force: bool) -> None:
    """Copy the SQLite database to PATH while the service runs: one consistent snapshot (SQLite's backup
    API), checked with quick_check, a single self-contained file. PostgreSQL: use pg_dump."""
    config = options.load_settings()
    source = _sqlite_path(config)
    try:
        asyncio.run(sql_health.check(config.database_url))
        revision = asyncio.run(sql_health.revision(config.database_url))
    except sql_health.DatabaseUnusable as exc:
        raise click.ClickException(str(exc)) from None
    target = path.absolute()
    if target == source:
        raise click.BadParameter(f"{target} is the database itself", param_hint="PATH")
    if target.exists() and not force:
        raise click.BadParameter(f"{target} exists; give --force to replace it", param_hint="PATH")
    if not target.parent.is_dir():
        raise click.BadParameter(f"folder {target.parent} does not exist", param_hint="PATH")
    try:
        sql_backup.backup(source, target)
    except sql_backup.BackupError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"backed up {source} to {target}: {target.stat().st_size} bytes, "
               f"migration {revision or 'none'}, quick_check ok")


@click.command("restore")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=pathlib.Path))
@click.option("--yes", is_flag=True, help="Do not ask before replacing the database.")
def db_restore(path: pathlib.Path, yes: bool) -> None:
    """Replace the SQLite database with the backup at PATH. Stop the service first (refused while any
    process has the database open). The replaced file is kept beside it as
    <database>.before-restore-<time>; a backup from an older release is then upgraded to this code's
    schema. PostgreSQL: use pg_restore."""
    config = options.load_settings()
    database_file = _sqlite_path(config)
    backup_file = path.absolute()
    if backup_file == database_file:
        raise click.BadParameter(f"{backup_file} is the database itself", param_hint="PATH")
    revision = _backup_revision(backup_file)
    if database_file.exists():
        try:
            sql_backup.refuse_in_use(database_file)
        except sql_backup.InUse as exc:
            raise click.ClickException(f"{exc}: stop `policy-push serve` (and any other command using it) "
                                       "before restoring") from None
        except sqlite3.Error as exc:
            # A damaged file is what one restores over, but then SQLite cannot say who has it open.
            click.echo(f"warning: cannot check whether another process has {database_file} open ({exc}); "
                       "make sure the service is stopped", err=True)
    if not yes:
        click.confirm(f"Replace {database_file} with the backup {backup_file} (migration {revision})? "
                      "The current file is kept beside it", abort=True)
    try:
        aside = sql_backup.swap_in(backup_file, database_file, datetime.datetime.now(datetime.UTC))
    except (sql_backup.BackupError, OSError) as exc:
        raise click.ClickException(f"nothing restored: {exc}") from None
    kept = f"; the replaced file is {aside}" if aside else ""
    click.echo(f"restored {backup_file} to {database_file} (migration {revision}){kept}")
    head = migrate.head_revision()
    if revision != head:
        database.create_or_upgrade(config.database_url, head)
        click.echo(f"database upgraded from {revision} to {head}")


def _backup_revision(path: pathlib.Path) -> str:
    """The migration the backup at `path` is at; ClickException unless it is a whole policy-push SQLite
    database at a migration this code knows."""
    url = _file_url(path)
    try:
        asyncio.run(sql_health.check(url))
        revision = asyncio.run(sql_health.revision(url))
    except sql_health.DatabaseUnusable as exc:
        raise click.ClickException(f"not a usable backup: {exc}") from None
    if revision is None:
        raise click.ClickException(f"not a usable backup: {path} holds no policy-push schema (no migration recorded)")
    if revision not in migrate.revisions():
        raise click.ClickException(f"not a usable backup: {path} is at migration {revision}, which this code does not "
                                   f"know ({', '.join(migrate.revisions())}): restore it with the release that wrote it")
    return revision
