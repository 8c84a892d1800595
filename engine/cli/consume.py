"""`policy-push consume`: read events from the message broker into the database (the second way in).

The service (`policy-push serve`) folds them as it folds webhook deliveries: it picks stored events
up within a poll interval, so the two processes need share nothing but the database.
"""

from __future__ import annotations

import asyncio
import signal

import click

from connectors import amqp, sql_storage
from engine import constants
from engine.cli import database, options


@click.command("consume")
@click.option("--prefetch", type=click.IntRange(1, 10_000), default=constants.AMQP_PREFETCH, show_default=True,
              help="Messages held unacknowledged at once (each is acknowledged after its commit).")
def consume(prefetch: int) -> None:
    """Consume events from RabbitMQ ($POLICY_PUSH_AMQP_URL, queue $POLICY_PUSH_AMQP_QUEUE) until stopped;
    invalid messages go to the queue's `.dead` queue with their reason."""
    config = options.load_settings()
    database.prepare(config.database_url)

    async def _run() -> None:
        store = sql_storage.SqlStorage.configured(config)
        await store.open()
        try:
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(signum, stop.set)
            await amqp.Consumer(store, config.amqp_url, config.amqp_queue, prefetch=prefetch).run(stop)
        finally:
            await store.close()

    asyncio.run(_run())
