"""The database's integrity while the service runs: checked on a schedule, shown by `/readyz`, and
keeping new events out of a damaged database.

A damaged SQLite file still answers simple queries, so without this the service would stay ready
and acknowledge events it may not be able to keep. While the last check found damage, `/readyz`
answers 503 with the reason (taking the instance out of the load balancer) and `/webhooks/events`
answers 503 (senders retry later, so nothing is lost); the next clean check lifts both.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from engine import constants
from engine.core import stores
from engine.http import responses
from engine.web import keys

log = logging.getLogger(__name__)

#: The path whose requests store new data and are refused while the database is damaged.
WEBHOOK_PATH = "/webhooks/events"


@dataclasses.dataclass
class Health:
    """The last integrity check's finding: None while the database is whole."""

    damage: str | None = None

    async def check(self, store: stores.Lifecycle) -> str | None:
        """Run the store's integrity check now and keep its finding (logged when it changes)."""
        try:
            damage = await store.check_integrity()
        except Exception as exc:  # a check that cannot run says nothing about the data; try again next time
            log.warning("database integrity check could not run: %s: %s", type(exc).__name__, exc)
            return self.damage
        if damage != self.damage:
            if damage:
                log.error("database damaged: %s", damage)
            else:
                log.info("database integrity check passes again")
        self.damage = damage
        return damage


HEALTH = web.AppKey("health", Health)


async def integrity_ctx(app: web.Application) -> AsyncIterator[None]:
    """Check at once, then every DATABASE_CHECK_SECONDS (read each round, so a test may shorten it)."""

    async def _loop() -> None:
        while True:
            await app[HEALTH].check(app[keys.STORAGE])
            await asyncio.sleep(constants.DATABASE_CHECK_SECONDS)

    task = asyncio.create_task(_loop(), name="integrity")
    yield
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass


@web.middleware
async def refuse_writes_when_damaged(request: web.Request, handler) -> web.StreamResponse:
    """503 for received events while the last check found damage: the sender keeps them and retries."""
    damage = request.app[HEALTH].damage if HEALTH in request.app else None
    if damage and request.path == WEBHOOK_PATH:
        raise responses.error(
            503, "database_damaged", "the database needs repair; events are not accepted now, send them again later"
        )
    return await handler(request)
