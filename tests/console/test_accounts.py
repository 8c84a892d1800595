"""Operator accounts: argon2 hashing, create / disable / reset-password (audited), and the CLI."""

from __future__ import annotations

import asyncio
import getpass

import argon2
import pytest
from click.testing import CliRunner

from connectors import sql_accounts, sql_storage
from connectors import sql_migrate as migrate
from engine import settings
from engine.cli import operators as operators_cli
from engine.console import accounts
from engine.core import scopes
from tests import conftest
from tests.console.conftest import PASSWORD, PRODUCTION_HASHER

SQL = pytest.mark.parametrize("store", conftest.SQL_BACKENDS, indirect=True)


async def audit_log(store) -> list:
    return [e async for e in store.audit_entries()]


# Hashing ----------------------------------------------------------------------------------------

def test_passwords_are_hashed_with_argon2id_and_a_fresh_salt(monkeypatch):
    monkeypatch.setattr(accounts, "HASHER", PRODUCTION_HASHER)
    first, second = accounts.hash_password(PASSWORD), accounts.hash_password(PASSWORD)
    assert first.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert first != second  # salted
    assert PASSWORD not in first
    assert accounts.verify_password(first, PASSWORD) and accounts.verify_password(second, PASSWORD)
    assert not accounts.verify_password(first, PASSWORD + "x")
    assert not accounts.verify_password("not a hash", PASSWORD)


@SQL
async def test_a_weaker_hash_is_upgraded_at_the_next_login(store, operators, monkeypatch):
    await accounts.create(operators, store, "wang", PASSWORD, "viewer", actor="test")  # with the cheap test parameters
    assert argon2.extract_parameters((await accounts.find(operators, "wang")).password_hash).memory_cost == 8
    monkeypatch.setattr(accounts, "HASHER", PRODUCTION_HASHER)
    account, ok = await accounts.authenticate(operators, "wang", PASSWORD)
    assert ok and account.operator.username == "wang"
    upgraded = (await accounts.find(operators, "wang")).password_hash
    assert upgraded.startswith("$argon2id$v=19$m=65536,t=3,p=4$") and accounts.verify_password(upgraded, PASSWORD)


# Accounts ---------------------------------------------------------------------------------------

@SQL
async def test_create_find_and_authenticate(store, operators):
    record = await accounts.create(operators, store, " Wang.Wu ", PASSWORD, "operator", display_name="王五", actor="cli (root)")
    assert record == accounts.OperatorRecord(record.id, "wang.wu", "王五", "operator", scopes.ALL)
    found = await accounts.find(operators, "WANG.WU")
    assert found.operator == record and not found.disabled
    assert (await accounts.get(operators, record.id)).operator == record
    assert await accounts.authenticate(operators, "wang.wu", PASSWORD) == (found, True)
    assert await accounts.authenticate(operators, "wang.wu", "wrong password") == (found, False)
    assert await accounts.authenticate(operators, "nobody", PASSWORD) == (None, False)
    [entry] = await audit_log(store)
    assert (entry.actor, entry.action, entry.subject_id) == ("cli (root)", "operator.created", "wang.wu")
    assert entry.payload == {"role": "operator", "display_name": "王五", "regions": "all"}


@SQL
@pytest.mark.parametrize(
    ("username", "password", "role", "problem"),
    [("x", PASSWORD, "viewer", "username"), ("王五", PASSWORD, "viewer", "username"), ("wang wu", PASSWORD, "viewer", "username"),
     ("wang", "short", "viewer", "at least 10"), ("wang", " padded password ", "viewer", "white space"),
     ("wang", PASSWORD, "root", "role")],
)
async def test_create_refuses_bad_input(store, operators, username, password, role, problem):
    with pytest.raises(accounts.AccountError, match=problem):
        await accounts.create(operators, store, username, password, role, actor="test")
    assert await accounts.all_accounts(operators) == []


@SQL
async def test_usernames_are_unique_whatever_the_case(store, operators):
    await accounts.create(operators, store, "wang", PASSWORD, "viewer", actor="test")
    with pytest.raises(accounts.AccountError, match="already exists"):
        await accounts.create(operators, store, "WANG", PASSWORD, "admin", actor="test")


