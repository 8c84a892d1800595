"""Ingestion benchmark: signed single-event POSTs against the real service, beside a baseline.

Both servers run as their own processes on fresh, migrated databases of the same kind; this
process is the load generator (requests are signed before the clock starts). Prints events/s
and p50/p99 latency for each, and the service/baseline ratios.

    .venv/bin/python bench/ingest.py [--events 3000] [--concurrency 16] [--database sqlite|postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import pathlib
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

import aiohttp

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine import migrate  # noqa: E402
from tests import factories  # noqa: E402

PG_ADMIN = os.environ.get("POLICY_PUSH_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


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


def start(command: list[str], env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(command, env={**os.environ, **env}, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


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


async def load(port: int, requests: list[tuple[bytes, dict[str, str]]], concurrency: int) -> dict[str, float]:
    latencies: list[float] = []
    queue = iter(requests)
    statuses: dict[int, int] = {}

    async def worker(session: aiohttp.ClientSession) -> None:
        for data, headers in queue:
            began = time.perf_counter()
            async with session.post(f"http://127.0.0.1:{port}/webhooks/events", data=data, headers=headers) as response:
                await response.read()
                statuses[response.status] = statuses.get(response.status, 0) + 1
            latencies.append(time.perf_counter() - began)

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        began = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
        elapsed = time.perf_counter() - began
    if set(statuses) != {202}:
        raise SystemExit(f"unexpected statuses {statuses}")
    quantiles = statistics.quantiles(latencies, n=100)
    return {"rate": len(latencies) / elapsed, "p50_ms": quantiles[49] * 1000, "p99_ms": quantiles[98] * 1000}


def signed_requests(count: int, tag: str) -> list[tuple[bytes, dict[str, str]]]:
    firms = [factories.uscc(n) for n in range(1, 201)]
    return [
        factories.signed(
            factories.event("tax.vat_declared", firm=firms[i % len(firms)], period=f"20{10 + i // 200 % 13}-{i % 12 + 1:02d}", sales=1000 + i),
            msg_id=f"msg_{tag}_{i}",
        )
        for i in range(count)
    ]


def run(kind: str, events: int, concurrency: int) -> dict[str, dict[str, float]]:
    results = {}
    with tempfile.TemporaryDirectory() as workdir:
        for name in ("baseline", "service"):
            url = fresh_database(kind, pathlib.Path(workdir), name)
            port = free_port()
            if name == "service":
                command = [sys.executable, "-m", "engine.cli", "--log-level", "WARNING", "serve", "--port", str(port)]
            else:
                command = [sys.executable, "bench/baseline_server.py", "--database-url", url, "--port", str(port)]
            process = start(
                command,
                {
                    "POLICY_PUSH_DATABASE_URL": url,
                    "POLICY_PUSH_WEBHOOK_SECRETS": factories.SECRET,
                    # notices the benchmark's firms earn are written here, not into the checkout
                    "POLICY_PUSH_OUTBOX_DIR": str(pathlib.Path(workdir) / "outbox"),
                    "POLICY_PUSH_SECRET_KEY": "bench-" + secrets.token_hex(16),
                },
            )
            try:
                asyncio.run(wait_listening(port, process))
                requests = signed_requests(events, name)  # signed before the clock starts
                asyncio.run(load(port, requests[: max(50, events // 20)], concurrency))  # warm-up
                results[name] = asyncio.run(load(port, requests[max(50, events // 20):], concurrency))
            finally:
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=30)
                drop_database(url)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--database", choices=["sqlite", "postgres"], action="append")
    args = parser.parse_args()
    for kind in args.database or ["sqlite"]:
        results = run(kind, args.events, args.concurrency)
        base, service = results["baseline"], results["service"]
        print(f"== {kind}: {args.events} signed single-event POSTs, concurrency {args.concurrency}")
        for name, figures in results.items():
            print(f"{name:>9}: {figures['rate']:8.0f} events/s   p50 {figures['p50_ms']:7.2f} ms   p99 {figures['p99_ms']:7.2f} ms")
        print(
            f"    ratio: {service['rate'] / base['rate']:.2f}x throughput   "
            f"{service['p50_ms'] / base['p50_ms']:.2f}x p50   {service['p99_ms'] / base['p99_ms']:.2f}x p99 (service / baseline)"
        )


if __name__ == "__main__":
    main()
