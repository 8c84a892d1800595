"""Shared fixtures: storage back-ends (memory, SQLite, PostgreSQL where reachable) and app clients."""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from typing import Any, NoReturn

import asyncpg
import pytest
import sqlalchemy as sa
from aiohttp import test_utils
from alembic import autogenerate, migration, script
from sqlmodel import SQLModel

from connectors import sql_migrate as migrate
from connectors import sql_storage
from engine import settings
from engine.http import auth
from engine.judging import catalogue
from engine.testing import memory_storage
from engine.web import app as app_module
from tests import factories

PG_ADMIN_DSN = os.environ.get("POLICY_PUSH_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


def _pg_reachable() -> bool:
    async def probe() -> bool:
        try:
            connection = await asyncpg.connect(PG_ADMIN_DSN, timeout=3)
        except (OSError, asyncpg.PostgresError, asyncio.TimeoutError):
            return False
        await connection.close()
        return True

    return asyncio.run(probe())


PG_AVAILABLE = _pg_reachable()


def on_ci(environ: Mapping[str, str] = os.environ) -> bool:
    """True on a CI run (`CI=true`, as CI services set it)."""
    return environ.get("CI", "").strip().lower() == "true"


def missing(what: str, *, environ: Mapping[str, str] = os.environ) -> NoReturn:
    """Skip the test for want of `what` (a service or tool); on CI fail it instead.

    A developer without PostgreSQL or chromium still gets a clean run of the rest, but on CI a
    skip would let a run that checked nothing of the database or the browser pass as green.
    """
    if on_ci(environ):
        pytest.fail(f"{what}; CI=true, so this fails instead of being skipped", pytrace=False)
    pytest.skip(what)


def require_postgres(*, available: bool | None = None, environ: Mapping[str, str] = os.environ) -> None:
    """Go on only where PostgreSQL is reachable (`available` defaults to the probe at start-up); see :func:`missing`."""
    if not (PG_AVAILABLE if available is None else available):
        missing(f"no PostgreSQL reachable at {PG_ADMIN_DSN}", environ=environ)


@pytest.fixture(autouse=True)
def root_logging_kept() -> Iterator[None]:
    """Every `policy-push` command a test runs installs its log handler on the root logger (logs.configure):
    take it away again after each test, so later tests' command output holds no log lines of ours."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Tests marked `postgres` need the server, however they reach it (fixture, subprocess, DSN)."""
    if item.get_closest_marker("postgres") is not None:
        require_postgres()


async def create_pg_database() -> str:
    """A new, empty PostgreSQL database; returns its SQLAlchemy URL."""
    name = f"policy_push_test_{secrets.token_hex(6)}"
    connection = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    base = sa.engine.make_url(PG_ADMIN_DSN)
    return base.set(drivername="postgresql+asyncpg", database=name).render_as_string(hide_password=False)


async def drop_pg_database(url: str) -> None:
    name = sa.engine.make_url(url).database
    connection = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


@pytest.fixture
async def empty_database(request: pytest.FixtureRequest, tmp_path) -> AsyncIterator[str]:
    """URL of an empty database of the kind the test is parametrised with (`sqlite` or `postgres`)."""
    kind = getattr(request, "param", "sqlite")
    if kind == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'test.sqlite3'}"
        return
    require_postgres()
    url = await create_pg_database()
    try:
        yield url
    finally:
        await drop_pg_database(url)


@pytest.fixture
async def migrated_database(empty_database: str) -> str:
    await asyncio.to_thread(migrate.upgrade, empty_database)
    return empty_database


def differences_from_the_models(connection: sa.Connection) -> list[Any]:
    """Alembic's differences between a database's schema and the models (empty when they agree), less, on
    PostgreSQL, the foreign keys that migration 0013 replaced by statement triggers (its REFERENCES; the
    models, and SQLite, keep them; tests/storage/test_references.py shows them enforced)."""
    differences = autogenerate.compare_metadata(
        migration.MigrationContext.configure(connection, opts={"compare_type": True}), SQLModel.metadata
    )
    if connection.dialect.name != "postgresql":
        return differences
    scripts = script.ScriptDirectory.from_config(migrate.alembic_config("sqlite://"))
    triggered = {(table, (column,)) for _, table, column, *_ in scripts.get_revision("0013").module.REFERENCES}
    return [d for d in differences
            if not (d[0] == "add_fk" and (d[1].parent.name, tuple(c.name for c in d[1].columns)) in triggered)]


BACKENDS = ["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
SQL_BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=BACKENDS)
async def store(request: pytest.FixtureRequest, tmp_path) -> AsyncIterator:
    """Each storage implementation in turn, opened on a fresh, migrated database."""
    if request.param == "memory":
        backend = memory_storage.InMemoryStorage()
        url = None
    elif request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'store.sqlite3'}"
    else:
        require_postgres()
        url = await create_pg_database()
    if url is not None:
        await asyncio.to_thread(migrate.upgrade, url)
        backend = sql_storage.SqlStorage(url)
    await backend.open()
    try:
        yield backend
    finally:
        await backend.close()
        if url is not None and url.startswith("postgresql"):
            await drop_pg_database(url)


@pytest.fixture(scope="session")
def production_matcher():
    """The matcher `serve` uses: the repository's catalogue through durable-rules."""
    return catalogue.default_matcher()


@pytest.fixture
def config() -> settings.Settings:
    return settings.Settings(webhook_secrets=(factories.SECRET,))


@pytest.fixture
async def make_client(config, store) -> AsyncIterator[Callable]:
    """Build the app over `store` with the service's own factory and serve it on a test server.
    (Depending on `store` makes the apps shut down before their database goes away.)"""
    clients: list[test_utils.TestClient] = []

    async def make(store=store, *, matcher=None, run_pipeline=True, settings_=None) -> test_utils.TestClient:
        app = app_module.create_app(settings_ or config, store=store, matcher=matcher, run_pipeline=run_pipeline)
        client = test_utils.TestClient(test_utils.TestServer(app))
        await client.start_server()
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()


@pytest.fixture
async def client(make_client, store):
    """The app over the parametrised store, pipeline running."""
    return await make_client(store)


async def bearer(store, role: str = "viewer") -> dict[str, str]:
    """Authorization header for a new token of `role`."""
    token, digest = auth.new_token()
    await store.add_token(digest, role, "test")
    return {"Authorization": f"Bearer {token}"}
