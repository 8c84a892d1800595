"""The `policy-push` command line."""

from __future__ import annotations

import asyncio
import logging
import sys

import click
from aiohttp import web

from engine import app as app_module
from engine import auth, catalogue, constants, migrate, settings
from engine.catalogue import cli as catalogue_cli


def _settings() -> settings.Settings:
    try:
        return settings.Settings.from_env()
    except settings.SettingsError as exc:
        raise click.UsageError(str(exc)) from None


@click.group()
@click.option("--log-level", default="INFO", show_default=True, help="Python logging level.")
def main(log_level: str) -> None:
    """policy-push: 免申即享 — signed events in, firm profiles kept, measures matched, notices pushed."""
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535))
def serve(host: str, port: int) -> None:
    """Apply migrations, then serve the webhook and the API (the pipeline runs in-process)."""
    config = _settings()
    if not config.webhook_secrets:
        logging.getLogger(__name__).warning(
            "no %s set: /webhooks/events will answer 503 until one is configured", settings.WEBHOOK_SECRETS_VAR
        )
    migrate.upgrade(config.database_url)
    matcher = catalogue.default_matcher()
    web.run_app(
        app_module.create_app(config, matcher=matcher), host=host, port=port, print=lambda line: click.echo(line)
    )


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    """Apply migrations up to REVISION (creates the SQLite file and its folder if needed)."""
    config = _settings()
    migrate.upgrade(config.database_url, revision)
    click.echo(f"database at {revision}")


@main.group()
def tokens() -> None:
    """API bearer tokens."""


@tokens.command("create")
@click.option("--role", type=click.Choice(constants.ROLES), required=True)
@click.option("--label", default="", help="Who or what the token is for.")
def tokens_create(role: str, label: str) -> None:
    """Create a token and print it once; only its hash is stored."""
    from connectors import sql_storage

    config = _settings()
    migrate.upgrade(config.database_url)
    token, digest = auth.new_token()

    async def _store() -> None:
        store = sql_storage.SqlStorage(config.database_url)
        await store.open()
        try:
            await store.add_token(digest, role, label)
        finally:
            await store.close()

    asyncio.run(_store())
    click.echo(token)
    click.echo(f"role {role}; shown once, store it now", err=True)


main.add_command(catalogue_cli.rules)
main.add_command(catalogue_cli.match)


if __name__ == "__main__":
    sys.exit(main())
