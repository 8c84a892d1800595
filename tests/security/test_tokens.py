"""Finding 8: API tokens could not be listed, revoked or made to expire, nobody could tell when one
was last used, and creating one was not audited."""

from __future__ import annotations

import asyncio
import datetime
import os
import subprocess
import sys

from engine.http import auth
from tests.console.conftest import SQL_ONLY

pytestmark = SQL_ONLY


async def _cli(store, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "POLICY_PUSH_DATABASE_URL": store.url}
    return await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "engine.cli", "tokens", *args], env=env, capture_output=True, text=True
    )


async def test_tokens_are_created_listed_used_and_revoked_with_an_audit_trail(console_client, store):
    created = await _cli(store, "create", "--role", "viewer", "--label", "统计局", "--expires-days", "30")
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip()
    headers = {"Authorization": f"Bearer {token}"}
    assert (await console_client.get("/api/events/none", headers=headers)).status == 404  # authenticated
    [record] = await store.list_tokens()
    assert record.last_used_at is not None and record.label == "统计局"
    assert datetime.timedelta(days=29) < record.expires_at - record.created_at <= datetime.timedelta(days=30, seconds=5)
    listed = await _cli(store, "list")
    assert listed.returncode == 0 and f"{record.id}\tviewer\tactive\t" in listed.stdout and token not in listed.stdout
    revoked = await _cli(store, "revoke", str(record.id))
    assert revoked.returncode == 0, revoked.stderr
    assert (await console_client.get("/api/events/none", headers=headers)).status == 401
    assert "\trevoked\t" in (await _cli(store, "list")).stdout
    assert (await _cli(store, "revoke", "999")).returncode == 1
    trail = [(e.action, e.subject_id, e.actor.startswith("cli (")) async for e in store.audit_entries() if e.action.startswith("token.")]
    assert trail == [("token.created", str(record.id), True), ("token.revoked", str(record.id), True)]


async def test_an_expired_token_is_refused(console_client, store):
    past = datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=1)
    token, digest = auth.new_token()
    await store.add_token(digest, "admin", "old", past)
    response = await console_client.get("/api/events/none", headers={"Authorization": f"Bearer {token}"})
    assert response.status == 401 and 'error="invalid_token"' in response.headers["WWW-Authenticate"]
