"""Finding 1: the login throttle held only for requests made one after another. A concurrent burst
got every guess checked (40 × 401, 150 attempts for a limit of 5, 60 unknown users from one
address for a limit of 20), hashed them all at once (memory 420 → 804 MiB) and wrote an audit
entry per refusal with the typed username as actor."""

from __future__ import annotations

import asyncio
import threading

import sqlalchemy as sa

from connectors import sql_models as models
from engine import audit, console, constants
from engine.console import accounts
from engine.console import login as login_module
from tests.console.conftest import PASSWORD, SQL_ONLY, csrf_token

pytestmark = SQL_ONLY

BURST = 200
_ATTEMPT = models.LoginAttempt.__table__


async def _burst(client, credentials: list[tuple[str, str]]) -> list[int]:
    """POST every (username, password) to the login form at once; the statuses, in order."""
    token = csrf_token(await (await client.get("/console/login")).text())

    async def post(username: str, password: str) -> int:
        response = await client.post(
            "/console/login", data={"username": username, "password": password, "csrf_token": token}, allow_redirects=False
        )
        await response.read()
        return response.status

    return list(await asyncio.gather(*(post(u, p) for u, p in credentials)))


class HashWatch:
    """Counts password verifications and the most running at once (they run in threads)."""

    def __init__(self) -> None:
        self.calls = self.running = self.most = 0
        self._lock = threading.Lock()

    def wrap(self, verify):
        def watched(encoded: str, password: str) -> bool:
            with self._lock:
                self.calls += 1
                self.running += 1
                self.most = max(self.most, self.running)
            try:
                return verify(encoded, password)
            finally:
                with self._lock:
                    self.running -= 1
        return watched


async def _attempts(store) -> int:
    async with store.read() as connection:
        return (await connection.execute(sa.select(sa.func.count()).select_from(_ATTEMPT))).scalar()


async def test_a_concurrent_burst_on_one_account_gets_exactly_the_limit(console_client, store, monkeypatch):
    await accounts.create(console_client.app[console.ACCOUNTS], store, "wang", PASSWORD, "operator", actor="test")
    watch = HashWatch()
    monkeypatch.setattr(accounts, "verify_password", watch.wrap(accounts.verify_password))
    statuses = await _burst(console_client, [("wang", f"wrong password {i}") for i in range(BURST)])
    assert statuses.count(401) == login_module.ACCOUNT_FAILURE_LIMIT
    assert statuses.count(429) == BURST - login_module.ACCOUNT_FAILURE_LIMIT
    assert watch.calls == login_module.ACCOUNT_FAILURE_LIMIT  # refused attempts are not hashed
    assert watch.most <= constants.LOGIN_HASH_CONCURRENCY  # hashing (64 MiB each) is bounded
    assert await _attempts(store) == login_module.ACCOUNT_FAILURE_LIMIT
    # …and the right password after the burst is refused too: the account is locked.
    assert await _burst(console_client, [("wang", PASSWORD)]) == [429]


async def test_a_concurrent_burst_of_unknown_users_from_one_address_gets_exactly_the_limit(console_client, store, monkeypatch):
    watch = HashWatch()
    monkeypatch.setattr(accounts, "verify_password", watch.wrap(accounts.verify_password))
    statuses = await _burst(console_client, [(f"guess{i}", PASSWORD) for i in range(BURST)])
    assert statuses.count(401) == login_module.ADDRESS_FAILURE_LIMIT
    assert statuses.count(429) == BURST - login_module.ADDRESS_FAILURE_LIMIT
    assert watch.calls == login_module.ADDRESS_FAILURE_LIMIT
    assert watch.most <= constants.LOGIN_HASH_CONCURRENCY
    assert await _attempts(store) == login_module.ADDRESS_FAILURE_LIMIT


async def test_refusals_are_counted_in_one_summary_with_a_fixed_actor(console_client, store):
    typed = "<script>x</script> admin (admin) " + "x" * 40
    statuses = await _burst(console_client, [(typed, "wrong password")] * 50)
    assert statuses.count(401) == login_module.ACCOUNT_FAILURE_LIMIT
    entries = [entry async for entry in store.audit_entries()]
    assert not [e for e in entries if e.action.startswith("login.")]  # nothing chained per refusal
    await console_client.close()  # the app stops: its window's summary is written
    entries = [entry async for entry in store.audit_entries()]
    [summary] = [e for e in entries if e.action.startswith("login.")]
    assert summary.action == "login.refused" and summary.actor == login_module.ANONYMOUS
    assert summary.payload["refused"] == 50
    assert summary.payload["reasons"] == {"unknown_user": 5, "throttled": 45}
    [(name, count)] = summary.payload["usernames"].items()
    assert count == 50 and name == typed.strip()[: login_module.SUMMARY_NAME_CHARS]
    assert all(e.actor != typed and not e.actor.startswith("<script>") for e in entries)
    assert audit.verify([e.as_json() for e in entries]).ok



def test_a_flood_of_made_up_usernames_is_counted_in_bounded_memory(store):  # store: the module runs per SQL backend
    log = login_module.RefusalLog()
    at = login_module.sessions.utcnow()
    for i in range(3 * login_module.SUMMARY_TRACKED):
        log.count(at, "unknown_user", f"user{i}", f"10.0.{i // 250}.{i % 250}")
    assert len(log.usernames) == len(log.addresses) == login_module.SUMMARY_TRACKED
    summary = log.due(None)
    assert summary.payload["refused"] == 3 * login_module.SUMMARY_TRACKED
    assert len(summary.payload["usernames"]) == login_module.SUMMARY_TOP
    assert summary.payload["refused_for_other_usernames"] == 3 * login_module.SUMMARY_TRACKED - login_module.SUMMARY_TOP
