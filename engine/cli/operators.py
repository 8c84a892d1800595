"""`policy-push operators add|create|set-regions|disable|reset-password|list`: console accounts, managed by whoever
runs the service (the first admin cannot be created from a console nobody can log in to yet).

Each command applies pending migrations first, then acts on POLICY_PUSH_DATABASE_URL; changes
are audited with the actor "cli (<OS user>)". Passwords are prompted for twice without echo, or
read from the first line of standard input with --password-stdin (scripts, tests): never from
an argument, which would end up in the shell history and the process list.
"""

from __future__ import annotations

import asyncio
import getpass
import sys
from collections.abc import Awaitable, Callable
from typing import TypeVar

import click

from connectors import sql_accounts, sql_storage
from engine import audit
from engine.cli import database, options
from engine.console import accounts
from engine.console.accounts_store import AccountStore
from engine.core import scopes

T = TypeVar("T")


def _actor() -> str:
    return f"cli ({getpass.getuser()})"


def _run(action: Callable[[AccountStore, audit.AuditStore], Awaitable[T]]) -> T:
    """Migrate, open the store, run `action(accounts, audit trail)`, close; AccountError becomes a CLI error."""
    config = options.load_settings()
    database.prepare(config.database_url)

    async def _go() -> T:
        store = sql_storage.SqlStorage.configured(config)
        await store.open()
        try:
            return await action(sql_accounts.SqlAccounts(store), store)
        finally:
            await store.close()

    try:
        return asyncio.run(_go())
    except accounts.AccountError as exc:
        raise click.ClickException(str(exc)) from None


def _password(from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt="Repeat the password")
    try:
        accounts.check_password(password)
    except accounts.AccountError as exc:
        raise click.ClickException(str(exc)) from None
    return password


def _scope(values: tuple[str, ...]) -> scopes.Scope:
    try:
        return scopes.parse(values)
    except scopes.ScopeError as exc:
        raise click.BadParameter(str(exc), param_hint="'--region'") from None


_region_option = click.option(
    "--region", "regions", multiple=True, metavar="CODE",
    help="A region the operator may see (repeatable): a county code (530102), a city (5301 or 530100), "
    "a province (53 or 530000), or 'all'. Default: all regions.")

_stdin_option = click.option("--password-stdin", is_flag=True, help="Read the password from the first line of standard input.")


@click.group("operators")
def operators() -> None:
    """Console operator accounts (roles: viewer < operator < admin; see docs/console.md)."""


@operators.command("add")
@click.argument("username")
@click.option("--role", type=click.Choice(accounts.ROLES), required=True, help="What the operator may do.")
@click.option("--display-name", default="", help="Name shown in the console, e.g. 张三 (defaults to USERNAME).")
@_region_option
@_stdin_option
def add(username: str, role: str, display_name: str, regions: tuple[str, ...], password_stdin: bool) -> None:
    """Create an operator account (also called `create`)."""
    try:
        accounts.check_username(username)
    except accounts.AccountError as exc:
        raise click.ClickException(str(exc)) from None
    scope = _scope(regions)
    password = _password(password_stdin)
    record = _run(lambda operators, trail: accounts.create(
        operators, trail, username, password, role, display_name=display_name, actor=_actor(), scope=scope))
    click.echo(f"operator {record.username} created, role {record.role}, regions {record.scope}")


operators.add_command(add, "create")


@operators.command("set-regions")
@click.argument("username")
@_region_option
def set_regions(username: str, regions: tuple[str, ...]) -> None:
    """Change the regions an operator may see (--region all: every region); applies at its next page."""
    if not regions:
        raise click.BadParameter("give at least one region, or 'all'", param_hint="'--region'")
    scope = _scope(regions)
    account = _run(lambda operators, trail: accounts.set_scope(operators, trail, username, scope, actor=_actor()))
    click.echo(f"operator {account.operator.username} now sees regions {account.operator.scope}")


@operators.command("disable")
@click.argument("username")
def disable(username: str) -> None:
    """Stop an operator logging in; its open console sessions end at once."""
    account = _run(lambda operators, trail: accounts.disable(operators, trail, username, actor=_actor()))
    click.echo(f"operator {account.operator.username} disabled")


@operators.command("reset-password")
@click.argument("username")
@_stdin_option
def reset_password(username: str, password_stdin: bool) -> None:
    """Set a new password for an operator; its open console sessions end."""
    password = _password(password_stdin)
    account = _run(lambda operators, trail: accounts.reset_password(operators, trail, username, password, actor=_actor()))
    click.echo(f"password of {account.operator.username} reset")


@operators.command("list")
def list_operators() -> None:
    """Operators, one per line: username, role, display name, state, regions."""
    for account in _run(lambda operators, _trail: accounts.all_accounts(operators)):
        state = f"disabled {account.disabled_at:%Y-%m-%d}" if account.disabled else "active"
        operator = account.operator
        click.echo(f"{operator.username}\t{operator.role}\t{operator.display_name}\t{state}\t{operator.scope}")
