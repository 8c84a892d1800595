"""What the long-running workers (the pipeline, the notice worker) share about faults and stopping."""

from __future__ import annotations

import asyncio
import contextlib

import sqlalchemy.exc

#: Faults that say nothing about the work itself (the database or the network went away): try the
#: same work again later.
TRANSIENT = (sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError, OSError, asyncio.TimeoutError)


async def finish(task: asyncio.Task[None], timeout: float) -> None:
    """Wait for a worker task told to stop; cancel it only if it overruns `timeout`."""
    try:
        await asyncio.wait_for(asyncio.shield(task), timeout)
    except TimeoutError:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