@SQL
async def test_disable_and_reset_password_are_audited(store, operators):
    await accounts.create(operators, store, "wang", PASSWORD, "viewer", actor="test")
    disabled = await accounts.disable(operators, store, "wang", actor="cli (root)")
    assert disabled.disabled
    again = await accounts.disable(operators, store, "wang", actor="cli (root)")
    assert again.disabled_at == disabled.disabled_at  # the first disabling time is kept
    await accounts.reset_password(operators, store, "wang", "another good password", actor="cli (root)")
    assert (await accounts.authenticate(operators, "wang", "another good password"))[1]
    assert [(e.action, e.actor) for e in await audit_log(store)] == [
        ("operator.created", "test"), ("operator.disabled", "cli (root)"), ("operator.disabled", "cli (root)"),
        ("operator.password_reset", "cli (root)"),
    ]
    with pytest.raises(accounts.AccountError, match="no operator"):
        await accounts.disable(operators, store, "nobody", actor="test")


# CLI --------------------------------------------------------------------------------------------

@pytest.fixture
def cli(tmp_path):
    """Run `policy-push operators …` against a fresh SQLite file; returns (invoke, url)."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.sqlite3'}"
    migrate.upgrade(url)  # `policy-push db upgrade`, as an administrator runs it first
    runner = CliRunner()

    def invoke(*args: str, input: str | None = None):
        return runner.invoke(operators_cli.operators, list(args), input=input, env={settings.DATABASE_URL_VAR: url})

    return invoke, url


def read(url: str, action):
    """Run `action(operators, store)` on the CLI's database (the CLI runs its own event loop, so these
    tests are sync)."""

    async def go():
        store = sql_storage.SqlStorage(url)
        await store.open()
        try:
            return await action(sql_accounts.SqlAccounts(store), store)
        finally:
            await store.close()

    return asyncio.run(go())


def test_cli_add_prompts_twice_and_creates_the_operator(cli):
    invoke, url = cli
    result = invoke("add", "admin", "--role", "admin", "--display-name", "系统管理员", input=f"{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert "operator admin created, role admin" in result.output
    assert PASSWORD not in result.output  # the password is not echoed
    account = read(url, lambda operators, _: accounts.find(operators, "admin"))
    assert account.operator.display_name == "系统管理员" and account.operator.role == "admin"
    assert account.password_hash.startswith("$argon2id$")
    entries = read(url, lambda _, store: audit_log(store))
    assert [(e.action, e.actor) for e in entries] == [("operator.created", f"cli ({getpass.getuser()})")]


def test_cli_add_asks_again_when_the_passwords_differ(cli):
    invoke, url = cli
    result = invoke("add", "wang", "--role", "viewer", input=f"{PASSWORD}\nsomething else\n{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert read(url, lambda operators, _: accounts.authenticate(operators, "wang", PASSWORD))[1]


def test_cli_add_refuses_duplicates_weak_passwords_and_bad_names(cli):
    invoke, _ = cli
    assert invoke("add", "wang", "--role", "viewer", "--password-stdin", input=f"{PASSWORD}\n").exit_code == 0
    duplicate = invoke("add", "wang", "--role", "viewer", "--password-stdin", input=f"{PASSWORD}\n")
    assert duplicate.exit_code == 1 and "already exists" in duplicate.output
    weak = invoke("add", "li", "--role", "viewer", "--password-stdin", input="short\n")
    assert weak.exit_code == 1 and "at least 10" in weak.output
    bad = invoke("add", "王五", "--role", "viewer", "--password-stdin", input=f"{PASSWORD}\n")
    assert bad.exit_code == 1 and "username" in bad.output
    role = invoke("add", "li", "--role", "root", "--password-stdin", input=f"{PASSWORD}\n")
    assert role.exit_code == 2


def test_cli_disable_reset_password_and_list(cli):
    invoke, url = cli
    assert invoke("add", "wang", "--role", "operator", "--display-name", "王五", "--password-stdin", input=f"{PASSWORD}\n").exit_code == 0
    assert invoke("add", "li", "--role", "viewer", "--password-stdin", input=f"{PASSWORD}\n").exit_code == 0
    reset = invoke("reset-password", "wang", "--password-stdin", input="a brand new password\n")
    assert reset.exit_code == 0 and "password of wang reset" in reset.output
    assert read(url, lambda operators, _: accounts.authenticate(operators, "wang", "a brand new password"))[1]
    assert not read(url, lambda operators, _: accounts.authenticate(operators, "wang", PASSWORD))[1]
    disabled = invoke("disable", "WANG")
    assert disabled.exit_code == 0 and "operator wang disabled" in disabled.output
    assert read(url, lambda operators, _: accounts.find(operators, "wang")).disabled
    listing = invoke("list").output.splitlines()
    assert listing[0] == "li\tviewer\tli\tactive\tall"
    assert listing[1].startswith("wang\toperator\t王五\tdisabled ")
    missing = invoke("disable", "nobody")
    assert missing.exit_code == 1 and "no operator called 'nobody'" in missing.output
    actions = [e.action for e in read(url, lambda _, store: audit_log(store))]
    assert actions == ["operator.created", "operator.created", "operator.password_reset", "operator.disabled"]


def test_cli_create_with_regions_and_set_regions_later(cli):
    invoke, url = cli
    created = invoke("create", "kunming", "--role", "viewer", "--region", "530102", "--region", "5301", "--password-stdin",
                     input=f"{PASSWORD}\n")
    assert created.exit_code == 0, created.output
    assert "regions 5301" in created.output  # 530102 lies in 5301 and is dropped
    assert read(url, lambda operators, _: accounts.find(operators, "kunming")).operator.scope == scopes.Scope(("5301",))
    assert invoke("add", "old", "--role", "viewer", "--password-stdin", input=f"{PASSWORD}\n").exit_code == 0
    assert read(url, lambda operators, _: accounts.find(operators, "old")).operator.scope == scopes.ALL
    narrowed = invoke("set-regions", "OLD", "--region", "530102", "--region", "630104")
    assert narrowed.exit_code == 0 and "operator old now sees regions 530102,630104" in narrowed.output
    widened = invoke("set-regions", "kunming", "--region", "all")
    assert widened.exit_code == 0 and "regions all" in widened.output
    listing = invoke("list").output.splitlines()
    assert listing == ["kunming\tviewer\tkunming\tactive\tall", "old\tviewer\told\tactive\t530102,630104"]
    entries = read(url, lambda _, store: audit_log(store))
    assert [(e.action, e.subject_id, e.payload.get("regions"), e.payload.get("from"), e.payload.get("to")) for e in entries] == [
        ("operator.created", "kunming", "5301", None, None), ("operator.created", "old", "all", None, None),
        ("operator.scope_changed", "old", None, "all", "530102,630104"), ("operator.scope_changed", "kunming", None, "5301", "all"),
    ]


def test_cli_refuses_bad_regions_and_changes_nothing(cli):
    invoke, url = cli
    bad = invoke("create", "li", "--role", "viewer", "--region", "5399", "--password-stdin", input=f"{PASSWORD}\n")
    assert bad.exit_code == 2 and "--region" in bad.output and "539900 is not a region code in use" in bad.output
    assert read(url, lambda operators, _: accounts.find(operators, "li")) is None
    assert invoke("add", "li", "--role", "viewer", "--password-stdin", input=f"{PASSWORD}\n").exit_code == 0
    for args, reason in ((["--region", "53x"], "expected a GB/T 2260 code"), (["--region", "all", "--region", "53"], "cannot be combined"),
                         ([], "give at least one region")):
        refused = invoke("set-regions", "li", *args)
        assert refused.exit_code == 2 and reason in refused.output, refused.output
    missing = invoke("set-regions", "nobody", "--region", "53")
    assert missing.exit_code == 1 and "no operator called 'nobody'" in missing.output
    assert read(url, lambda operators, _: accounts.find(operators, "li")).operator.scope == scopes.ALL
    assert [e.action for e in read(url, lambda _, store: audit_log(store))] == ["operator.created"]
