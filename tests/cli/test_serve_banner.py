"""What `make run` ends with (issue 17, item 4): `serve` prints the console's address, the command for the
first operator, the demo webhook secret, and whether SMS are held by quiet hours now and until when;
a busy port or an unusable database is one line, not a traceback."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import os
import signal
import socket
import stat
import subprocess
import sys

import pytest
from click.testing import CliRunner

from connectors import sql_migrate as migrate
from engine import cli, settings
from engine.cli import banner, config_file
from engine.console import accounts
from engine.notices import pacing
from tests import factories

CHINA = datetime.timezone(datetime.timedelta(hours=8))
URL = "http://127.0.0.1:8080"


def config(**notices) -> settings.Settings:
    base = settings.Settings(webhook_secrets=(factories.SECRET,))
    return dataclasses.replace(base, notices=dataclasses.replace(base.notices, **notices))


def text(config_: settings.Settings, china_clock: str, **options) -> str:
    now = datetime.datetime.fromisoformat(f"2026-12-05T{china_clock}:00").replace(tzinfo=CHINA)
    return "\n".join(banner.lines(config_, URL, now.astimezone(datetime.UTC), aliyun=False, **options))


def test_the_banner_names_the_console_and_the_command_for_the_first_operator():
    shown = text(config(), "12:00")
    assert f"console:         {URL}/console/" in shown
    assert "first operator:  policy-push operators add USERNAME --role admin" in shown
    assert "admin" in accounts.ROLES
    result = CliRunner().invoke(cli.main, ["operators", "add", "--help"])  # the command it names exists as written
    assert result.exit_code == 0 and "--role" in result.output


def test_during_quiet_hours_the_banner_says_sms_are_held_and_until_when_in_china_time():
    shown = text(config(), "22:30")
    assert "SMS:             HELD by quiet hours (21:00-08:00 China time) until 2026-12-06 08:00 China time;" in shown
    shown = text(config(), "03:10")
    assert "until 2026-12-05 08:00 China time" in shown
    shown = text(config(quiet_hours=pacing.QuietHours.parse("12:00-13:30")), "12:45")
    assert "HELD by quiet hours (12:00-13:30 China time) until 2026-12-05 13:30 China time" in shown


def test_outside_quiet_hours_or_without_them_sms_go_now():
    shown = text(config(), "08:00")
    assert "HELD" not in shown
    assert "SMS:             written as files to var/outbox now (quiet hours 21:00-08:00 China time)" in shown
    assert "no quiet hours" in text(config(quiet_hours=None), "23:00")


def test_only_the_demo_banner_shows_the_webhook_secret(tmp_path):
    demo = text(config(), "12:00", demo=True)
    assert f"demo signing secret: {factories.SECRET}" in demo
    plain = text(config(), "12:00")
    assert factories.SECRET not in plain and "signed with any of 1 configured secret(s)" in plain
    none = text(dataclasses.replace(config(), webhook_secrets=()), "12:00", demo=True)
    assert "no secret: it answers 503 until POLICY_PUSH_WEBHOOK_SECRETS is set (make one: policy-push secrets new)" in none


def test_the_demo_configuration_is_written_once_and_keeps_its_secret(tmp_path):
    path = tmp_path / "var" / "demo.toml"
    result = CliRunner().invoke(cli.main, ["config", "demo", str(path)])
    assert result.exit_code == 0 and "wrote" in result.output
    first = path.read_text()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # it holds a secret
    result = CliRunner().invoke(cli.main, ["config", "demo", str(path)])
    assert result.exit_code == 0 and "exists: kept as it is" in result.output
    assert path.read_text() == first
    loaded = config_file.load(path)
    assert loaded.values[settings.DATABASE_URL_VAR] == f"sqlite:///{tmp_path / 'var' / 'policy-push.sqlite3'}"
    assert loaded.values["POLICY_PUSH_OUTBOX_DIR"] == str(tmp_path / "var" / "outbox")
    [secret] = settings.Settings.from_env(loaded.values).webhook_secrets
    assert secret.startswith("whsec_")


async def test_the_banner_waits_for_the_socket_and_then_for_the_backlog_at_start():
    listening, order = asyncio.Event(), []

    async def drained():
        assert listening.is_set()
        order.append("drained")

    task = asyncio.create_task(banner.announce_when_ready(listening, drained, lambda: order.append("banner")))
    await asyncio.sleep(0)  # one turn of the loop: the task now waits for the socket
    assert not task.done() and order == []
    listening.set()
    await task
    assert order == ["drained", "banner"]


def test_serve_on_a_busy_port_is_one_line_and_a_failure(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'pp.sqlite3'}"
    migrate.upgrade(url)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner(env={settings.DATABASE_URL_VAR: url}).invoke(cli.main, ["serve", "--port", str(port)])
    assert result.exit_code == 1
    assert result.output == (
        f"Error: cannot listen on 127.0.0.1:{port}: the port is already in use (another policy-push process? choose another with --port)\n"
    )


def test_a_worker_whose_metrics_port_is_taken_is_one_line(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'pp.sqlite3'}"
    migrate.upgrade(url)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner(env={settings.DATABASE_URL_VAR: url}).invoke(cli.main, ["worker", "--metrics-port", str(port)])
    assert result.exit_code == 1
    assert result.output.startswith(f"Error: cannot listen on 127.0.0.1:{port}: the port is already in use (another policy-push process? choose another with --metrics-port)") and result.output.count("\n") == 1


def test_serve_on_a_file_that_is_no_database_is_one_line(tmp_path):
    path = tmp_path / "notes.sqlite3"
    path.write_text("not a database\n" * 1000)
    result = CliRunner(env={settings.DATABASE_URL_VAR: f"sqlite+aiosqlite:///{path}"}).invoke(cli.main, ["serve", "--port", "0"])
    assert result.exit_code == 1
    [line] = result.output.splitlines()
    assert line.startswith("Error: ") and str(path) in line


@pytest.mark.process
def test_the_real_service_folds_what_waits_then_prints_the_banner_and_stops_on_ctrl_c(tmp_path):
    path = tmp_path / "demo.toml"
    assert CliRunner().invoke(cli.main, ["config", "demo", str(path)]).exit_code == 0
    assert CliRunner().invoke(cli.main, ["--config", str(path), "db", "upgrade"]).exit_code == 0
    assert CliRunner().invoke(cli.main, ["--config", str(path), "synth", "--firms", "3", "--seed", "1"]).exit_code == 0
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, config_file.CONFIG_VAR: str(path), "POLICY_PUSH_SMS_QUIET_HOURS": "off"}  # one SMS line
    lines = []
    with subprocess.Popen([sys.executable, "-m", "engine.cli", "serve", "--demo", "--port", str(port)], env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as process:
        try:
            for line in process.stdout:  # ends when the process does; the banner's last line is about SMS
                lines.append(line)
                if line.startswith("  SMS:"):
                    break
        finally:
            process.send_signal(signal.SIGINT)
            process.wait(timeout=60)
    shown = "".join(lines)
    start = shown.index(f"policy-push is listening on http://127.0.0.1:{port}")
    assert "INFO engine.ingest.pipeline pipeline: group of " in shown[:start]  # the synthetic events, folded first
    [secret] = config_file.load(path).values[settings.WEBHOOK_SECRETS_VAR].split()
    assert f"demo signing secret (from {path}): {secret}" in shown[start:]
    assert f"policy-push --config {path} operators add USERNAME --role admin" in shown[start:]
    assert f"send it signed events: policy-push --config {path} synth --firms 5 --seed 2 --url http://127.0.0.1:{port}" in shown
    assert f"console:         http://127.0.0.1:{port}/console/" in shown[start:] and "no quiet hours" in shown[start:]
    assert process.returncode == 0


def test_the_banner_says_how_long_new_notices_wait_to_go_out_as_one_message():
    assert ("digests:         a firm's new notices wait 10 min for more (at most 24 h), then go out as one SMS and one email"
            in text(config(), "12:00"))
    assert "notices go out at once" in text(config(digest_window=None), "12:00")
