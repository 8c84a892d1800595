"""The configuration file: one TOML file every command reads (`--config` or `POLICY_PUSH_CONFIG`).

Each key of the file stands for one `POLICY_PUSH_*` variable (`KEYS`). The file is checked as a
whole before anything runs: a key it does not know, or a value of the wrong TOML type, is refused
with the file and the key named. Its values are then exported to the command's environment for
each variable that is not set (or set empty) there, so a variable always overrides the file, and
every reader in the process (the settings, the Aliyun SMS credentials, the rules and templates
folders) and every process it starts sees one configuration.

Relative paths in the file (a SQLite database, the outbox, the rules and templates folders) are
taken relative to the file's own folder, not to wherever a command is run from: every command
given the same file finds the same database.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import tomllib
from collections.abc import Mapping, MutableMapping

import sqlalchemy.engine
import sqlalchemy.exc

from connectors import sms
from engine import settings
from engine.judging.catalogue import loader
from engine.notices import render

CONFIG_VAR = "POLICY_PUSH_CONFIG"

#: What a key's TOML value must be; the label is what an error says was expected.
KINDS = {
    "string": "a string",
    "integer": "a whole number",
    "number": "a number",
    "path": "a string (a path; relative to this file's folder)",
    "database_url": "a string (a database URL; a relative SQLite path is relative to this file's folder)",
    "secrets": "an array of strings (whsec_… secrets)",
    "days_or_off": "a whole number of days or the string \"off\"",
    "minutes_or_off": "a whole number of minutes or the string \"off\"",
}


@dataclasses.dataclass(frozen=True)
class Key:
    """One key of the file: its dotted name, the variable it stands for, its TOML kind, and whether
    `config show` masks it."""

    name: str
    var: str
    kind: str = "string"
    secret: bool = False


KEYS: tuple[Key, ...] = (
    Key("database_url", settings.DATABASE_URL_VAR, "database_url"),
    Key("webhook_secrets", settings.WEBHOOK_SECRETS_VAR, "secrets", secret=True),
    Key("max_body_bytes", settings.MAX_BODY_VAR, "integer"),
    Key("max_batch_items", settings.MAX_BATCH_VAR, "integer"),
    Key("cookie_secure", settings.COOKIE_SECURE_VAR),
    Key("amqp_url", settings.AMQP_URL_VAR),
    Key("amqp_queue", settings.AMQP_QUEUE_VAR),
    Key("rules_dir", loader.RULES_DIR_VAR, "path"),
    Key("measures_dir", loader.MEASURES_DIR_VAR, "path"),
    Key("templates_dir", render.TEMPLATES_DIR_VAR, "path"),
    Key("notices.smtp_url", "POLICY_PUSH_SMTP_URL"),
    Key("notices.mail_from", "POLICY_PUSH_MAIL_FROM"),
    Key("notices.mail_from_name", "POLICY_PUSH_MAIL_FROM_NAME"),
    Key("notices.outbox_dir", "POLICY_PUSH_OUTBOX_DIR", "path"),
    Key("notices.sign_name", "POLICY_PUSH_SMS_SIGN_NAME"),
    Key("notices.quiet_hours", "POLICY_PUSH_SMS_QUIET_HOURS"),
    Key("notices.sms_per_second", "POLICY_PUSH_SMS_PER_SECOND", "number"),
    Key("notices.email_per_second", "POLICY_PUSH_EMAIL_PER_SECOND", "number"),
    Key("notices.smtp_sessions", "POLICY_PUSH_SMTP_SESSIONS", "integer"),
    Key("notices.public_url", "POLICY_PUSH_PUBLIC_URL"),
    Key("notices.secret_key", "POLICY_PUSH_SECRET_KEY", secret=True),
    Key("notices.sms_report_token", "POLICY_PUSH_SMS_REPORT_TOKEN", secret=True),
    Key("notices.stale_after_days", "POLICY_PUSH_STALE_AFTER_DAYS", "days_or_off"),
    Key("notices.firm_link_days", "POLICY_PUSH_FIRM_LINK_DAYS", "integer"),
    Key("notices.digest_quiet_minutes", "POLICY_PUSH_DIGEST_QUIET_MINUTES", "minutes_or_off"),
    Key("notices.digest_longest_hours", "POLICY_PUSH_DIGEST_LONGEST_HOURS", "integer"),
    Key("aliyun_sms.access_key_id", sms.ACCESS_KEY_ID_VAR),
    Key("aliyun_sms.access_key_secret", sms.ACCESS_KEY_SECRET_VAR, secret=True),
    Key("aliyun_sms.endpoint", sms.ENDPOINT_VAR),
    Key("aliyun_sms.sign_name", sms.SIGN_NAME_VAR),
    Key("aliyun_sms.timeout", sms.TIMEOUT_VAR, "number"),
)
BY_NAME = {key.name: key for key in KEYS}
BY_VAR = {key.var: key for key in KEYS}
TABLES = sorted({key.name.split(".")[0] for key in KEYS if "." in key.name})


class ConfigError(settings.SettingsError):
    """The configuration file is missing, not TOML, or has an unknown key or a value of the wrong type;
    the message names the file and the key."""


@dataclasses.dataclass(frozen=True)
class ConfigFile:
    """A checked configuration file: its path and the value of each variable it sets, as text."""

    path: pathlib.Path
    values: Mapping[str, str]


def load(path: str | os.PathLike[str]) -> ConfigFile:
    """Read and check the file at `path`; raise ConfigError naming the file and the key."""
    where = pathlib.Path(path).expanduser().absolute()
    try:
        with where.open("rb") as handle:
            document = tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"{where}: no such configuration file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{where}: cannot be read ({type(exc).__name__}: {exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{where}: not valid TOML ({exc})") from None
    values: dict[str, str] = {}
    for name, value in _flatten(where, document):
        key = BY_NAME.get(name)
        if key is None:
            raise ConfigError(f"{where}: unknown key {name!r}{_hint(name)}")
        values[key.var] = _text(where, key, value)
    return ConfigFile(where, values)


def export(config: ConfigFile, environ: MutableMapping[str, str] | None = None) -> list[str]:
    """Set each variable the file sets and the environment does not (or sets empty); return those set.
    A variable already set wins: the environment overrides the file."""
    env = os.environ if environ is None else environ
    exported = []
    for var, value in config.values.items():
        if not env.get(var):
            env[var] = value
            exported.append(var)
    return exported


def explain(error: settings.SettingsError, config: ConfigFile | None, environ: Mapping[str, str] | None = None) -> str:
    """A settings error as the person who wrote the file needs it: when the bad value came from the file
    (its variable names the error and the environment did not override it), name the file and key too."""
    message = str(error)
    if config is None:
        return message
    env = os.environ if environ is None else environ
    var, colon, rest = message.partition(":")
    if colon and var in config.values and env.get(var) == config.values[var]:
        return f"{config.path}: key {BY_VAR[var].name!r} ({var}):{rest}"
    return message


def _flatten(where: pathlib.Path, document: Mapping[str, object]) -> list[tuple[str, object]]:
    """The document's (dotted key, value) pairs: top-level keys, and keys of the known tables."""
    pairs: list[tuple[str, object]] = []
    for name, value in document.items():
        if name in TABLES:
            if not isinstance(value, dict):
                raise ConfigError(f"{where}: key {name!r}: expected a table [{name}], got {_toml_type(value)}")
            for inner, inner_value in value.items():
                pairs.append((f"{name}.{inner}", inner_value))
        elif isinstance(value, dict):
            raise ConfigError(f"{where}: unknown table [{name}] (known tables: {', '.join(TABLES)})")
        else:
            pairs.append((name, value))
    return pairs


