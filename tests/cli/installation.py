"""A populated installation for the lifecycle commands' tests: every table holds rows.

Synthetic firms are loaded with `policy-push synth` and folded by the real pipeline and catalogue
(firms, provenance, decisions, notices, audit entries); the tables the pipeline does not fill get
rows through the store's own writers where it has them, and direct inserts otherwise.
"""

from __future__ import annotations

import asyncio
import datetime

import sqlalchemy as sa
from click.testing import CliRunner

from connectors import sql_copy, sql_storage
from connectors import sql_models as models
from engine import audit, cli
from engine.backfill import store as backfill_store
from engine.http import auth
from engine.ingest import pipeline
from engine.judging import catalogue

AT = datetime.datetime(2022, 6, 1, 8, 30, 15, 123456, tzinfo=datetime.UTC)


def run(url: str, *args: str, input: str | None = None) -> tuple[int, str]:
    """`policy-push ARGS` with POLICY_PUSH_DATABASE_URL=url: its exit code and output (stdout and stderr)."""
    result = CliRunner(env={"POLICY_PUSH_DATABASE_URL": url}).invoke(cli.main, list(args), input=input)
    return result.exit_code, result.output


def create(url: str, firms: int = 4) -> None:
    """Create the SQLite database at `url` and fill every table. Blocking: call it from a thread in async tests."""
    for args in (("db", "upgrade"), ("synth", "--firms", str(firms))):
        code, output = run(url, *args)
        assert code == 0, output
    asyncio.run(_fill(url))


async def _fill(url: str) -> None:
    store = sql_storage.SqlStorage(url)
    await store.open()
    try:
        assert await pipeline.Pipeline(store, catalogue.default_matcher()).run_once() > 0
        firm = await _a_firm_with_notices(store)
        decision = (await store.decisions(firm))[0]
        await store.add_token(auth.new_token()[1], "operator", "test token")
        await store.set_clause_approval(decision.decision.clause_id, True, "test")
        await store.opt_out(firm, "email", "test", AT)
        await store.set_sms_preference(firm, "grants_only", "test", AT)
        await store.record_response(firm, decision.decision.clause_id, decision.id, "confirm", None, AT)
        await store.append_audit([audit.Draft("test", "test.note", "firm", firm, {"说明": "中文", "amount": 1.5})])
        await store.set_windows_checked_through(AT.date())
        await store.record_opening(backfill_store.OpeningRecord(
            decision.decision.clause_id, datetime.date(2022, 5, 31), backfill_store.JUDGED, firms=4, decisions=1, met=1, handled_at=AT))
        await store.create_run(backfill_store.RunSpec("run-1", AT.date(), frozenset({decision.decision.clause_id}), "backfill",
                                                      False, "v" * 32, AT), [("", firm)])
        await store.claim_batch("run-1", "host:1:0", AT, datetime.timedelta(minutes=5))
        notice = (await store.firm_notices(firm))[0]
        async with store.write() as connection:
            operator_id = (await connection.execute(sa.insert(models.Operator.__table__).values(
                username="admin", display_name="管理员", role="admin", password_hash="x", created_at=AT,
            ).returning(models.Operator.__table__.c.id))).scalar_one()
            await connection.execute(sa.insert(models.ConsoleSession.__table__).values(
                id="s" * 64, operator_id=operator_id, csrf_token="c", client_ip="127.0.0.1", created_at=AT,
                expires_at=AT + datetime.timedelta(hours=8)))
            await connection.execute(sa.insert(models.LoginAttempt.__table__).values(
                username="admin", client_ip="127.0.0.1", success=True, at=AT))
            await connection.execute(sa.insert(models.NoticeAttempt.__table__).values(
                notice_id=notice.notice_id, kind="send", outcome="accepted", status_after="sent",
                provider_id="p-1", response={"code": "OK"}, at=AT))
    finally:
        await store.close()
    empty = [name for name, rows in (await sql_copy.row_counts(url)).items() if not rows]
    assert empty == [], f"tables left empty: {empty}"


async def _a_firm_with_notices(store: sql_storage.SqlStorage) -> str:
    table = models.Notice.__table__
    async with store.read() as connection:
        return (await connection.execute(sa.select(table.c.uscc).order_by(table.c.id).limit(1))).scalar_one()
