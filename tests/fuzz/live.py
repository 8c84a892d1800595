"""The service's own app on a real local port, its event loop in a thread of its own.

schemathesis sends its requests with a synchronous client (requests), and hypothesis drives
synchronous test functions; neither can share the test's event loop with an in-process aiohttp
server. So the app (built by engine.app.create_app, exactly as the service builds it) runs on a
private loop in a background thread, and the tests talk to it over 127.0.0.1 like any client.
What it committed is read back through a connection of our own (not the app's storage), so a
partial write cannot hide behind the code that made it.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Awaitable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from aiohttp import web

from connectors import sql_base, sql_storage
from connectors import sql_migrate as migrate
from engine import settings
from engine.core import matching
from engine.http import auth
from engine.ingest import webhooks
from engine.notices import config as notice_config
from engine.web import app as app_module
from engine.web import keys
from tests import conftest, factories
from tests.fuzz import budget

T = TypeVar("T")

#: The SMS provider's push token the fuzzed app is configured with.
PUSH_TOKEN = "fuzz-push-token"
#: Tables whose rows a refused delivery must never add to (counted before and after).
WRITE_TABLES = ("event", "firm", "profile_field", "region_designation", "decision", "notice", "audit_entry")


def fuzz_config(tmp: Path) -> settings.Settings:
    """The service's settings for a fuzzed app: the test secret, a push token, files under `tmp`."""
    notices = notice_config.NoticeSettings(outbox_dir=tmp / "outbox", secret_key="fuzz-signing-key", sms_report_token=PUSH_TOKEN)
    return settings.Settings(webhook_secrets=(factories.SECRET,), notices=notices)


@contextlib.contextmanager
def database(kind: str, tmp: Path) -> Iterator[str]:
    """URL of a new, empty database: a SQLite file under `tmp`, or a PostgreSQL database
    (skipped where none is reachable) dropped afterwards."""
    if kind == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp / 'fuzz.sqlite3'}"
        return
    conftest.require_postgres()
    url = asyncio.run(conftest.create_pg_database())
    try:
        yield url
    finally:
        asyncio.run(conftest.drop_pg_database(url))


class LiveApp:
    """create_app over a migrated database, served on 127.0.0.1:<free port> from a thread."""

    def __init__(
        self,
        url: str,
        config: settings.Settings,
        *,
        matcher: matching.Matcher | None = None,
        run_pipeline: bool = True,
    ) -> None:
        self.url = url
        self.config = config
        self.matcher = matcher
        self.run_pipeline = run_pipeline
        self.base_url = ""
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve_loop, name="live-app", daemon=True)
        self._runner: web.AppRunner | None = None
        self._reader: Any = None

    # Lifecycle ---------------------------------------------------------------------------------

    def start(self) -> str:
        """Migrate, start the loop thread and the app; return the base URL."""
        migrate.upgrade(self.url)
        self._thread.start()
        self.base_url = self.run(self._start())
        return self.base_url

    def stop(self) -> None:
        """Shut the app down (pipeline, storage), then the loop and its thread."""
        if self._runner is not None:
            self.run(self._runner.cleanup())
            self._runner = None
        if self._reader is not None:
            self.run(self._reader.dispose())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(budget.CALL_TIMEOUT_SECONDS)
        self._loop.close()

    def _serve_loop(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_forever()
        # Close what the loop still owns, so no ResourceWarning escapes the test run.
        self._loop.run_until_complete(self._loop.shutdown_asyncgens())
        self._loop.run_until_complete(self._loop.shutdown_default_executor())

    async def _start(self) -> str:
        store = sql_storage.SqlStorage(self.url)
        self.app = app_module.create_app(self.config, store=store, matcher=self.matcher, run_pipeline=self.run_pipeline)
        self._runner = web.AppRunner(self.app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self._reader = sql_base.create_engine(self.url)
        host, port = self._runner.addresses[0][:2]
        return f"http://{host}:{port}"

    # Use from the test's thread -----------------------------------------------------------------

    def run(self, coroutine: Awaitable[T]) -> T:
        """Run a coroutine on the app's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(budget.CALL_TIMEOUT_SECONDS)  # type: ignore[arg-type]

    @property
    def store(self) -> Any:
        return self.app[keys.STORAGE]

    def token(self, role: str = "admin") -> dict[str, str]:
        """Authorization header for a new bearer token of `role`."""
        token, digest = auth.new_token()
        self.run(self.store.add_token(digest, role, "fuzz"))
        return {"Authorization": f"Bearer {token}"}

    def drain(self) -> None:
        """Wait until the in-app pipeline has folded every event committed so far."""
        self.run(self.app[webhooks.PIPELINE].drained())

    def query(self, sql: str, **params: Any) -> list[Any]:
        """Rows of a read-only query, through our own engine (what is committed)."""

        async def fetch() -> list[Any]:
            async with self._reader.connect() as connection:
                return list((await connection.execute(sa.text(sql), params)).all())

        return self.run(fetch())

    def counts(self) -> dict[str, int]:
        """Rows per table of WRITE_TABLES."""
        union = " UNION ALL ".join(f"SELECT '{table}', count(*) FROM {table}" for table in WRITE_TABLES)
        return {table: count for table, count in self.query(union)}

    def event_ids(self) -> set[str]:
        return {row[0] for row in self.query("SELECT event_id FROM event")}

    def event_statuses(self) -> dict[str, tuple[str, str | None]]:
        """event_id → (status, error) of every stored event."""
        return {row[0]: (row[1], row[2]) for row in self.query("SELECT event_id, status, error FROM event")}

    def stored_body(self, event_id: str) -> str:
        return self.query("SELECT body FROM event WHERE event_id = :event_id", event_id=event_id)[0][0]

    def event_ids_in(self, table: str) -> set[str]:
        """Event ids that rows of `table` name."""
        return {row[0] for row in self.query(f"SELECT DISTINCT event_id FROM {table} WHERE event_id IS NOT NULL")}


@contextlib.contextmanager
def serving(kind: str, tmp: Path, **kwargs: Any) -> Iterator[LiveApp]:
    """A started LiveApp on a new database of `kind` (sqlite or postgres), stopped on exit."""
    with database(kind, tmp) as url:
        live = LiveApp(url, fuzz_config(tmp), **kwargs)
        live.start()
        try:
            yield live
        finally:
            live.stop()
