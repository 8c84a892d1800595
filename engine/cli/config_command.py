"""`policy-push config show`: the effective settings, as a TOML file would give them, secrets masked."""

from __future__ import annotations

import json
import os
import pathlib
from collections.abc import Iterator

import click
import yarl

from connectors import sms
from engine import constants, settings
from engine.cli import banner, config_file, options
from engine.judging.catalogue import loader
from engine.notices import render

#: What a masked secret is shown as.
MASK = "***"


@click.group("config")
def config_group() -> None:
    """The configuration file and environment every command reads."""


@config_group.command("show")
def config_show() -> None:
    """Print the effective settings (file, then environment, then defaults), each with where it came from;
    webhook secrets, keys, tokens and passwords in URLs are masked (the Aliyun key id but for its first 4 characters)."""
    config = options.load_settings()
    loaded = options.current_config_file()
    try:
        aliyun = sms.AliyunSmsSettings.from_env() if _aliyun_configured() else None
    except settings.SettingsError as exc:
        raise click.UsageError(config_file.explain(exc, loaded)) from None
    if loaded is None:
        click.echo(f"# no configuration file (--config FILE or {config_file.CONFIG_VAR}): environment and defaults only")
    else:
        click.echo(f"# configuration file: {loaded.path}")
    table = ""
    for name, value in effective(config, aliyun):
        key = config_file.BY_NAME[name]
        section, _, short = name.rpartition(".")
        if section != table:
            click.echo(f"\n[{section}]")
            table = section
        click.echo(f"{short} = {_toml(value)}  # {_source(key, loaded)}")
    if aliyun is None:
        click.echo(f"# no Aliyun SMS credentials: SMS are written as files to {config.notices.outbox_dir}")


@config_group.command("demo")
@click.argument("path", type=click.Path(dir_okay=False, path_type=pathlib.Path))
def config_demo(path: pathlib.Path) -> None:
    """Write the demo configuration `make run` uses at PATH (the database and outbox beside it, and a fresh
    webhook secret), unless a file is there already: its secret then stays what it was."""
    if banner.write_demo_config(path):
        click.echo(f"wrote {path} (a new demo webhook secret; `policy-push serve --demo` shows it)")
    else:
        click.echo(f"{path} exists: kept as it is")


def effective(config: settings.Settings, aliyun: sms.AliyunSmsSettings | None) -> Iterator[tuple[str, object]]:
    """Every key of the file with its effective value, secrets already masked, top-level keys first."""
    notices = config.notices
    quiet = notices.quiet_hours
    yield "database_url", mask_url(config.database_url)
    yield "webhook_secrets", [MASK for _ in config.webhook_secrets]
    yield "max_body_bytes", config.max_body_bytes
    yield "max_batch_items", config.max_batch_items
    yield "cookie_secure", config.cookie_secure
    yield "amqp_url", mask_url(config.amqp_url)
    yield "amqp_queue", config.amqp_queue
    yield "rules_dir", str(loader.rules_dir())
    yield "measures_dir", str(loader.measures_dir() or "")
    yield "templates_dir", str(render.templates_dir())
    yield "notices.smtp_url", mask_url(notices.smtp_url or "")
    yield "notices.mail_from", notices.mail_from
    yield "notices.mail_from_name", notices.mail_from_name
    yield "notices.outbox_dir", str(notices.outbox_dir)
    yield "notices.sign_name", notices.sign_name
    yield "notices.quiet_hours", "off" if quiet is None else f"{quiet.start:%H:%M}-{quiet.end:%H:%M}"
    yield "notices.sms_per_second", notices.sms_per_second
    yield "notices.email_per_second", notices.email_per_second
    yield "notices.smtp_sessions", notices.smtp_sessions
    yield "notices.public_url", notices.public_url
    yield "notices.secret_key", MASK if notices.secret_key else ""
    yield "notices.sms_report_token", MASK if notices.sms_report_token else ""
    yield "notices.stale_after_days", "off" if notices.stale_after is None else notices.stale_after.days
    yield "notices.firm_link_days", notices.firm_link_lifetime.days
    window = notices.digest_window
    yield "notices.digest_quiet_minutes", "off" if window is None else int(window.quiet.total_seconds() // 60)
    yield "notices.digest_longest_hours", constants.DIGEST_LONGEST_HOURS if window is None else int(window.longest.total_seconds() // 3600)
    if aliyun is not None:
        yield "aliyun_sms.access_key_id", aliyun.access_key_id[:4] + MASK  # enough to tell keys apart
        yield "aliyun_sms.access_key_secret", MASK
        yield "aliyun_sms.endpoint", aliyun.endpoint
        yield "aliyun_sms.sign_name", aliyun.sign_name
        yield "aliyun_sms.timeout", aliyun.timeout


def mask_url(raw: str) -> str:
    """`raw` with the password of its user part (if any) replaced by the mask."""
    if not raw:
        return raw
    try:
        url = yarl.URL(raw)
    except ValueError:
        return MASK  # not a URL we can take apart: show none of it
    return str(url.with_password(MASK)) if url.password else raw


def _aliyun_configured() -> bool:
    return bool(os.environ.get(sms.ACCESS_KEY_ID_VAR) or os.environ.get(sms.ALIYUN_KEY_ID_VAR))


def _source(key: config_file.Key, loaded: config_file.ConfigFile | None) -> str:
    value = os.environ.get(key.var)
    if not value:
        return "default"
    if loaded is not None and loaded.values.get(key.var) == value:
        return "file"
    return f"environment ({key.var})"


def _toml(value: object) -> str:
    """A TOML literal: JSON's strings, numbers and arrays are TOML's too."""
    return json.dumps(value, ensure_ascii=False)
