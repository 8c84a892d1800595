"""What ingestion needs from storage: received events, and folding them into firm profiles.

`EventStore` is the pipeline's and the webhook's view of the store; a `FoldGroup` is one transaction
in which the pipeline folds a group of pending events. What a fold computes is decided by pure
functions (engine.ingest.firm_fold, engine.judging.recording); a store only loads and saves.
"""

from __future__ import annotations

import abc
import contextlib
import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from engine.core import matching, records, stores
from engine.ingest import validation
from engine.judging import recording


@dataclasses.dataclass(frozen=True)
class FoldOutcome:
    """What folding one event changed."""

    changed_fields: Sequence[str] = ()
    decisions: Sequence[matching.Decision] = ()
    firms_judged: int = 0
    #: Notices that were waiting for the firm's address or consent and are due again (its contact changed).
    notices_woken: int = 0


class FoldGroup(abc.ABC):
    """Pending events claimed for folding in one transaction (`EventStore.fold_group`)."""

    #: The claimed events to fold, in arrival order.
    events: Sequence[records.StoredEvent]

    @abc.abstractmethod
    async def fold_firm_event(self, event: records.StoredEvent, assignments: Mapping[str, Any], judge: recording.Judge) -> FoldOutcome:
        """Fold one of `events` as `EventStore.fold_firm_event` does; the group's later events of the same
        firm see its profile and decisions. If it raises, nothing of this event is kept and the group
        may go on (an error of the database itself may spoil the whole group, which then raises when
        its block ends). An event the group already folded is left alone."""

    @abc.abstractmethod
    async def fold_region_event(self, event: records.StoredEvent, designation: records.RegionDesignation, judge: recording.Judge) -> FoldOutcome:
        """Fold one of `events` as `EventStore.fold_region_event` does (a region event is claimed alone);
        if it raises, nothing of it is kept."""

    @abc.abstractmethod
    async def mark_failed(self, event_id: str, reason: str) -> None:
        """Park one of `events` as `failed` with the reason instead of folding it."""

    @property
    def contended(self) -> bool:
        """Whether something else is waiting for this group's transaction to end (on SQLite, newly
        received events waiting for the single writer), so a long group should end early."""
        return False


def claimable(events: Sequence[records.StoredEvent]) -> list[records.StoredEvent]:
    """The events, oldest first, that one group may fold: a region event alone, else those before the
    first region event (a region event re-judges firms, so it must see the events before it folded
    and the events after it must see it)."""
    for index, event in enumerate(events):
        if event.type in validation.REGION_TYPES:
            return list(events[: index or 1])
    return list(events)


class EventStore(stores.FirmReader, abc.ABC):
    """Received events and their folding. Each method is one transaction."""

    # Events ---------------------------------------------------------------------------------

    @abc.abstractmethod
    async def add_events(self, events: Sequence[records.NewEvent]) -> list[records.AddResult]:
        """Store new events atomically and durably; known event ids are reported, not stored again."""

    @abc.abstractmethod
    async def get_event(self, event_id: str) -> records.StoredEvent | None:
        """The event with this id, or None."""

    @abc.abstractmethod
    async def pending_events(self, limit: int) -> list[records.StoredEvent]:
        """Events still `received`, oldest first (by arrival sequence)."""

    @abc.abstractmethod
    async def count_pending_events(self) -> int:
        """How many events are still `received` (a queue depth for metrics)."""

    @abc.abstractmethod
    async def firm_events(self, uscc: str) -> list[records.StoredEvent]:
        """All events about a firm, in arrival order."""

    @abc.abstractmethod
    async def mark_failed(self, event_id: str, reason: str) -> None:
        """Record that the pipeline could not process an event (status `failed`)."""

    # Folding ---------------------------------------------------------------------------------

    @abc.abstractmethod
    def fold_group(self, limit: int = 1, *, event_id: str | None = None) -> contextlib.AbstractAsyncContextManager[FoldGroup]:
        """Claim up to `limit` pending events, oldest first (or only `event_id`, if it is still pending),
        to be folded in one transaction: `async with store.fold_group(n) as group`, then fold or mark
        failed each of `group.events` through the group. Everything the group did is committed together
        when the block ends without error; if it raises, nothing of it is kept and the events stay pending.

        A region event is claimed alone (it re-judges firms the others may touch; see `claimable`). No
        other process folds a claimed event while the group is open. Where several processes fold on one
        database, an event is left out of `group.events` (it stays pending) while an earlier event of its
        firm, or an earlier region event, is still pending in another process's hands, so each firm's
        events are folded in arrival order; if that would leave none, the call waits for the other
        process's group to end and claims again. So `group.events` is empty only when no pending event
        is left that another process has not claimed (or `event_id` is no longer pending)."""

    async def fold_firm_event(self, event: records.StoredEvent, assignments: Mapping[str, Any], judge: recording.Judge) -> FoldOutcome:
        """In one transaction: record provenance, update the profile, judge it, store changed decisions
        with the notices a new `met` entitles, wake the firm's notices waiting for an address or consent
        the event brought (notices.withholding.woken), and mark the event processed. An event already
        processed is left alone."""
        async with self.fold_group(event_id=event.event_id) as group:
            return await group.fold_firm_event(event, assignments, judge) if group.events else FoldOutcome()

    async def fold_region_event(self, event: records.StoredEvent, designation: records.RegionDesignation, judge: recording.Judge) -> FoldOutcome:
        """In one transaction: record the designation, re-judge every firm in the county, mark processed.
        An event already processed is left alone."""
        async with self.fold_group(event_id=event.event_id) as group:
            return await group.fold_region_event(event, designation, judge) if group.events else FoldOutcome()
