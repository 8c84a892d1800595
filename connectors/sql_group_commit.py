"""Group commit of received events: concurrent `add_events` calls share one transaction.

A commit costs a disk flush (SQLite's fsync of its WAL with `synchronous=FULL`, PostgreSQL's WAL
flush with `synchronous_commit` on) and a round of statements, whatever it holds. So the first
caller starts a commit at once, and every call that arrives while it is in flight waits and goes
into the next one, together with all the others that arrived meanwhile: under load each commit
holds what arrived during the previous one, with no timer to wait for. Each caller returns only
after the transaction holding its events has committed, so an acknowledgement still means the
event is on disk; if that transaction fails, every caller in it gets the error and none of their
events is stored (the transaction is one).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from engine.core import records

Commit = Callable[[Sequence[records.NewEvent]], Awaitable[list[records.AddResult]]]


class GroupCommit:
    """Queues `add` calls and commits them in groups, one transaction each, through `commit`."""

    def __init__(self, commit: Commit, *, max_events: int) -> None:
        self._commit = commit
        self._max_events = max_events
        self._queued: list[tuple[Sequence[records.NewEvent], asyncio.Future[list[records.AddResult]]]] = []
        self._flusher: asyncio.Task[None] | None = None

    @property
    def busy(self) -> bool:
        """Whether a commit is in flight or calls are queued for the next one."""
        return self._flusher is not None and not self._flusher.done()

    async def add(self, events: Sequence[records.NewEvent]) -> list[records.AddResult]:
        """Store `events` in the next group's transaction; return once it has committed (or raise its error).
        A caller that is cancelled meanwhile does not take its events out: they commit with the group."""
        future: asyncio.Future[list[records.AddResult]] = asyncio.get_running_loop().create_future()
        self._queued.append((events, future))
        if not self.busy:
            self._flusher = asyncio.create_task(self._flush(), name="group-commit")
        return await asyncio.shield(future)

    def _next_group(self) -> list[tuple[Sequence[records.NewEvent], asyncio.Future[list[records.AddResult]]]]:
        """The oldest queued calls, up to `max_events` events (a call's events are never split)."""
        taken, size = 0, 0
        for events, _ in self._queued:
            if taken and size + len(events) > self._max_events:
                break
            taken, size = taken + 1, size + len(events)
        group, self._queued = self._queued[:taken], self._queued[taken:]
        return group

    async def _flush(self) -> None:
        while self._queued:
            group = self._next_group()
            try:
                results = await self._commit([event for events, _ in group for event in events])
            except Exception as exc:  # every caller in the group learns its events were not stored
                for _, future in group:
                    if not future.done():
                        future.set_exception(exc)
                        future.exception()  # marked seen: a caller that was cancelled leaves no "never retrieved" log
                continue
            start = 0
            for events, future in group:
                if not future.done():
                    future.set_result(results[start : start + len(events)])
                start += len(events)
