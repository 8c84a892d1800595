"""`policy-push tokens create|list|revoke`: the API's bearer tokens.

Each command checks the database and applies pending migrations first (a missing SQLite file is
refused: only `db upgrade` creates one), then acts on POLICY_PUSH_DATABASE_URL. Creating
and revoking a token are audited ("token.created", "token.revoked") with the actor
"cli (<OS user>)"; the token itself is printed once and never stored (only its SHA-256).
"""

from __future__ import annotations

import asyncio
import datetime
import getpass
from collections.abc import Awaitable, Callable
from typing import TypeVar

import click

from connectors import sql_storage
from engine import audit, constants
from engine.cli import database, options
from engine.core import china_time, records
from engine.http import auth

T = TypeVar("T")


def _actor() -> str:
    return f"cli ({getpass.getuser()})"


def _run(action: Callable[[sql_storage.SqlStorage], Awaitable[T]]) -> T:
    """Check and migrate the database (never creating one: engine/cli/database.py), open the store, run
    `action(store)`, close."""
    config = options.load_settings()
    database.prepare(config.database_url)

    async def _go() -> T:
        store = sql_storage.SqlStorage.configured(config)
        await store.open()
        try:
            return await action(store)
        finally:
            await store.close()

    return asyncio.run(_go())


def _when(value: datetime.datetime | None) -> str:
    return value.astimezone(china_time.CHINA_TZ).strftime("%Y-%m-%d %H:%M") if value else "-"


def _state(token: records.TokenRecord, at: datetime.datetime) -> str:
    if token.revoked_at is not None:
        return "revoked"
    return "active" if token.usable(at) else "expired"


@click.group()
def tokens() -> None:
    """API bearer tokens."""


@tokens.command("create")
@click.option("--role", type=click.Choice(constants.ROLES), required=True)
@click.option("--label", default="", help="Who or what the token is for.")
@click.option("--expires-days", type=click.IntRange(1, 3650), default=None,
              help="Refuse the token this many days from now (default: it does not expire; prefer one that does).")
def tokens_create(role: str, label: str, expires_days: int | None) -> None:
    """Create a token and print it once; only its hash is stored (audited: token.created)."""
    token, digest = auth.new_token()
    expires_at = None if expires_days is None else datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=expires_days)

    async def _create(store: sql_storage.SqlStorage) -> records.TokenRecord:
        record = await store.add_token(digest, role, label, expires_at)
        payload = {"role": role, "label": label, "expires_at": expires_at.isoformat() if expires_at else None}
        await store.append_audit([audit.Draft(_actor(), "token.created", "api_token", str(record.id), payload)])
        return record

    record = _run(_create)
    click.echo(token)
    until = f", expires {_when(expires_at)} (China time)" if expires_at else ", does not expire"
    click.echo(f"token #{record.id}, role {role}{until}; shown once, store it now", err=True)


@tokens.command("list")
def tokens_list() -> None:
    """Every token: id, role, state (active, expired, revoked), created, expires, last used, label."""
    now = datetime.datetime.now(datetime.UTC)
    rows = _run(lambda store: store.list_tokens())
    click.echo("id\trole\tstate\tcreated\texpires\tlast used\tlabel")
    for token in rows:
        click.echo("\t".join((str(token.id), token.role, _state(token, now), _when(token.created_at), _when(token.expires_at),
                              _when(token.last_used_at), token.label)))


@tokens.command("revoke")
@click.argument("token_id", type=click.IntRange(1, constants.MAX_ID))
def tokens_revoke(token_id: int) -> None:
    """Refuse token TOKEN_ID from now on (audited: token.revoked)."""

    async def _revoke(store: sql_storage.SqlStorage) -> records.TokenRecord | None:
        before = {token.id: token for token in await store.list_tokens()}.get(token_id)
        record = await store.revoke_token(token_id, datetime.datetime.now(datetime.UTC))
        if record is not None and before is not None and before.revoked_at is None:
            payload = {"role": record.role, "label": record.label}
            await store.append_audit([audit.Draft(_actor(), "token.revoked", "api_token", str(token_id), payload)])
        return record

    record = _run(_revoke)
    if record is None:
        raise click.ClickException(f"no token #{token_id} (see `policy-push tokens list`)")
    click.echo(f"token #{token_id} revoked at {_when(record.revoked_at)} (China time)")
