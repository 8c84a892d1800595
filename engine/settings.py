"""Settings, parsed once from the environment with errors that name the variable."""

from __future__ import annotations

import base64
import binascii
import dataclasses
import os
import secrets as secrets_module
from collections.abc import Mapping

import sqlalchemy.engine
import sqlalchemy.exc
import yarl

from engine import constants
from engine.notices import config as notice_config

DATABASE_URL_VAR = "POLICY_PUSH_DATABASE_URL"
WEBHOOK_SECRETS_VAR = "POLICY_PUSH_WEBHOOK_SECRETS"
MAX_BODY_VAR = "POLICY_PUSH_MAX_BODY_BYTES"
MAX_BATCH_VAR = "POLICY_PUSH_MAX_BATCH_ITEMS"
AMQP_URL_VAR = "POLICY_PUSH_AMQP_URL"
AMQP_QUEUE_VAR = "POLICY_PUSH_AMQP_QUEUE"
COOKIE_SECURE_VAR = "POLICY_PUSH_COOKIE_SECURE"

#: When console cookies are marked Secure: `auto` when aiohttp itself serves TLS; `always` (behind a
#: TLS-terminating proxy, so the browser never sends them over plain http); `forwarded` when the
#: request is TLS or the proxy says so in X-Forwarded-Proto (trusted only with this value: a client
#: reaching the service directly could send that header too).
COOKIE_SECURE_MODES = ("auto", "always", "forwarded")

SUPPORTED_DRIVERS = ("sqlite+aiosqlite", "postgresql+asyncpg")


class SettingsError(ValueError):
    """A configuration value is missing or malformed; the message names the variable."""


@dataclasses.dataclass(frozen=True)
class Settings:
    """Everything the service reads from its environment."""

    database_url: str = constants.DEFAULT_DATABASE_URL
    webhook_secrets: tuple[str, ...] = ()
    max_body_bytes: int = constants.MAX_BODY_BYTES
    max_batch_items: int = constants.MAX_BATCH_ITEMS
    cookie_secure: str = "auto"
    notices: notice_config.NoticeSettings = dataclasses.field(default_factory=notice_config.NoticeSettings)
    #: The broker `policy-push consume` reads events from, and its queue.
    amqp_url: str = constants.AMQP_URL
    amqp_queue: str = constants.AMQP_QUEUE

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read and check `POLICY_PUSH_*` variables; raise SettingsError naming the bad one."""
        env = os.environ if environ is None else environ
        return cls(
            database_url=parse_database_url(env.get(DATABASE_URL_VAR) or constants.DEFAULT_DATABASE_URL),
            webhook_secrets=parse_webhook_secrets(env.get(WEBHOOK_SECRETS_VAR, "")),
            max_body_bytes=_positive_int(env, MAX_BODY_VAR, constants.MAX_BODY_BYTES),
            max_batch_items=_positive_int(env, MAX_BATCH_VAR, constants.MAX_BATCH_ITEMS),
            cookie_secure=_choice(env, COOKIE_SECURE_VAR, COOKIE_SECURE_MODES),
            notices=_notice_settings(env),
            amqp_url=parse_amqp_url(env.get(AMQP_URL_VAR) or constants.AMQP_URL),
            amqp_queue=_queue_name(env.get(AMQP_QUEUE_VAR) or constants.AMQP_QUEUE),
        )


def parse_database_url(raw: str) -> str:
    """Accept SQLite (aiosqlite) or PostgreSQL (asyncpg) URLs; `postgresql://` gets the asyncpg driver."""
    try:
        url = sqlalchemy.engine.make_url(raw)
    except sqlalchemy.exc.ArgumentError as exc:
        raise SettingsError(f"{DATABASE_URL_VAR}: not a database URL ({exc})") from None
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+asyncpg")
    elif url.drivername == "sqlite":
        url = url.set(drivername="sqlite+aiosqlite")
    if url.drivername not in SUPPORTED_DRIVERS:
        raise SettingsError(
            f"{DATABASE_URL_VAR}: driver {url.drivername!r} is not supported; "
            f"use one of {', '.join(SUPPORTED_DRIVERS)}"
        )
    if url.drivername.startswith("sqlite") and not url.database:
        raise SettingsError(f"{DATABASE_URL_VAR}: a SQLite URL needs a file path (in-memory databases lose events)")
    return url.render_as_string(hide_password=False)


def parse_amqp_url(raw: str) -> str:
    """An `amqp://` or `amqps://` URL with a host."""
    try:
        url = yarl.URL(raw.strip())
    except ValueError:
        url = yarl.URL()
    if url.scheme not in ("amqp", "amqps") or not url.host:
        shown = str(url.with_password("***")) if url.password else raw
        raise SettingsError(f"{AMQP_URL_VAR}: {shown!r} is not an amqp:// or amqps:// URL with a host")
    return str(url)


def _queue_name(raw: str) -> str:
    """RabbitMQ queue names: up to 255 bytes; `amq.` is reserved for the broker."""
    name = raw.strip()
    if not name or len(name.encode()) > 255 or name.startswith("amq."):
        raise SettingsError(f"{AMQP_QUEUE_VAR}: {raw!r} is not a usable queue name (1–255 bytes, not starting with 'amq.')")
    return name


def new_webhook_secret() -> str:
    """A fresh Standard Webhooks secret: `whsec_` and 32 random bytes in base64 (the spec asks 24 to 64)."""
    return "whsec_" + base64.b64encode(secrets_module.token_bytes(32)).decode()


def parse_webhook_secrets(raw: str) -> tuple[str, ...]:
    """Space-separated `whsec_…` secrets; every one is accepted so a secret can be rotated without downtime."""
    secrets = tuple(raw.split())
    for position, secret in enumerate(secrets, start=1):
        if not secret.startswith("whsec_"):
            raise SettingsError(f"{WEBHOOK_SECRETS_VAR}: secret #{position} does not start with 'whsec_'")
        try:
            key = base64.b64decode(secret.removeprefix("whsec_") + "==")
        except binascii.Error:
            raise SettingsError(f"{WEBHOOK_SECRETS_VAR}: secret #{position} is not valid base64") from None
        if not 24 <= len(key) <= 64:
            raise SettingsError(
                f"{WEBHOOK_SECRETS_VAR}: secret #{position} decodes to {len(key)} bytes; "
                "Standard Webhooks asks for 24 to 64"
            )
    return secrets


def _choice(env: Mapping[str, str], name: str, choices: tuple[str, ...]) -> str:
    """One of `choices` (the first when unset)."""
    raw = (env.get(name) or choices[0]).strip().lower()
    if raw not in choices:
        raise SettingsError(f"{name}: use one of {', '.join(choices)}, not {raw!r}")
    return raw


def _positive_int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name}: {raw!r} is not a whole number") from None
    if value <= 0:
        raise SettingsError(f"{name}: must be positive, got {value}")
    return value


def _notice_settings(env: Mapping[str, str]) -> notice_config.NoticeSettings:
    try:
        return notice_config.NoticeSettings.from_env(env)
    except notice_config.NoticeSettingsError as exc:
        raise SettingsError(str(exc)) from None
