"""Baseline for bench/ingest.py and bench/sustained.py: a bare aiohttp handler with group commit.

No signature check, no validation, no pipeline: read the body, and insert one `event` row per
request into the same kind of database, through the same engine set-up (SQLite in WAL mode with
`synchronous=FULL` on its single writer connection; PostgreSQL with `synchronous_commit` on, its
default), with the same durability promise: reply 202 only after the commit holding the row.
Requests that arrive while a commit is in flight share the next one (connectors.sql_group_commit,
the service's own group commit), so this is the honest yardstick of what one process can
acknowledge durably, not a handler that pays a disk flush per request.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import itertools
import pathlib
import sys
from collections.abc import Sequence

from aiohttp import web

# The checkout this script is in, not whichever one is installed: the service it is compared with
# runs from here too (bench/_common.py).
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from connectors import sql_base, sql_group_commit  # noqa: E402
from connectors import sql_models as models  # noqa: E402
from engine import constants  # noqa: E402
from engine.core import records  # noqa: E402

EVENT = models.Event.__table__
ENGINE = web.AppKey("engine", object)
GROUP = web.AppKey("group_commit", sql_group_commit.GroupCommit)


def make_app(database_url: str) -> web.Application:
    app = web.Application()
    counter = itertools.count()

    async def commit(events: Sequence[records.NewEvent]) -> list[records.AddResult]:
        now = datetime.datetime.now(datetime.UTC)
        rows = [
            {"event_id": e.event_id, "type": e.type, "uscc": None, "occurred_at": now, "received_at": now, "body": e.body,
             "body_sha256": e.body_sha256, "headers": {}, "status": "processed"}
            for e in events
        ]
        async with app[ENGINE].begin() as connection:
            await connection.execute(EVENT.insert(), rows)
        return [records.AddResult(e.event_id, True) for e in events]

    async def engine_ctx(app: web.Application):
        sqlite = database_url.startswith("sqlite")
        app[ENGINE] = sql_base.create_engine(database_url, writer=True, pool_size=None if sqlite else constants.INTAKE_POOL_SIZE)
        app[GROUP] = sql_group_commit.GroupCommit(commit, max_events=constants.INTAKE_GROUP_MAX_EVENTS)
        yield
        await app[ENGINE].dispose()

    async def receive(request: web.Request) -> web.Response:
        body = await request.text()
        now = datetime.datetime.now(datetime.UTC)
        event = records.NewEvent(
            event_id=f"baseline-{next(counter)}-{request.headers.get('webhook-id', '')}", type="baseline", uscc=None,
            occurred_at=now, body=body, body_sha256=hashlib.sha256(body.encode()).hexdigest(), headers={},
        )
        [result] = await app[GROUP].add([event])
        return web.json_response({"event_id": result.event_id}, status=202)

    app.cleanup_ctx.append(engine_ctx)
    app.router.add_post("/webhooks/events", receive)
    return app


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    web.run_app(make_app(args.database_url), host="127.0.0.1", port=args.port, print=None, access_log=None)
