"""`policy-push audit verify|export`: check the chain, hand it to an external auditor."""

from __future__ import annotations

import asyncio
import datetime
import json
import pathlib
import re

import click
import sqlalchemy as sa

from connectors import sql_health, sql_storage
from engine import audit, settings
from engine.audit import summaries
from engine.cli import database, options
from engine.core import china_time


def _store(config: settings.Settings):

    return sql_storage.SqlStorage.configured(config)


def _settings() -> settings.Settings:
    return options.load_settings()


def _when(ctx: click.Context, param: click.Parameter, value: str | None) -> datetime.datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter("use an ISO date or date-time, e.g. 2022-01-01 or 2022-01-01T08:00:00+08:00") from None
    if moment.tzinfo is None:  # a bare date or time is meant in China time
        moment = moment.replace(tzinfo=china_time.CHINA_TZ)
    return moment


@click.group("audit")
def audit_group() -> None:
    """The tamper-evident audit trail (docs/audit.md)."""


def _hash(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None and not re.fullmatch(r"[0-9a-fA-F]{64}", value.strip()):
        raise click.BadParameter("give an entry's hash: 64 hexadecimal characters, as `audit verify` prints it")
    return value


@audit_group.command()
@click.option("--head", "kept_head", callback=_hash, default=None,
              help="A head hash kept elsewhere earlier (printed by a previous verify): it must still be in the chain.")
def verify(kept_head: str | None) -> None:
    """Walk the whole chain; name the first entry that was edited, deleted or reordered (exit 1), or
    the first backfill summary whose decisions or notices were edited, deleted or added since.
    Prints the head (the last entry's hash) to keep outside the database: with --head, deleting
    the newest entries, which the chain alone cannot show, is found too. A database that is damaged
    (PRAGMA quick_check) or whose audit table cannot be read is reported DAMAGED (exit 1)."""
    config = _settings()
    try:
        asyncio.run(sql_health.check(config.database_url))
    except sql_health.MissingDatabase as exc:
        raise click.ClickException(str(exc)) from None
    except sql_health.DatabaseUnusable as exc:
        click.echo(f"DAMAGED: {exc}", err=True)
        raise SystemExit(1) from None

    async def _walk() -> audit.Verdict:
        store = _store(config)
        await store.open()
        try:
            entries = [entry async for entry in store.audit_entries()]
            verdict = audit.verify([entry.as_json() for entry in entries], kept_head=kept_head)
            if verdict.ok:  # the chain is intact: do the rows still say what its backfill summaries recorded?
                found = await summaries.first_mismatch(store, entries)
                if found is not None:
                    return audit.Verdict(False, verdict.entries, found[0], found[1], verdict.head)
            return verdict
        finally:
            await store.close()

    try:
        verdict = asyncio.run(_walk())
    except sa.exc.DBAPIError as exc:  # damage quick_check does not see, or that appeared since
        reason = (str(exc.orig).strip().splitlines() or [""])[0]
        click.echo(f"DAMAGED: the audit table at {sql_health.where(config.database_url)} cannot be read ({reason}); "
                   "restore the database from a backup", err=True)
        raise SystemExit(1) from None
    if verdict.ok:
        click.echo(f"ok: {verdict.entries} entries, chain intact, head {verdict.head}")
        return
    click.echo(f"TAMPERED at entry {verdict.first_bad_seq}: {verdict.reason}", err=True)
    raise SystemExit(1)


@audit_group.command()
@click.option("--since", callback=_when, default=None, help="From this moment (inclusive).")
@click.option("--until", callback=_when, default=None, help="Up to this moment (exclusive).")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=pathlib.Path), required=True, help="JSON Lines file to write.")
def export(since: datetime.datetime | None, until: datetime.datetime | None, output: pathlib.Path) -> None:
    """Write entries as JSON Lines; an auditor checks them with the algorithm in docs/audit.md.
    A window starting after entry 1 is checked from its first entry's prev_hash."""
    config = _settings()
    database.prepare(config.database_url, upgrade=False)

    async def _export() -> int:
        store = _store(config)
        await store.open()
        count = 0
        try:
            with output.open("w", encoding="utf-8") as out:
                async for entry in store.audit_entries(since=since, until=until):
                    # A backfill summary carries the rows it covers (its members), so the export is checked alone.
                    record = await summaries.with_members(store, entry)
                    out.write(json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n")
                    count += 1
        finally:
            await store.close()
        return count

    click.echo(f"{asyncio.run(_export())} entries written to {output}")
