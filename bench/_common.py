"""Helpers shared by the ingestion benchmarks (bench/ingest.py, bench/sustained.py).

Fresh migrated databases (SQLite file or a throw-away PostgreSQL database), the two servers under
test started as their own processes (the real service and bench/baseline_server.py), and the
signed webhook deliveries they are sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import pathlib
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import aiohttp

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from connectors import sql_migrate as migrate  # noqa: E402
from tests import factories  # noqa: E402

PG_ADMIN = os.environ.get("POLICY_PUSH_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
#: The two servers compared: the real service, and a bare aiohttp handler doing the same insert.
SERVERS = ("baseline", "service")


@contextlib.contextmanager
def generator_collector_paused() -> Iterator[None]:
    """No cyclic garbage collection in the load generator while it sends: a full collection over its heap
    (the signed requests, tens of thousands of them, and the requests in flight) stopped its event loop
    for 50–140 ms, so answers already given waited to be read and were charged to whichever server was
    measured (the bare baseline too). Reference counting still frees nearly everything; the rest is
    collected after the load."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.collect()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def _pg(statement: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(PG_ADMIN)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def fresh_database(kind: str, workdir: pathlib.Path, name: str) -> str:
    if kind == "sqlite":
        url = f"sqlite+aiosqlite:///{workdir / (name + '.sqlite3')}"
    else:
        database = f"policy_push_bench_{name}_{secrets.token_hex(4)}"
        asyncio.run(_pg(f'CREATE DATABASE "{database}"'))
        url = PG_ADMIN.replace("postgresql://", "postgresql+asyncpg://").rsplit("/", 1)[0] + "/" + database
    migrate.upgrade(url)
    return url


def drop_database(url: str) -> None:
    if url.startswith("postgresql"):
        asyncio.run(_pg(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)'))
    else:
        # A SQLite database is its file plus the WAL side files; a reused workdir must not keep them.
        path = pathlib.Path(url.split(":///", 1)[1])
        for leftover in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            leftover.unlink(missing_ok=True)


def start(command: list[str], env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(command, env={**os.environ, **env}, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop(process: subprocess.Popen, timeout: float = 30) -> None:
    """SIGTERM, as an orchestrator would; SIGKILL only if the process outlives `timeout`."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


async def wait_listening(port: int, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server exited with {process.returncode}")
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            await writer.wait_closed()
            return
        except OSError:
            await asyncio.sleep(0.05)
    raise SystemExit("server did not start")


@contextlib.contextmanager
def serving(
    name: str, kind: str, workdir: pathlib.Path, *, fold_workers: int = 0
) -> Iterator[tuple[int, subprocess.Popen, list[subprocess.Popen]]]:
    """Server `name` ("service" or "baseline") on a fresh `kind` database; yields (port, process, fold workers).

    With `fold_workers`, the service runs `serve --no-folding` and that many `policy-push worker --fold
    --no-delivery` processes fold its events. On exit, however it is left, every process is stopped and the
    database dropped.
    """
    url = fresh_database(kind, workdir, name)
    env = {
        "POLICY_PUSH_DATABASE_URL": url,
        "POLICY_PUSH_WEBHOOK_SECRETS": factories.SECRET,
        # notices the benchmark's firms earn are written here, not into the checkout
        "POLICY_PUSH_OUTBOX_DIR": str(workdir / "outbox"),
        "POLICY_PUSH_SECRET_KEY": "bench-" + secrets.token_hex(16),
    }
    cli = [sys.executable, "-m", "engine.cli", "--log-level", "WARNING"]
    folders: list[subprocess.Popen] = []
    try:
        port = free_port()
        if name == "service":
            command = [*cli, "serve", "--port", str(port), *(["--no-folding"] if fold_workers else [])]
        else:
            command = [sys.executable, "bench/baseline_server.py", "--database-url", url, "--port", str(port)]
        process = start(command, env)
        try:
            if name == "service":
                folders = [start([*cli, "worker", "--fold", "--no-delivery"], env) for _ in range(fold_workers)]
            asyncio.run(wait_listening(port, process))
            yield port, process, folders
        finally:
            for folder in folders:
                stop(folder)
            stop(process)
    finally:
        drop_database(url)


def signed_requests(count: int, tag: str) -> list[tuple[bytes, dict[str, str]]]:
    """`count` signed VAT declarations over 200 firms, each delivery with its own webhook-id."""
    firms = [factories.uscc(n) for n in range(1, 201)]
    return [
        factories.signed(
            factories.event("tax.vat_declared", firm=firms[i % len(firms)], period=f"20{10 + i // 200 % 13}-{i % 12 + 1:02d}", sales=1000 + i),
            msg_id=f"msg_{tag}_{i}",
        )
        for i in range(count)
    ]


async def wait_folded(port: int, timeout: float) -> None:
    """Wait (at most `timeout` seconds) until the service at `port` reports no event waiting to be folded."""
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            async with session.get(f"http://127.0.0.1:{port}/metrics") as response:
                text = await response.text()
            pending = [line for line in text.splitlines() if line.startswith("policy_push_events_pending ")]
            if pending and float(pending[0].split()[1]) == 0:
                return
            await asyncio.sleep(0.5)
