"""Baseline for bench/ingest.py: a bare aiohttp handler doing the same single-row insert.

No signature check, no validation, no pipeline: read the body, insert one `event` row through
the same engine set-up (SQLite pragmas, writer connection) into the same kind of database, reply 202.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import itertools

from aiohttp import web

from connectors import sql_base
from connectors import sql_models as models

EVENT = models.Event.__table__


def make_app(database_url: str) -> web.Application:
    app = web.Application()
    counter = itertools.count()
    engine_key = web.AppKey("engine", object)

    async def engine_ctx(app: web.Application):
        app[engine_key] = sql_base.create_engine(database_url, writer=True)
        yield
        await app[engine_key].dispose()

    async def receive(request: web.Request) -> web.Response:
        body = await request.text()
        now = datetime.datetime.now(datetime.UTC)
        row = {
            "event_id": f"baseline-{next(counter)}-{request.headers.get('webhook-id', '')}",
            "type": "baseline",
            "uscc": None,
            "occurred_at": now,
            "received_at": now,
            "body": body,
            "body_sha256": hashlib.sha256(body.encode()).hexdigest(),
            "headers": {},
            "status": "processed",
        }
        async with app[engine_key].begin() as connection:
            await connection.execute(EVENT.insert().values(**row))
        return web.json_response({"event_id": row["event_id"]}, status=202)

    app.cleanup_ctx.append(engine_ctx)
    app.router.add_post("/webhooks/events", receive)
    return app


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    web.run_app(make_app(args.database_url), host="127.0.0.1", port=args.port, print=None, access_log=None)
