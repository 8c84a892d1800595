"""Finding 8: `audit verify` could not check the chain against a head hash kept elsewhere, so
deleting the newest entries went unnoticed (the rest of the chain is still intact)."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys

import sqlalchemy as sa

from tests.console.conftest import SQL_ONLY
from tests.notices import helpers

pytestmark = SQL_ONLY


async def _verify(store, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "POLICY_PUSH_DATABASE_URL": store.url}
    return await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "engine.cli", "audit", "verify", *args], env=env, capture_output=True, text=True
    )


async def test_deleting_the_newest_entries_is_found_against_a_kept_head(store):
    await helpers.feed(store, *helpers.eligible_firm_events())
    first = await _verify(store)
    assert first.returncode == 0, first.stderr
    [head] = re.findall(r"head ([0-9a-f]{64})", first.stdout)  # what an operator keeps, e.g. in a daily log
    assert (await _verify(store, "--head", head)).returncode == 0
    async with store.write() as connection:  # someone removes the newest two entries
        newest = (await connection.execute(sa.text("SELECT max(seq) FROM audit_entry"))).scalar()
        await connection.execute(sa.text("DELETE FROM audit_entry WHERE seq > :seq"), {"seq": newest - 2})
    assert (await _verify(store)).returncode == 0  # the chain alone cannot tell
    caught = await _verify(store, "--head", head)
    assert caught.returncode == 1 and "TAMPERED" in caught.stderr and head in caught.stderr
    assert (await _verify(store, "--head", "nonsense")).returncode == 2  # a malformed hash is a usage error
