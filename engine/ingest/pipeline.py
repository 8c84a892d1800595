"""The in-process worker that folds committed events into firm profiles and has them judged.

It takes events in arrival order, so each firm's events are folded in the order they were
acknowledged; the fold itself is order-independent (engine.profile), so an event that occurred
earlier but arrived later never overwrites a newer value. Events are folded in groups, one
transaction each (Storage.fold_group): an event whose fold fails is parked alone, and a group the
database refuses as a whole is folded again one event at a time. The worker is woken as soon as
the webhook commits an event and also polls, so events committed before a crash (or by another
process) are picked up on start.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Sequence

from engine import constants
from engine.core import event_status, matching, profile, records
from engine.ingest import event_store, folding, validation
from engine.judging import judge
from engine.judging.catalogue import reference
from engine.telemetry import metrics, tasks

log = logging.getLogger(__name__)



class _GroupFailed(Exception):
    """A group's transaction failed as a whole (not transiently): none of `events` was folded."""

    def __init__(self, events: Sequence[records.StoredEvent], cause: Exception) -> None:
        super().__init__(f"{len(events)} event(s): {cause}")
        self.events, self.cause = events, cause


def _reason(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"


class Pipeline:
    """Folds `received` events into profiles and stores the matcher's changed decisions."""

    def __init__(
        self,
        store: event_store.EventStore,
        matcher: matching.Matcher,
        *,
        group_size: int = constants.PIPELINE_GROUP_SIZE,
        poll_seconds: float = constants.PIPELINE_POLL_SECONDS,
        retry_seconds: float = constants.PIPELINE_RETRY_SECONDS,
        share_under_load: float = constants.PIPELINE_SHARE_UNDER_LOAD,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.storage = store
        self.matcher = matcher
        # The catalogue's matchers explain every clause; the pipeline stores only what changes, so
        # it asks the two-tier judge, which explains just those (same decisions, tests/backfill).
        self.judge: matching.Matcher = (
            judge.ChangesMatcher(matcher) if isinstance(matcher, reference.ProfileMatcher) else matcher
        )
        self.group_size = group_size
        self._size = group_size  # the next group's; smaller while acknowledgements keep cutting groups short
        self.poll_seconds = poll_seconds
        self.retry_seconds = retry_seconds
        self.share_under_load = share_under_load
        self._stored_at = -math.inf  # when the webhook last stored an event (time.monotonic)
        self._clock = clock  # times the groups, for the rest under load
        self._held = 0.0  # seconds the last group took, from its claim to its commit
        self._wakeup = asyncio.Event()
        # Wake-ups are numbered; a drain started after wake-up n has seen everything committed before it.
        self._requested = 0
        self._drained = 0
        self._progress = asyncio.Condition()
        self._stopping = False
        #: Called after a round that stored decisions or woke notices waiting for contact (the delivery
        #: worker's wake-up), so what became due goes out now rather than at the worker's next poll.
        self.on_decisions: list[Callable[[], None]] = []

    def wake(self) -> None:
        """Tell the worker new events were committed."""
        self._requested += 1
        self._wakeup.set()

    def stored(self) -> None:
        """Tell the worker the webhook has just committed events: wake it, and for the next
        PIPELINE_LOAD_WINDOW_SECONDS let it fold only its share of the time (`share_under_load`)."""
        self._stored_at = time.monotonic()
        self.wake()

    def _arriving(self) -> bool:
        """Whether the webhook stored events within the last PIPELINE_LOAD_WINDOW_SECONDS."""
        return time.monotonic() - self._stored_at <= constants.PIPELINE_LOAD_WINDOW_SECONDS

    def _rest_after(self, busy: float) -> float:
        """How long to rest after a group that took `busy` seconds: none unless events are arriving. The
        whole group counts, claim, reads and writes with its folds: on SQLite it holds the one writer the
        webhook's commits wait for, and its statements are the event loop's work too. (Counting its folds
        alone, a closed-loop load measured folding at about 60% of the process's time, not 25%.)"""
        if self.share_under_load >= 1 or not self._arriving():
            return 0.0
        return busy * (1 - self.share_under_load) / self.share_under_load

    async def run_once(self) -> int:
        """Process what is pending now, a group of events per transaction; return how many were handled."""
        handled = 0
        alone = 0  # after a group failed as a whole: how many events to fold one per group, to find the culprit
        while not self._stopping:
            try:
                results = await self._fold_group(1 if alone else self._size)
            except _GroupFailed as failed:
                if len(failed.events) > 1:
                    log.warning("pipeline: a group of %d events failed (%s); folding them one at a time",
                                len(failed.events), failed.cause)
                    alone = len(failed.events)
                    continue
                [event] = failed.events
                results = [(event, await self._park(event, failed.cause))]
            if not results:
                break  # nothing pending (that another process has not claimed)
            alone = max(0, alone - len(results))
            handled += len(results)
            self._report(results)
            if rest := self._rest_after(self._held):
                await asyncio.sleep(rest)  # acknowledgements first: the webhook's handlers have the loop
        return handled

    async def _fold_group(self, size: int) -> list[tuple[records.StoredEvent, event_store.FoldOutcome | Exception]]:
        """Claim and fold up to `size` events in one transaction; each event's fold or failure, once committed."""
        claimed: list[records.StoredEvent] = []
        results: list[tuple[records.StoredEvent, event_store.FoldOutcome | Exception]] = []
        began = self._clock()
        try:
            async with self.storage.fold_group(size) as group:
                claimed, started = list(group.events), time.monotonic()
                for event in claimed:
                    if self._stopping:
                        break
                    if results and group.contended and time.monotonic() - started >= constants.PIPELINE_GROUP_YIELD_SECONDS:
                        break  # received events wait for the writer: the rest go in the next group
                    results.append((event, await self._fold(group, event)))
                    # A group's folds need not wait for the database at all: let the webhook's handlers
                    # run between them, so acknowledgements never wait for a whole group's judging.
                    await asyncio.sleep(0)
        except tasks.TRANSIENT:
            raise
        except Exception as exc:  # e.g. the database refused one event's rows: nothing of the group was kept
            if not claimed:
                raise
            raise _GroupFailed(claimed, exc) from exc
        finally:
            self._held = self._clock() - began  # a group that failed held the writer too
        # Claim next what this one could fold: a group cut short by waiting acknowledgements read and
        # locked firms for events it never folded; a full one may grow again, up to group_size.
        if len(results) < len(claimed) and not self._stopping:
            self._size = max(1, len(results))
        elif len(claimed) == size:
            self._size = min(self.group_size, 2 * size)
        return results

    async def _fold(self, group: event_store.FoldGroup, event: records.StoredEvent) -> event_store.FoldOutcome | Exception:
        try:
            envelope = validation.parse_stored(event.body, event.event_id)
            if envelope.type in validation.REGION_TYPES:
                return await group.fold_region_event(event, folding.designation(envelope), self.judge.match)
            return await group.fold_firm_event(event, folding.assignments(envelope), self.judge.match)
        except tasks.TRANSIENT:
            raise
        except Exception as exc:  # a defect with this event: park it, keep the line moving
            await group.mark_failed(event.event_id, _reason(exc))
            return exc

    async def _park(self, event: records.StoredEvent, cause: Exception) -> Exception:
        """Mark failed, in its own transaction, an event whose group of one failed as a whole."""
        async with self.storage.fold_group(event_id=event.event_id) as group:
            if group.events:  # else another process folded it meanwhile
                await group.mark_failed(event.event_id, _reason(cause))
        return cause

    def _report(self, results: Sequence[tuple[records.StoredEvent, event_store.FoldOutcome | Exception]]) -> None:
        """Log and count a committed group's events (one INFO line for the group, one DEBUG line per event);
        wake the delivery worker if decisions were stored or waiting notices woken."""
        decided = False
        failed = decisions = woken = 0
        for event, result in results:
            ids = {"event_id": event.event_id, "uscc": event.uscc}
            if isinstance(result, Exception):
                log.error("event %s failed", event.event_id, exc_info=result, extra=ids)
                metrics.event_failed()
                failed += 1
                continue
            metrics.event_processed(decision.status.value for decision in result.decisions)
            decided = decided or bool(result.decisions) or result.notices_woken > 0
            decisions, woken = decisions + len(result.decisions), woken + result.notices_woken
            log.debug(
                "event %s folded: %d field(s) changed, %d decision(s) stored, %d waiting notice(s) woken",
                event.event_id, len(result.changed_fields), len(result.decisions), result.notices_woken, extra=ids,
            )
        log.info(
            "pipeline: group of %d event(s) committed: %d folded, %d failed, %d decision(s) stored, %d waiting notice(s) woken",
            len(results), len(results) - failed, failed, decisions, woken,
        )
        if decided:
            for listener in self.on_decisions:
                listener()

    async def run_forever(self) -> None:
        """Work until stopped: drain, then wait for a wake-up or the poll interval."""
        while not self._stopping:
            if self._arriving():
                # Let a group's worth arrive first: one claim, one transaction and one commit for
                # many events, where waking per stored event claimed and committed one at a time.
                await asyncio.sleep(constants.PIPELINE_GATHER_SECONDS)
            self._wakeup.clear()
            generation = self._requested
            try:
                await self.run_once()
            except tasks.TRANSIENT:
                log.exception("pipeline: database unavailable, retrying in %.1fs", self.retry_seconds)
                await self._wait(self.retry_seconds)
                continue
            async with self._progress:
                self._drained = generation
                self._progress.notify_all()
            await self._wait(self.poll_seconds)

    async def stop(self, task: asyncio.Task[None], timeout: float) -> None:
        """Let the worker finish the group in hand (its events are committed together), then end it."""
        self._stopping = True
        self._wakeup.set()
        await tasks.finish(task, timeout)

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


async def rebuild_fields(store: event_store.EventStore, uscc: str) -> dict[str, object]:
    """Recompute a firm's profile fields from its processed events alone (audit: must equal the stored ones)."""
    history = []
    for event in await store.firm_events(uscc):
        if event.status is not event_status.EventStatus.PROCESSED:
            continue
        envelope = validation.parse_stored(event.body, event.event_id)
        history.append((folding.assignments(envelope), profile.stamp_of(event.occurred_at, event.event_id)))
    fields, _stamps = profile.rebuild(history)
    return fields
