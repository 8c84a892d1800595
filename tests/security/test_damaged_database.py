"""Issue 18, item 5: a damaged, truncated or mistyped database is refused in one line, never used or created.

Before: with 64 KiB of random bytes in the middle of the SQLite file the service started, `/readyz`
said ready and events were acknowledged into it; `audit verify` crashed with a traceback; a
truncated file gave a long traceback naming neither file nor setting; and a mistyped path silently
started a new, empty database.
"""

from __future__ import annotations

import asyncio
import os
import logging
import random
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from connectors import sql_migrate as migrate
from connectors import sql_storage
from engine import cli, constants, settings
from engine.cli import synth as synth_cli
from tests import conftest, factories

#: Long enough for the service to start on an intact file; a refusal comes within a few seconds.
START_SECONDS = 60
#: How long the running service may take to notice damage when it checks every CHECK_SECONDS.
CHECK_SECONDS = 0.05
NOTICE_SECONDS = 20


@pytest.fixture(autouse=True)
def root_logging_kept():
    """`policy-push` installs its log handler on the root logger: take it away again afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def _url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


def _filled(path: Path) -> Path:
    """A database made as `make run` makes it: `db upgrade`, then synthetic firms (~1 MB of pages)."""
    migrate.upgrade(_url(path))
    result = CliRunner().invoke(synth_cli.synth, ["--firms", "150", "--seed", "18"],
                                env={settings.DATABASE_URL_VAR: _url(path), settings.WEBHOOK_SECRETS_VAR: None})
    assert result.exit_code == 0, result.output
    return path


def _damage(path: Path, how: str) -> None:
    size = path.stat().st_size
    assert size > 4 * 65536, size
    with path.open("r+b") as handle:
        if how == "middle":
            handle.seek(size // 2)
            handle.write(random.Random(18).randbytes(65536))
        else:
            handle.truncate(size // 3)


def _policy_push(url: str, *args: str) -> tuple[int | None, list[str]]:
    """Run `policy-push ARGS` in its own process against `url`: (exit code, or None if it was still running
    after START_SECONDS and was stopped; the non-empty lines it printed)."""
    env = {**os.environ, settings.DATABASE_URL_VAR: url, settings.WEBHOOK_SECRETS_VAR: factories.SECRET}
    process = subprocess.Popen([sys.executable, "-m", "engine.cli", *args], env=env, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        output, _ = process.communicate(timeout=START_SECONDS)
        code = process.returncode
    except subprocess.TimeoutExpired:  # it started serving: the refusal did not happen
        process.kill()
        output, _ = process.communicate()
        code = None
    return code, [line for line in output.splitlines() if line.strip()]


def _one_line_naming(lines: list[str], name: str) -> str:
    assert len(lines) == 1, "\n".join(lines)
    assert name in lines[0] and "Traceback" not in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize("how", ["middle", "truncated"])
def test_start_up_refuses_a_damaged_file_in_one_line_naming_it(tmp_path, how):
    path = _filled(tmp_path / "damaged.sqlite3")
    _damage(path, how)
    code, lines = _policy_push(_url(path), "serve", "--port", str(_free_port()))
    assert code not in (None, 0), "the service started on a damaged database"
    assert "damaged" in _one_line_naming(lines, str(path))


@pytest.mark.parametrize("command", [["serve", "--port", "0"], ["worker"]], ids=["serve", "worker"])
def test_a_mistyped_path_is_refused_and_not_created(tmp_path, command):
    path = tmp_path / "typo" / "policy-push.sqlite"
    code, lines = _policy_push(_url(path), *command)
    assert code not in (None, 0), "it started on a new, empty database"
    line = _one_line_naming(lines, str(path))
    assert "policy-push db upgrade" in line and settings.DATABASE_URL_VAR in line
    assert not path.exists() and not path.parent.exists()


@pytest.mark.parametrize("args", [
    ["audit", "verify"], ["audit", "export", "-o", "out.jsonl"], ["tokens", "create", "--role", "viewer"],
    ["notices", "retry", "ntc_x"], ["operators", "list"], ["synth", "--firms", "1"],
    ["backfill", "--all", "--dry-run", "--workers", "0"],
], ids=lambda args: " ".join(args[:2]))
def test_cli_commands_refuse_a_missing_file_without_creating_it(tmp_path, args, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "policy-push.sqlite3x"
    result = CliRunner().invoke(cli.main, args, env={settings.DATABASE_URL_VAR: _url(path), settings.WEBHOOK_SECRETS_VAR: None})
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), result.exception
    assert str(path) in result.output and "policy-push db upgrade" in result.output
    assert not path.exists()
    # The one command that creates it.
    created = CliRunner().invoke(cli.main, ["db", "upgrade"], env={settings.DATABASE_URL_VAR: _url(path)})
    assert created.exit_code == 0 and path.is_file(), created.output


@pytest.mark.parametrize("how", ["middle", "truncated"])
def test_audit_verify_says_damaged_in_one_line(tmp_path, how):
    path = _filled(tmp_path / "audit.sqlite3")
    _damage(path, how)
    result = CliRunner().invoke(cli.main, ["audit", "verify"], env={settings.DATABASE_URL_VAR: _url(path)})
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit), result.exception
    line = _one_line_naming(result.output.splitlines(), str(path))
    assert line.startswith("DAMAGED:")


def test_db_upgrade_refuses_a_damaged_file_rather_than_migrate_it(tmp_path):
    path = _filled(tmp_path / "upgrade.sqlite3")
    _damage(path, "middle")
    result = CliRunner().invoke(cli.main, ["db", "upgrade"], env={settings.DATABASE_URL_VAR: _url(path)})
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    assert "damaged" in _one_line_naming(result.output.splitlines(), str(path))


@pytest.mark.parametrize("store", ["memory"], indirect=True)  # make_client's own store is unused here
async def test_readyz_turns_503_and_events_are_refused_when_damage_appears_while_running(tmp_path, make_client, monkeypatch):
    path = await asyncio.to_thread(_filled, tmp_path / "running.sqlite3")
    monkeypatch.setattr(constants, "DATABASE_CHECK_SECONDS", CHECK_SECONDS, raising=False)
    store = sql_storage.SqlStorage(_url(path))
    client = await make_client(store, run_pipeline=False)
    ready = await client.get("/readyz")
    assert ready.status == 200, await ready.text()

    _damage(path, "middle")
    deadline = time.monotonic() + NOTICE_SECONDS
    while (response := await client.get("/readyz")).status == 200 and time.monotonic() < deadline:
        await asyncio.sleep(CHECK_SECONDS)  # polling the scheduled check, with a deadline
    body = await response.json()
    assert response.status == 503, body
    assert body["status"] == "not_ready" and str(path) in body["checks"]["integrity"]

    # Nothing is acknowledged into the damaged file: the sender keeps the event and sends it again.
    data, headers = factories.signed(factories.event(), msg_id="msg_into_damage")
    refused = await client.post("/webhooks/events", data=data, headers=headers)
    assert refused.status == 503
    assert (await refused.json())["error"] == "database_damaged"


@pytest.mark.postgres
def test_postgresql_unreachable_or_unmigrated_is_refused_in_one_line_with_the_password_hidden():
    code, lines = _policy_push("postgresql://pilot:s3cret-pw@127.0.0.1:1/policy_push", "serve", "--port", "0")
    assert code not in (None, 0)
    line = _one_line_naming(lines, "postgresql+asyncpg://pilot:***@127.0.0.1:1/policy_push")
    assert "s3cret-pw" not in line

    url = asyncio.run(conftest.create_pg_database())
    try:
        result = CliRunner().invoke(cli.main, ["notices", "retry", "ntc_x"], env={settings.DATABASE_URL_VAR: url})
        assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
        line = _one_line_naming(result.output.splitlines(), url.rsplit("/", 1)[1])
        assert f"this code expects {migrate.head_revision()}" in line and "policy-push db upgrade" in line
    finally:
        asyncio.run(conftest.drop_pg_database(url))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
