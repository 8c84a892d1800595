"""Option parsing the commands share."""

from __future__ import annotations

import datetime as dt

import click

from engine import settings


def load_settings() -> settings.Settings:
    """The service's settings from the environment; a bad value ends the command naming the variable."""
    try:
        return settings.Settings.from_env()
    except settings.SettingsError as exc:
        raise click.UsageError(str(exc)) from None


def parse_date(ctx: click.Context, param: click.Parameter, value: str | None) -> dt.date | None:
    """A click callback: a YYYY-MM-DD option as a date (None when not given)."""
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)") from None
