"""The `policy-push` command line."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import errno
import getpass
import logging
import signal
import socket
import sys
from collections.abc import AsyncIterator, Awaitable, Callable

import click
from aiohttp import web

from connectors import sql_migrate as migrate_revisions
from connectors import sql_storage
from engine import constants, settings
from engine.cli import audit as audit_cli
from engine.cli import backfill as backfill_cli
from engine.cli import consume as consume_cli
from engine.cli import banner, config_command, config_file, database, db_copy, db_files, options
from engine.cli import operators as operators_cli
from engine.cli import rules as catalogue_cli
from engine.cli import synth as synth_cli
from engine.cli import templates as templates_cli
from engine.cli import tokens as tokens_cli
from engine.core import notice_status
from engine.ingest import pipeline, webhooks
from engine.judging import catalogue
from engine.notices import compose, operator_actions, outbox, worker
from engine.telemetry import collector, logs, metrics, summary
from engine.web import access_log
from engine.web import app as app_module
from engine.web import senders


def _settings() -> settings.Settings:
    return options.load_settings()


@click.group()
@click.version_option(package_name="policy-push", prog_name="policy-push")
@click.option("--log-level", default="INFO", show_default=True, help="Python logging level.")
@click.option(
    "--log-format", type=click.Choice(logs.FORMATS), default="text", show_default=True,
    help="text for a terminal; json for one JSON object per line (with event_id, notice_id, … fields).",
)
@click.option(
    "--config", "config_path", envvar=config_file.CONFIG_VAR, default=None, metavar="FILE",
    help=f"TOML configuration file (${config_file.CONFIG_VAR}); POLICY_PUSH_* variables override its keys.",
)
@click.pass_context
def main(ctx: click.Context, log_level: str, log_format: str, config_path: str | None) -> None:
    """policy-push: 免申即享 — signed events in, firm profiles kept, measures matched, notices pushed."""
    logs.configure(log_level, log_format)
    options.use_config_file(ctx, config_path)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535))
@click.option("--no-delivery", is_flag=True, help="Do not send notices here (separate `policy-push worker` processes do).")
@click.option("--no-folding", is_flag=True,
              help="Do not fold received events here (separate `policy-push worker --fold` processes do).")
@click.option("--demo", is_flag=True, help="Show the webhook secrets in full in the start banner (`make run`'s own demo secret).")
def serve(host: str, port: int, no_delivery: bool, no_folding: bool, demo: bool) -> None:
    """Check the database (refusing a missing or damaged one), apply migrations, then serve the webhook and
    the API; the pipeline and the notice worker run in-process unless told otherwise."""
    config = _settings()
    _check_port(host, port)
    database.prepare(config.database_url)
    if not config.webhook_secrets:
        logging.getLogger(__name__).warning(
            "no %s set: /webhooks/events will answer 503 until one is configured", settings.WEBHOOK_SECRETS_VAR
        )
    matcher = catalogue.default_matcher()
    url, loaded = _base_url(host, port), options.current_config_file()
    program = sys.argv[0] if sys.argv[0].endswith("policy-push") else "policy-push"
    app = app_module.create_service(config, matcher, deliver=not no_delivery, fold=not no_folding)
    listening = asyncio.Event()

    def emit() -> None:
        now = datetime.datetime.now(datetime.UTC)
        click.echo("\n".join(banner.lines(config, url, now, demo=demo, loaded=loaded, program=program)))

    async def banner_ctx(app: web.Application) -> AsyncIterator[None]:
        # Without folding here, nothing of this process's backlog comes before the banner.
        drained = _nothing_to_wait_for if no_folding else app[webhooks.PIPELINE].drained
        collector.freeze_start_up()  # the last start-up context: the app, its pools and workers are up
        task = asyncio.create_task(banner.announce_when_ready(listening, drained, emit))
        yield
        task.cancel()  # stopped before the backlog was folded: no banner
        with contextlib.suppress(asyncio.CancelledError):
            await task

    app.cleanup_ctx.append(banner_ctx)
    try:
        web.run_app(
            app,
            host=host,
            port=port,
            print=lambda _running_on: listening.set(),  # aiohttp's "Running on …", once the socket listens
            access_log_class=access_log.AccessLogger,
            **app_module.SERVER_OPTIONS,
        )
    except OSError as exc:
        if exc.errno not in LISTEN_ERRORS:
            raise
        raise click.ClickException(_listen_error(host, port, exc)) from None


async def _nothing_to_wait_for() -> None:
    return None


#: Errors binding the listening socket that a person fixes by choosing another address or port.
LISTEN_ERRORS = (errno.EADDRINUSE, errno.EACCES, errno.EADDRNOTAVAIL)


def _check_port(host: str, port: int, option: str = "--port") -> None:
    """Refuse at once, in one line, an address the service cannot listen on (another service has the port,
    or it needs privileges), before migrations run or workers start."""
    if port == 0:
        return  # any free port: nothing to check
    try:
        addresses = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: unknown host ({exc.strerror})") from None
    for family, _type, _proto, _name, address in addresses:
        try:
            socket.create_server(address, family=family).close()
        except OSError as exc:
            if exc.errno not in LISTEN_ERRORS:
                raise
            raise click.ClickException(_listen_error(host, port, exc, option)) from None


def _listen_error(host: str, port: int, exc: OSError, option: str = "--port") -> str:
    reason = {
        errno.EADDRINUSE: f"the port is already in use (another policy-push process? choose another with {option})",
        errno.EACCES: f"not allowed (ports below 1024 need privileges; choose another with {option})",
        errno.EADDRNOTAVAIL: "no such address on this machine (check --host)",
    }[exc.errno]
    return f"cannot listen on {host}:{port}: {reason}"


def _base_url(host: str, port: int) -> str:
    """The address a browser on this machine reaches the service at."""
    shown = "127.0.0.1" if host in ("0.0.0.0", "", "::") else host
    return f"http://[{shown}]:{port}" if ":" in shown else f"http://{shown}:{port}"


@main.command("worker")
@click.option("--metrics-port", type=click.IntRange(0, 65535), default=None,
              help="Also serve GET /metrics (Prometheus) on this port.")
@click.option("--metrics-host", default="127.0.0.1", show_default=True)
@click.option("--fold", is_flag=True,
              help="Also fold received events into profiles and judge them (beside `serve --no-folding`).")
@click.option("--no-delivery", is_flag=True, help="Do not send notices (with --fold: a folding worker only).")
def worker_command(metrics_port: int | None, metrics_host: str, fold: bool, no_delivery: bool) -> None:
    """Run a notice delivery worker, and with --fold a folding pipeline; several may share one PostgreSQL
    database. (On SQLite a folding worker's write transactions hold up the service's acknowledgements,
    which wait for the one writer across processes: keep folding in `serve` there.)"""

    if no_delivery and not fold:
        raise click.UsageError("--no-delivery leaves this worker nothing to do; add --fold, or drop --no-delivery")
    config = _settings()
    if metrics_port is not None:
        _check_port(metrics_host, metrics_port, option="--metrics-port")
    database.prepare(config.database_url)
    matcher = catalogue.default_matcher()

    async def _run() -> None:
        store = sql_storage.SqlStorage.configured(config)
        await store.open()
        delivery = None if no_delivery else worker.DeliveryWorker(
            store, compose.Composer(matcher.catalogue, config.notices), senders.build_channels(config.notices),
            auto_grants=compose.auto_grant_clauses(matcher.catalogue),
        )
        folding = pipeline.Pipeline(
            store, matcher, group_size=constants.FOLD_WORKER_GROUP_SIZE, poll_seconds=constants.FOLD_WORKER_POLL_SECONDS
        ) if fold else None
        if folding is not None and delivery is not None:
            folding.on_decisions.append(delivery.wake)  # what the folds made due goes out now, not at the next poll
        collector.freeze_start_up()
        running = [(part, asyncio.create_task(part.run_forever())) for part in (folding, delivery) if part is not None]
        exporter = None if metrics_port is None else await metrics.serve_alone(store, metrics_host, metrics_port)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        async with summary.periodic():
            await stop.wait()
        for part, task in running:  # folding first: its last group's notices are then the delivery's to send
            await part.stop(task, timeout=constants.SHUTDOWN_GRACE_SECONDS)
        if exporter is not None:
            await exporter.cleanup()
        await store.close()

    asyncio.run(_run())


@main.group()
def notices() -> None:
    """Notices (outbox)."""


@notices.command("retry")
@click.argument("notice_id")
def notices_retry(notice_id: str) -> None:
    """Requeue a dead or undelivered notice."""
    _operator_action(notice_id, operator_actions.requeue)


@notices.command("release")
@click.argument("notice_id")
def notices_release(notice_id: str) -> None:
    """Send a held notice (its benefit's window closed long before the decision was recorded)."""
    _operator_action(notice_id, operator_actions.release)


def _operator_action(notice_id: str, action: Callable[[outbox.NoticeStore, str, str], Awaitable[outbox.NoticeRecord]]) -> None:
    config = _settings()
    database.prepare(config.database_url, upgrade=False)

    async def _act() -> str:
        store = sql_storage.SqlStorage.configured(config)
        await store.open()
        try:
            notice = await action(store, notice_id, f"cli ({getpass.getuser()})")
            return notice.status.value
        finally:
            await store.close()

    try:
        click.echo(f"{notice_id}: {asyncio.run(_act())}")
    except KeyError:
        raise click.ClickException(f"no notice {notice_id}") from None
    except notice_status.IllegalTransition as exc:
        raise click.ClickException(str(exc)) from None


@main.group()
def firms() -> None:
    """Firms: their own page (我的政策)."""


@firms.command("revoke-links")
@click.argument("uscc")
def firms_revoke_links(uscc: str) -> None:
    """Stop every link to the firm's page sent so far (a forwarded or leaked email); later notices bring new ones."""
    config = _settings()
    uscc = uscc.strip().upper()

    async def _revoke() -> datetime.datetime:
        store = sql_storage.SqlStorage.configured(config)
        await store.open()
        try:
            at = datetime.datetime.now(datetime.UTC)
            await store.revoke_links(uscc, f"cli ({getpass.getuser()})", at)
            return at
        finally:
            await store.close()

    try:
        at = asyncio.run(_revoke())
    except KeyError:
        raise click.ClickException(f"no firm {uscc}") from None
    click.echo(f"{uscc}: links issued until {at.isoformat()} no longer open the firm's page")


@main.group()
def db() -> None:
    """Database schema, backups, and moving an installation to PostgreSQL."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    """Apply migrations up to REVISION: the one command that creates a missing SQLite file (and its folder);
    an existing database is checked first and refused if damaged."""
    config = _settings()
    database.create_or_upgrade(config.database_url, revision)
    click.echo(f"database at {revision}")


@db.command("current")
def db_current() -> None:
    """Print the migration the database is at, and whether it is this code's newest."""
    config = _settings()
    found, head = database.current(config.database_url), migrate_revisions.head_revision()
    click.echo(f"{found or 'none'} ({'head' if found == head else f'this code expects {head}: run `policy-push db upgrade`'})")


@db.command("downgrade")
@click.argument("revision")
@click.option("--yes", is_flag=True, help="Do not ask: columns and tables the later migrations added are dropped, with their data.")
def db_downgrade(revision: str, yes: bool) -> None:
    """Take the schema back to REVISION (to run an older release: back up first, `db backup` or pg_dump)."""
    config = _settings()
    if not yes:
        click.confirm(f"Take the database back to migration {revision}? Data in what later migrations added is lost", abort=True)
    database.downgrade(config.database_url, revision)
    click.echo(f"database at {revision}")


db.add_command(db_files.db_backup)
db.add_command(db_files.db_restore)
db.add_command(db_copy.db_copy)


@main.group()
def secrets() -> None:
    """Secrets the service is configured with."""


@secrets.command("new")
def secrets_new() -> None:
    """Print a fresh webhook signing secret (whsec_…) for POLICY_PUSH_WEBHOOK_SECRETS and the sender."""
    click.echo(settings.new_webhook_secret())


main.add_command(tokens_cli.tokens)
main.add_command(catalogue_cli.rules)
main.add_command(catalogue_cli.match)
main.add_command(templates_cli.templates)
main.add_command(audit_cli.audit_group)
main.add_command(operators_cli.operators)
main.add_command(synth_cli.synth)
main.add_command(backfill_cli.backfill)
main.add_command(consume_cli.consume)
main.add_command(config_command.config_group)


if __name__ == "__main__":
    sys.exit(main())
