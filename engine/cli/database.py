"""The configured database, made ready for a command or refused in one line naming the file or URL.

Only `policy-push db upgrade` (and `make run`, which runs it) creates a SQLite file; every other
command refuses a missing one, since connecting would start a new, empty database at a mistyped
path. A damaged file (`PRAGMA quick_check`) or an unreachable server is refused before anything
reads or migrates it.
"""

from __future__ import annotations

import asyncio

import click
import sqlalchemy as sa

from connectors import sql_health
from connectors import sql_migrate as migrate


def prepare(url: str, *, upgrade: bool = True) -> None:
    """Check the database at `url` (present, readable, whole), bring its schema to the head if `upgrade`
    (as `serve` and `worker` do at start), and check that it is at the head; raise ClickException otherwise."""
    try:
        asyncio.run(sql_health.check(url))
        if upgrade:
            _upgrade(url, "head")
        asyncio.run(sql_health.head(url, migrate.head_revision()))
    except sql_health.DatabaseUnusable as exc:
        raise click.ClickException(str(exc)) from None


def current(url: str) -> str | None:
    """The migration the database at `url` is at (None before the first); ClickException if it is missing
    or cannot be read."""
    try:
        asyncio.run(sql_health.check(url))
        return asyncio.run(sql_health.revision(url))
    except sql_health.DatabaseUnusable as exc:
        raise click.ClickException(str(exc)) from None


def downgrade(url: str, revision: str) -> None:
    """`policy-push db downgrade`: check the database, then take its schema back to `revision`."""
    if revision not in migrate.revisions():
        raise click.BadParameter(f"{revision!r} is not one of this code's migrations ({', '.join(migrate.revisions())})",
                                 param_hint="REVISION")
    try:
        asyncio.run(sql_health.check(url))
        migrate.downgrade(url, revision)
    except sql_health.DatabaseUnusable as exc:
        raise click.ClickException(str(exc)) from None
    except (sa.exc.SQLAlchemyError, OSError) as exc:
        inner = getattr(exc, "orig", None) or exc
        first = (str(inner).strip().splitlines() or [""])[0]
        raise click.ClickException(
            f"cannot take the database at {sql_health.where(url)} back to {revision}: {type(inner).__name__}: {first}"
        ) from None


def create_or_upgrade(url: str, revision: str) -> None:
    """`policy-push db upgrade`: create a missing SQLite file, or check an existing database before migrating it."""
    try:
        try:
            sql_health.refuse_missing(url)
        except sql_health.MissingDatabase:
            pass  # the one command that creates it
        else:
            asyncio.run(sql_health.check(url))
        _upgrade(url, revision)
    except sql_health.DatabaseUnusable as exc:
        raise click.ClickException(str(exc)) from None


def _upgrade(url: str, revision: str) -> None:
    try:
        migrate.upgrade(url, revision)
    except (sa.exc.SQLAlchemyError, OSError) as exc:
        inner = getattr(exc, "orig", None) or exc
        first = (str(inner).strip().splitlines() or [""])[0]
        raise sql_health.DatabaseUnusable(
            f"cannot migrate the database at {sql_health.where(url)}: {type(inner).__name__}: {first}"
        ) from None
