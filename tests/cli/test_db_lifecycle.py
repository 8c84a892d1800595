"""`db current`, `db downgrade` (down and up again), `secrets new` and `--version` (issue 17, item 2 in part)."""

from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from connectors import sql_base
from connectors import sql_migrate as migrate
from engine import cli, settings
from tests import conftest


def run(url: str, *args: str):
    result = CliRunner(env={"POLICY_PUSH_DATABASE_URL": url}).invoke(cli.main, list(args))
    return result.exit_code, result.output


@pytest.mark.parametrize("empty_database", conftest.SQL_BACKENDS, indirect=True)
async def test_down_to_an_older_release_and_up_again_leaves_the_models_schema(empty_database):
    url = empty_database  # the commands run as a user runs them: in a thread of their own, outside this loop
    head = migrate.head_revision()
    code, output = await asyncio.to_thread(run, url, "db", "upgrade")
    assert code == 0, output
    assert await asyncio.to_thread(run, url, "db", "current") == (0, f"{head} (head)\n")
    code, output = await asyncio.to_thread(run, url, "db", "downgrade", "0003", "--yes")
    assert code == 0 and "database at 0003" in output, output
    code, output = await asyncio.to_thread(run, url, "db", "current")
    assert code == 0 and output.startswith("0003 (this code expects") and "db upgrade" in output
    code, output = await asyncio.to_thread(run, url, "db", "upgrade")
    assert code == 0, output
    engine = sql_base.create_engine(url)
    try:
        async with engine.connect() as connection:
            differences = await connection.run_sync(conftest.differences_from_the_models)
            version = (await connection.execute(sa.text("SELECT version_num FROM alembic_version"))).scalar()
    finally:
        await engine.dispose()
    assert differences == [] and version == head


@pytest.mark.parametrize("empty_database", ["sqlite"], indirect=True)
def test_a_downgrade_names_the_revisions_it_knows_and_asks_first(empty_database):
    assert run(empty_database, "db", "upgrade")[0] == 0
    code, output = run(empty_database, "db", "downgrade", "0099", "--yes")
    known = ", ".join(migrate.revisions())
    assert known.startswith("0001, 0002, 0003") and code == 2
    assert f"'0099' is not one of this code's migrations ({known})" in output
    code, output = run(empty_database, "db", "downgrade", "0003")  # no --yes, and nobody at the prompt
    assert code == 1 and "Aborted" in output
    assert run(empty_database, "db", "current")[1].startswith(f"{migrate.head_revision()} (head)")


@pytest.mark.parametrize("empty_database", ["sqlite"], indirect=True)
def test_db_current_refuses_a_missing_file_without_creating_it(empty_database, tmp_path):
    missing = f"sqlite+aiosqlite:///{tmp_path / 'nowhere' / 'x.sqlite'}"
    code, output = run(missing, "db", "current")
    assert code == 1 and "does not exist" in output
    assert not (tmp_path / "nowhere").exists()


def test_a_new_secret_is_one_the_service_accepts():
    result = CliRunner().invoke(cli.main, ["secrets", "new"])
    secret = result.output.strip()
    assert result.exit_code == 0 and secret.startswith("whsec_")
    assert settings.Settings.from_env({"POLICY_PUSH_WEBHOOK_SECRETS": secret}).webhook_secrets == (secret,)
    assert CliRunner().invoke(cli.main, ["secrets", "new"]).output.strip() != secret


def test_version():
    result = CliRunner().invoke(cli.main, ["--version"])
    assert result.exit_code == 0 and result.output.startswith("policy-push, version ")


@pytest.mark.parametrize("empty_database", ["sqlite"], indirect=True)
def test_migrations_say_what_they_applied_and_nothing_when_there_was_nothing(empty_database):
    code, output = run(empty_database, "db", "upgrade")
    revisions = migrate.revisions()
    assert code == 0
    applied = [line.split("connectors.migrations ", 1)[1] for line in output.splitlines() if "connectors.migrations" in line]
    assert applied == [f"database schema upgraded {a} -> {b}" for a, b in zip(["none", *revisions], revisions, strict=False)]
    assert "alembic" not in output  # no context lines from Alembic itself
    code, output = run(empty_database, "db", "upgrade")
    assert code == 0 and output == "database at head\n"