def _hint(name: str) -> str:
    table = name.split(".")[0] if "." in name else ""
    known = [key.name.rpartition(".")[2] for key in KEYS if key.name.rpartition(".")[0] == table]
    where = f"in [{table}]" if table else "at the top level"
    return f" (known keys {where}: {', '.join(known)})"


def _text(where: pathlib.Path, key: Key, value: object) -> str:
    """The value as its variable's text, after checking its TOML type."""
    kind = key.kind
    if kind == "integer" and isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if kind == "number" and isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    if kind in ("days_or_off", "minutes_or_off") and ((isinstance(value, int) and not isinstance(value, bool)) or value == "off"):
        return str(value)
    if kind == "secrets" and isinstance(value, list) and all(isinstance(item, str) for item in value):
        if any(not item.strip() or len(item.split()) > 1 for item in value):
            raise ConfigError(f"{where}: key {key.name!r}: each secret is one whsec_… string without spaces")
        return " ".join(value)
    if kind in ("string", "path", "database_url") and isinstance(value, str):
        if kind == "path":
            return str(where.parent / pathlib.Path(value).expanduser()) if value else value
        if kind == "database_url":
            return _database_url(where, key, value)
        return value
    raise ConfigError(f"{where}: key {key.name!r}: expected {KINDS[kind]}, got {_toml_type(value)}")


def _database_url(where: pathlib.Path, key: Key, value: str) -> str:
    """A SQLite URL's relative file path made relative to the config file's folder."""
    try:
        url = sqlalchemy.engine.make_url(value)
    except sqlalchemy.exc.ArgumentError as exc:
        raise ConfigError(f"{where}: key {key.name!r}: not a database URL ({exc})") from None
    if url.drivername.startswith("sqlite") and url.database and not pathlib.Path(url.database).is_absolute():
        url = url.set(database=str(where.parent / url.database))
    return url.render_as_string(hide_password=False)


def _toml_type(value: object) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a float", str: "a string", list: "an array", dict: "a table"}
    for python_type, label in names.items():
        if isinstance(value, python_type):
            return f"{label} ({value!r})" if python_type in (bool, int, float) else label
    return f"a {type(value).__name__}"  # dates and times
