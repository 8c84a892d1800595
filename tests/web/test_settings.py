"""Settings come from the environment once, with errors that name the variable."""

from __future__ import annotations

import datetime

import pytest

from engine import constants, settings
from engine.web import app as app_module
from engine.web import keys as web_keys
from tests import factories


def test_defaults_are_the_embedded_sqlite_database():
    config = settings.Settings.from_env({})
    assert config.database_url == constants.DEFAULT_DATABASE_URL and config.is_sqlite
    assert config.webhook_secrets == () and config.max_body_bytes == 1024 * 1024


def test_postgres_url_gets_the_async_driver():
    config = settings.Settings.from_env({"POLICY_PUSH_DATABASE_URL": "postgresql://u@127.0.0.1:5432/test"})
    assert config.database_url.startswith("postgresql+asyncpg://")


def test_several_secrets_are_kept_for_rotation():
    config = settings.Settings.from_env({"POLICY_PUSH_WEBHOOK_SECRETS": f"{factories.SECRET}  {factories.OTHER_SECRET}"})
    assert config.webhook_secrets == (factories.SECRET, factories.OTHER_SECRET)


@pytest.mark.parametrize(
    "env, words",
    [
        ({"POLICY_PUSH_DATABASE_URL": "mysql://x/y"}, ["POLICY_PUSH_DATABASE_URL", "not supported"]),
        ({"POLICY_PUSH_DATABASE_URL": "::nonsense"}, ["POLICY_PUSH_DATABASE_URL"]),
        ({"POLICY_PUSH_DATABASE_URL": "sqlite+aiosqlite://"}, ["needs a file path"]),
        ({"POLICY_PUSH_WEBHOOK_SECRETS": "secret123"}, ["POLICY_PUSH_WEBHOOK_SECRETS", "#1", "whsec_"]),
        ({"POLICY_PUSH_WEBHOOK_SECRETS": f"{factories.SECRET} whsec_c2hvcnQ="}, ["#2", "24 to 64"]),
        ({"POLICY_PUSH_MAX_BODY_BYTES": "lots"}, ["POLICY_PUSH_MAX_BODY_BYTES", "whole number"]),
        ({"POLICY_PUSH_MAX_BATCH_ITEMS": "0"}, ["POLICY_PUSH_MAX_BATCH_ITEMS", "positive"]),
        ({"POLICY_PUSH_PUBLIC_URL": "https://政策.中国"}, ["POLICY_PUSH_PUBLIC_URL", "ASCII", "xn--"]),
        ({"POLICY_PUSH_PUBLIC_URL": "https://policy.example.cn/ pp"}, ["POLICY_PUSH_PUBLIC_URL", "without spaces"]),
        ({"POLICY_PUSH_PUBLIC_URL": "policy.example.cn"}, ["POLICY_PUSH_PUBLIC_URL", "not an http(s) URL"]),
        ({"POLICY_PUSH_STALE_AFTER_DAYS": "a quarter"}, ["POLICY_PUSH_STALE_AFTER_DAYS", "whole number of days or 'off'"]),
        ({"POLICY_PUSH_STALE_AFTER_DAYS": "-1"}, ["POLICY_PUSH_STALE_AFTER_DAYS", "must not be negative"]),
        ({"POLICY_PUSH_SMTP_SESSIONS": "four"}, ["POLICY_PUSH_SMTP_SESSIONS", "whole number"]),
        ({"POLICY_PUSH_SMTP_SESSIONS": "0"}, ["POLICY_PUSH_SMTP_SESSIONS", "between 1 and 64"]),
        ({"POLICY_PUSH_AMQP_URL": "http://broker"}, ["POLICY_PUSH_AMQP_URL", "amqp://"]),
        ({"POLICY_PUSH_AMQP_URL": "amqp://user:s3cret@"}, ["POLICY_PUSH_AMQP_URL", "***"]),
        ({"POLICY_PUSH_AMQP_QUEUE": "amq.events"}, ["POLICY_PUSH_AMQP_QUEUE", "not starting with 'amq.'"]),
    ],
)
def test_bad_values_name_the_variable_and_the_reason(env, words):
    with pytest.raises(settings.SettingsError) as caught:
        settings.Settings.from_env(env)
    assert all(word in str(caught.value) for word in words)


def test_an_ascii_public_url_is_kept_without_its_trailing_slash():
    config = settings.Settings.from_env({"POLICY_PUSH_PUBLIC_URL": "https://xn--zfr164b.xn--fiqs8s/ "})
    assert config.notices.public_url == "https://xn--zfr164b.xn--fiqs8s"


@pytest.mark.parametrize("raw, days", [(None, constants.NOTICE_STALE_AFTER_DAYS), ("30", 30), ("0", 0), ("off", None)])
def test_the_stale_allowance_is_days_or_off(raw, days):
    config = settings.Settings.from_env({} if raw is None else {"POLICY_PUSH_STALE_AFTER_DAYS": raw})
    assert config.notices.stale_after == (None if days is None else datetime.timedelta(days=days))


@pytest.mark.parametrize("raw, sessions", [(None, constants.SMTP_SESSIONS), ("1", 1), ("8", 8)])
def test_the_smtp_sessions_are_a_whole_number(raw, sessions):
    config = settings.Settings.from_env({} if raw is None else {"POLICY_PUSH_SMTP_SESSIONS": raw})
    assert config.notices.smtp_sessions == sessions


def test_the_service_builds_its_store_with_the_configured_allowance(tmp_path):
    config = settings.Settings.from_env({"POLICY_PUSH_DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite'}",
                                         "POLICY_PUSH_STALE_AFTER_DAYS": "45"})
    app = app_module.create_app(config)
    assert app[web_keys.STORAGE].stale_after == datetime.timedelta(days=45)
