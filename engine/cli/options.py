"""Option parsing the commands share, and the one way a command loads its settings."""

from __future__ import annotations

import datetime as dt
import os

import click

from connectors import sms
from engine import settings
from engine.cli import config_file

#: Where the `main` group keeps the configuration file it loaded, for `load_settings` and `config show`.
CONFIG_META = "policy_push.config_file"


def use_config_file(ctx: click.Context, path: str | None) -> config_file.ConfigFile | None:
    """Load and check the configuration file at `path` (from `--config` or POLICY_PUSH_CONFIG), export
    its values for the variables the environment does not set, and keep it for `load_settings`."""
    if not path:
        ctx.meta[CONFIG_META] = None
        return None
    try:
        loaded = config_file.load(path)
    except config_file.ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    config_file.export(loaded)
    ctx.meta[CONFIG_META] = loaded
    return loaded


def current_config_file() -> config_file.ConfigFile | None:
    """The configuration file the running command was given, if any."""
    ctx = click.get_current_context(silent=True)
    return None if ctx is None else ctx.meta.get(CONFIG_META)


def load_settings() -> settings.Settings:
    """The service's settings: the configuration file's values under the environment's; a bad value ends
    the command naming the variable (and the file and key when it came from the file)."""
    try:
        loaded = settings.Settings.from_env()
        if os.environ.get(sms.ACCESS_KEY_ID_VAR) or os.environ.get(sms.ALIYUN_KEY_ID_VAR):
            sms.AliyunSmsSettings.from_env()  # checked here, with the rest, not when the first SMS is due
        return loaded
    except settings.SettingsError as exc:
        raise click.UsageError(config_file.explain(exc, current_config_file())) from None


def parse_date(ctx: click.Context, param: click.Parameter, value: str | None) -> dt.date | None:
    """A click callback: a YYYY-MM-DD option as a date (None when not given)."""
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)") from None
