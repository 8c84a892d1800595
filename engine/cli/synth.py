"""`policy-push synth`: load synthetic firms (engine.synth) locally or replay them as signed webhooks.

Locally the events take the webhook's own path (engine.validation, then engine.webhooks'
NewEvent, then the storage's add_events, one transaction per batch), so the service's pipeline
folds them like any received event; with --url they are POSTed as signed Standard Webhooks
batches to a running service. Event ids are fixed by seed and firm, so a rerun stores nothing new.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import sys
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import click
import sqlalchemy as sa
import sqlalchemy.engine

from connectors import sms, sql_storage
from connectors import sql_models as models
from engine import settings
from engine.cli import database, options
from engine.ingest import synth as synthetic


@dataclasses.dataclass
class _Tally:
    """What went by: firms per jurisdiction and events per type."""

    firms: Counter[str] = dataclasses.field(default_factory=Counter)
    types: Counter[str] = dataclasses.field(default_factory=Counter)


def _stream(firms: int, seed: int, tally: _Tally, progress: Any) -> Iterator[dict[str, Any]]:
    for firm, events in synthetic.generate(firms, seed):
        if firm is not None:
            tally.firms[firm.jurisdiction] += 1
            progress.update(1)
        for event in events:
            tally.types[event["type"]] += 1
            yield event


class _NoProgress:
    def update(self, _n: int) -> None:
        pass


def _progress(firms: int) -> contextlib.AbstractContextManager[Any]:
    # A bar only for a person watching; logs and `make run` get the summary alone.
    if sys.stderr.isatty():
        return click.progressbar(length=firms, label="firms", file=sys.stderr, show_pos=True)
    return contextlib.nullcontext(_NoProgress())


def _settings() -> settings.Settings:
    return options.load_settings()


def _live_channels(config: settings.Settings) -> list[str]:
    """Notice channels that would reach real people (synthetic mobiles may be real numbers)."""
    live = []
    if config.notices.smtp_url:
        live.append("POLICY_PUSH_SMTP_URL")
    for name in (sms.ACCESS_KEY_ID_VAR, sms.ALIYUN_KEY_ID_VAR):
        if os.environ.get(name):
            live.append(name)
    return live


async def _load_local(url: str, firms: int, seed: int, batch: int, if_empty: bool, tally: _Tally) -> synthetic.LoadReport | None:
    store = sql_storage.SqlStorage(url)
    await store.open()
    try:
        if if_empty and await has_events(store):
            return None
        with _progress(firms) as progress:
            return await synthetic.store_events(
                store, _stream(firms, seed, tally, progress), batch=batch, agent=f"policy-push synth (seed {seed})"
            )
    finally:
        await store.close()


async def _post(url: str, secret: str, firms: int, seed: int, batch: int, tally: _Tally) -> synthetic.LoadReport:
    with _progress(firms) as progress:
        return await synthetic.post_events(url, secret, _stream(firms, seed, tally, progress), batch=batch, seed=seed)


def _echo_summary(target: str, firms: int, seed: int, tally: _Tally, report: synthetic.LoadReport, elapsed: float) -> None:
    total = sum(tally.types.values())
    click.echo(f"synth: {firms} firms (seed {seed}) → {target}")
    click.echo("firms by jurisdiction: " + " · ".join(f"{slug} {n}" for slug, n in sorted(tally.firms.items())))
    click.echo("events by type:")
    for kind, n in sorted(tally.types.items(), key=lambda item: (-item[1], item[0])):
        click.echo(f"  {kind:<28}{n:>9}")
    click.echo(f"  {'total':<28}{total:>9}")
    click.echo(
        f"accepted {report.accepted} · duplicate {report.duplicate} · rejected {report.rejected} · conflict {report.conflict}"
    )
    click.echo(f"elapsed {elapsed:.1f} s · {total / max(elapsed, 1e-9):.0f} events/s")
    for event_id, problems in report.problems:
        details = "; ".join(f"{p.get('path')}: {p.get('reason')}" for p in problems)
        click.echo(f"  {event_id}: {details}", err=True)


@click.command("synth")
@click.option("--firms", type=click.IntRange(min=1), required=True, help="How many synthetic firms to generate.")
@click.option("--seed", type=int, default=1, show_default=True, help="Same seed, same firms and event ids.")
@click.option("--url", default=None, help="Base URL of a running service: POST signed webhook batches there instead of loading the local database.")
@click.option("--secret", default=None, help="whsec_… secret to sign with (--url); default: the first of POLICY_PUSH_WEBHOOK_SECRETS.")
@click.option("--if-empty", is_flag=True, help="Do nothing if the database already holds events (first-start demo data).")
@click.option("--batch", type=click.IntRange(1, 10_000), default=synthetic.DEFAULT_BATCH, show_default=True, help="Events per transaction or webhook delivery.")
@click.option("--allow-live-channels", is_flag=True, help="Load even though SMTP or SMS credentials are configured (synthetic mobiles may be real numbers).")
def synth(firms: int, seed: int, url: str | None, secret: str | None, if_empty: bool, batch: int, allow_live_channels: bool) -> None:
    """Generate synthetic firms and their events across the five measures' jurisdictions and load them.

    Without --url the events are validated and stored in the configured database exactly as the
    webhook stores them (the service's pipeline then folds them); with --url they are replayed
    to a running service as signed Standard Webhooks batches. A rerun with the same seed stores
    nothing new: every event comes back as a duplicate.
    """
    tally = _Tally()
    started = time.perf_counter()
    if url:
        if if_empty:
            raise click.UsageError("--if-empty checks the local database; it cannot be combined with --url")
        secret = secret or next(iter(os.environ.get(settings.WEBHOOK_SECRETS_VAR, "").split()), None)
        if not secret:
            raise click.UsageError(f"--url needs --secret (or {settings.WEBHOOK_SECRETS_VAR})")
        try:
            settings.parse_webhook_secrets(secret)
        except settings.SettingsError as exc:
            raise click.UsageError(str(exc).replace(settings.WEBHOOK_SECRETS_VAR, "--secret")) from None
        try:
            report = asyncio.run(_post(url, secret, firms, seed, batch, tally))
        except synthetic.LoadError as exc:
            raise click.ClickException(str(exc)) from None
        target = url.rstrip("/") + "/webhooks/events"
    else:
        config = _settings()
        if (live := _live_channels(config)) and not allow_live_channels:
            reason = f"{', '.join(live)} configured: synthetic firms would get real messages"
            if if_empty:  # the first-start demo simply stays out of a service that sends for real
                click.echo(f"synth: skipped ({reason}); use --allow-live-channels to load anyway")
                return
            raise click.UsageError(f"{reason}; use --allow-live-channels to load anyway")
        database.prepare(config.database_url)
        report = asyncio.run(_load_local(config.database_url, firms, seed, batch, if_empty, tally))
        target = sqlalchemy.engine.make_url(config.database_url).render_as_string(hide_password=True)
        if report is None:
            click.echo(f"synth: {target} already holds events; --if-empty: nothing loaded")
            return
    _echo_summary(target, firms, seed, tally, report, time.perf_counter() - started)
    if report.rejected or report.conflict:
        raise click.ClickException(f"{report.rejected} event(s) rejected, {report.conflict} conflicting")


async def has_events(store: sql_storage.SqlStorage) -> bool:
    """Whether the SQL store holds any event at all (`--if-empty`)."""
    table = models.Event.__table__
    async with store.read() as connection:
        return (await connection.execute(sa.select(table.c.seq).limit(1))).first() is not None
