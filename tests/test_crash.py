"""Nothing acknowledged is lost: kill -9 the real service right after its 2xx, restart, and every
acknowledged event is processed exactly once."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest

from connectors import sql_migrate as migrate
from tests import factories

pytestmark = pytest.mark.process

DEADLINE_SECONDS = 60


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_service(database: Path, port: int, log: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "POLICY_PUSH_DATABASE_URL": f"sqlite+aiosqlite:///{database}",
        "POLICY_PUSH_WEBHOOK_SECRETS": factories.SECRET,
    }
    with log.open("ab") as output:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            [sys.executable, "-m", "engine.cli", "serve", "--port", str(port)],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )


async def wait_ready(session: aiohttp.ClientSession, base: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while time.monotonic() < deadline:
        assert process.poll() is None, "the service exited during start-up"
        try:
            async with session.get(f"{base}/readyz") as response:
                if response.status == 200:
                    return
        except aiohttp.ClientConnectionError:
            pass
        await asyncio.sleep(0.05)  # polling a condition with a deadline, not covering a race
    raise AssertionError("service not ready in time")


def statuses(database: Path) -> dict[str, str]:
    with sqlite3.connect(database) as connection:
        return dict(connection.execute("SELECT event_id, status FROM event"))


async def test_kill_9_after_acknowledgement_loses_nothing(tmp_path):
    database, log, port = tmp_path / "crash.sqlite3", tmp_path / "service.log", free_port()
    base = f"http://127.0.0.1:{port}"
    firms = [factories.uscc(5000 + n) for n in range(40)]
    batch = [
        {**factories.event("tax.vat_declared", firm=firms[i % 40], period=f"20{10 + i // 40 % 12}-{i % 12 + 1:02d}", sales=1000 + i), "id": f"b-{i}"}
        for i in range(480)
    ]
    singles = [(factories.event(firm=firm), f"s-{n}") for n, firm in enumerate(firms)]

    # `make run` runs `policy-push db upgrade` before serve (which refuses a missing file).
    await asyncio.to_thread(migrate.upgrade, f"sqlite+aiosqlite:///{database}")
    service = start_service(database, port, log)
    acknowledged: list[str] = []
    try:
        async with aiohttp.ClientSession() as session:
            await wait_ready(session, base, service)
            for body, msg_id in singles:
                data, headers = factories.signed(body, msg_id=msg_id)
                async with session.post(f"{base}/webhooks/events", data=data, headers=headers) as response:
                    assert response.status == 202
                    acknowledged.append(msg_id)
            data, headers = factories.signed(batch)
            async with session.post(f"{base}/webhooks/events", data=data, headers=headers) as response:
                assert response.status == 200
                result = await response.json()
            service.send_signal(signal.SIGKILL)  # the moment the 2xx is in hand
            acknowledged += [item["event_id"] for item in result["results"] if item["status"] == "accepted"]
    finally:
        service.kill()
        service.wait()
    assert len(acknowledged) == 520

    at_kill = statuses(database)
    assert set(acknowledged) <= set(at_kill), "an acknowledged event was not on disk"
    unprocessed_at_kill = sum(1 for s in at_kill.values() if s == "received")
    assert unprocessed_at_kill > 0, "the crash came too late to test recovery; make the batch larger"

    service = start_service(database, port, log)
    try:
        async with aiohttp.ClientSession() as session:
            await wait_ready(session, base, service)
            deadline = time.monotonic() + DEADLINE_SECONDS
            while any(s == "received" for s in statuses(database).values()):
                assert time.monotonic() < deadline, "events were not processed after restart"
                await asyncio.sleep(0.1)
    finally:
        service.send_signal(signal.SIGTERM)
        service.wait(timeout=30)

    after = statuses(database)
    assert all(after[event_id] == "processed" for event_id in acknowledged)
    with sqlite3.connect(database) as connection:
        applied = dict(connection.execute("SELECT uscc, events_applied FROM firm"))
        provenance = connection.execute("SELECT event_id, count(*) FROM profile_field GROUP BY event_id").fetchall()
    # Exactly once: each firm folded its 1 registration + 12 VAT returns, and no event's fields twice.
    assert applied == {firm: 13 for firm in firms}
    assert {event_id: n for event_id, n in provenance if event_id.startswith("b-")} == {f"b-{i}": 3 for i in range(480)}
    print(json.dumps({"unprocessed_at_kill": unprocessed_at_kill}))
