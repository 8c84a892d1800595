"""The in-process worker that folds committed events into firm profiles and has them judged.

It takes events in arrival order, so each firm's events are folded in the order they were
acknowledged; the fold itself is order-independent (engine.profile), so an event that occurred
earlier but arrived later never overwrites a newer value. The worker is woken as soon as the
webhook commits an event and also polls, so events committed before a crash (or by another
process) are picked up on start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import sqlalchemy.exc

from engine import constants, folding, matching, metrics, profile, status, storage, validation
from engine.backfill import judge
from engine.catalogue import reference

log = logging.getLogger(__name__)

#: Faults that say nothing about the event itself: try the same event again later.
TRANSIENT = (sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError, OSError, asyncio.TimeoutError)


class Pipeline:
    """Folds `received` events into profiles and stores the matcher's changed decisions."""

    def __init__(
        self,
        store: storage.Storage,
        matcher: matching.Matcher,
        *,
        batch_size: int = constants.PIPELINE_BATCH_SIZE,
        poll_seconds: float = constants.PIPELINE_POLL_SECONDS,
        retry_seconds: float = constants.PIPELINE_RETRY_SECONDS,
    ) -> None:
        self.storage = store
        self.matcher = matcher
        # The catalogue's matchers explain every clause; the pipeline stores only what changes, so
        # it asks the two-tier judge, which explains just those (same decisions, tests/backfill).
        self.judge: matching.Matcher = (
            judge.ChangesMatcher(matcher) if isinstance(matcher, reference.ProfileMatcher) else matcher
        )
        self.batch_size = batch_size
        self.poll_seconds = poll_seconds
        self.retry_seconds = retry_seconds
        self._wakeup = asyncio.Event()
        # Wake-ups are numbered; a drain started after wake-up n has seen everything committed before it.
        self._requested = 0
        self._drained = 0
        self._progress = asyncio.Condition()
        self._stopping = False
        #: Called after a round that stored decisions (the delivery worker's wake-up).
        self.on_decisions: list[Callable[[], None]] = []

    def wake(self) -> None:
        """Tell the worker new events were committed."""
        self._requested += 1
        self._wakeup.set()

    async def process(self, event: storage.StoredEvent) -> storage.FoldOutcome:
        """Fold one stored event (the webhook validated it before it was stored)."""
        envelope = validation.parse_stored(event.body, event.event_id)
        if envelope.type in validation.REGION_TYPES:
            return await self.storage.fold_region_event(
                event, folding.risk_designation(envelope), self.judge.match
            )
        return await self.storage.fold_firm_event(event, folding.assignments(envelope), self.judge.match)

    async def run_once(self) -> int:
        """Process what is pending now; return how many events were handled."""
        handled = 0
        while not self._stopping and (events := await self.storage.pending_events(self.batch_size)):
            for event in events:
                if self._stopping:
                    break
                try:
                    outcome = await self.process(event)
                except TRANSIENT:
                    raise
                except Exception as exc:  # a defect with this event: park it, keep the line moving
                    log.exception("event %s failed", event.event_id, extra={"event_id": event.event_id, "uscc": event.uscc})
                    await self.storage.mark_failed(event.event_id, f"{type(exc).__name__}: {exc}")
                    metrics.event_failed()
                else:
                    metrics.event_processed(decision.status.value for decision in outcome.decisions)
                    if outcome.decisions:
                        for listener in self.on_decisions:
                            listener()
                    log.info(
                        "event %s folded: %d field(s) changed, %d decision(s) stored",
                        event.event_id,
                        len(outcome.changed_fields),
                        len(outcome.decisions),
                        extra={"event_id": event.event_id, "uscc": event.uscc},
                    )
                handled += 1
        return handled

    async def run_forever(self) -> None:
        """Work until stopped: drain, then wait for a wake-up or the poll interval."""
        while not self._stopping:
            self._wakeup.clear()
            generation = self._requested
            try:
                await self.run_once()
            except TRANSIENT:
                log.exception("pipeline: database unavailable, retrying in %.1fs", self.retry_seconds)
                await self._wait(self.retry_seconds)
                continue
            async with self._progress:
                self._drained = generation
                self._progress.notify_all()
            await self._wait(self.poll_seconds)

    async def stop(self, task: asyncio.Task[None], timeout: float) -> None:
        """Let the worker finish the event in hand (never cancel a fold half-way), then end it."""
        self._stopping = True
        self._wakeup.set()
        await finish(task, timeout)

    async def _wait(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._wakeup.wait(), timeout=seconds)
        except TimeoutError:
            pass

    async def drained(self) -> None:
        """Wait until the running worker has handled every event committed before this call."""
        self.wake()
        target = self._requested
        async with self._progress:
            await self._progress.wait_for(lambda: self._drained >= target)


async def finish(task: asyncio.Task[None], timeout: float) -> None:
    """Wait for a worker task told to stop; cancel it only if it overruns `timeout`."""
    try:
        await asyncio.wait_for(asyncio.shield(task), timeout)
    except TimeoutError:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def rebuild_fields(store: storage.Storage, uscc: str) -> dict[str, object]:
    """Recompute a firm's profile fields from its processed events alone (audit: must equal the stored ones)."""
    history = []
    for event in await store.firm_events(uscc):
        if event.status is not status.EventStatus.PROCESSED:
            continue
        envelope = validation.parse_stored(event.body, event.event_id)
        history.append((folding.assignments(envelope), profile.stamp_of(event.occurred_at, event.event_id)))
    fields, _stamps = profile.rebuild(history)
    return fields
