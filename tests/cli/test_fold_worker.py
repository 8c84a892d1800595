"""Folding in processes of its own (issue 16, item 5): `serve --no-folding` acknowledges events and leaves
them to `policy-push worker --fold`, which folds and judges them as the service would have."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys

import aiohttp
import pytest
from click.testing import CliRunner

from connectors import sql_storage
from engine import cli
from tests import conftest, factories, test_crash

FIRM = factories.uscc(31, region="630102")
DEADLINE_SECONDS = 60


def spawn(*arguments: str, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "engine.cli", *arguments], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stopped(process: subprocess.Popen) -> int:
    """SIGTERM, as an orchestrator stops it; its exit status."""
    process.send_signal(signal.SIGTERM)
    return process.wait(timeout=60)


async def get_when_listening(session: aiohttp.ClientSession, url: str, process: subprocess.Popen) -> str:
    """GET `url` once the process serving it answers; the body."""
    deadline = asyncio.get_running_loop().time() + DEADLINE_SECONDS
    while True:
        assert process.poll() is None, "the process exited"
        try:
            async with session.get(url) as response:
                return await response.text()
        except aiohttp.ClientConnectionError:
            assert asyncio.get_running_loop().time() < deadline, f"nothing answered at {url}"
            await asyncio.sleep(0.1)  # polling a condition with a deadline


async def frozen_objects(port: int, process: subprocess.Popen) -> float:
    """What /metrics at `port` says start-up froze out of the garbage collector, once it answers."""
    async with aiohttp.ClientSession() as session:
        page = await get_when_listening(session, f"http://127.0.0.1:{port}/metrics", process)
    [value] = [line.split()[1] for line in page.splitlines() if line.startswith("policy_push_gc_frozen_objects ")]
    return float(value)


async def post_when_listening(port: int, process: subprocess.Popen, deliveries: list[tuple[bytes, dict[str, str]]]) -> list[int]:
    """Post each signed delivery once the service at `port` answers; their statuses."""
    async with aiohttp.ClientSession() as session:
        await get_when_listening(session, f"http://127.0.0.1:{port}/healthz", process)
        statuses = []
        for data, headers in deliveries:
            async with session.post(f"http://127.0.0.1:{port}/webhooks/events", data=data, headers=headers) as response:
                statuses.append(response.status)
        return statuses


@pytest.mark.process
@pytest.mark.parametrize("empty_database", conftest.SQL_BACKENDS, indirect=True)
async def test_serve_without_folding_leaves_events_to_a_fold_worker_which_judges_them(migrated_database, tmp_path):
    env = {**os.environ, "POLICY_PUSH_DATABASE_URL": migrated_database, "POLICY_PUSH_WEBHOOK_SECRETS": factories.SECRET,
           "POLICY_PUSH_OUTBOX_DIR": str(tmp_path / "outbox")}
    deliveries = [
        factories.signed(factories.event(firm=FIRM, region="630102", occurred_at="2022-03-01T09:00:00+08:00")),
        factories.signed(factories.event("tax.vat_declared", firm=FIRM, occurred_at="2022-04-15T09:00:00+08:00",
                                         period="2022-03", sales=150000)),
    ]
    port = test_crash.free_port()
    service = spawn("serve", "--no-folding", "--no-delivery", "--port", str(port), env=env)
    try:
        assert await post_when_listening(port, service, deliveries) == [202, 202]
        # Started, it froze what start-up left (the catalogue, compiled rules, templates...) out of the
        # collector's reach: full collections walking them had stopped it for ~100 ms at a time.
        assert await frozen_objects(port, service) > 10_000
    finally:
        assert stopped(service) == 0

    store = sql_storage.SqlStorage(migrated_database)
    await store.open()
    try:
        # Acknowledged means stored; nothing in `serve` folded them.
        assert await store.count_pending_events() == 2
        assert await store.get_firm(FIRM) is None

        metrics_port = test_crash.free_port()
        folder = spawn("worker", "--fold", "--no-delivery", "--metrics-port", str(metrics_port), env=env)
        try:
            assert await frozen_objects(metrics_port, folder) > 10_000  # as `serve` does, before its work starts
            deadline = asyncio.get_running_loop().time() + DEADLINE_SECONDS
            while await store.count_pending_events():
                assert folder.poll() is None, "the fold worker exited"
                assert asyncio.get_running_loop().time() < deadline, "the fold worker folded nothing"
                await asyncio.sleep(0.1)  # polling a condition with a deadline
        finally:
            assert stopped(folder) == 0

        firm = await store.get_firm(FIRM)
        assert firm is not None and firm.fields["region"] == "630102"
        # The same decision the in-process pipeline records (tests/test_end_to_end.py): 月销售额15万元以下, met at 150,000.
        vat = [(d.decision.cite, d.decision.status.value, d.as_of.isoformat())
               for d in await store.decisions(FIRM) if d.decision.clause_id == "qinghai-2022-2"]
        assert vat == [("qinghai-2022#(二)", "unknown", "2022-03-01"), ("qinghai-2022#(二)", "met", "2022-04-15")]
    finally:
        await store.close()


def test_a_worker_told_neither_to_fold_nor_to_deliver_refuses_in_one_line():
    result = CliRunner().invoke(cli.main, ["worker", "--no-delivery"])
    assert result.exit_code == 2
    assert "--no-delivery leaves this worker nothing to do; add --fold, or drop --no-delivery" in result.output
