"""Life cycle of a received event, with the one function allowed to change it."""

from __future__ import annotations

import enum


class EventStatus(str, enum.Enum):
    """Where a received event is in the pipeline."""

    #: Verified, validated and committed; acknowledged to the sender; waiting for the pipeline.
    RECEIVED = "received"
    #: Folded into the firm profile and matched; its field assignments are in the provenance log.
    PROCESSED = "processed"
    #: The pipeline could not fold it (a defect, not a transient fault); the reason is kept, nothing applied.
    FAILED = "failed"


class IllegalTransition(RuntimeError):
    """A status change that the life cycle does not allow."""


_ALLOWED: dict[EventStatus, frozenset[EventStatus]] = {
    EventStatus.RECEIVED: frozenset({EventStatus.PROCESSED, EventStatus.FAILED}),
    # An operator may requeue a failed event once its cause is fixed.
    EventStatus.FAILED: frozenset({EventStatus.RECEIVED}),
    EventStatus.PROCESSED: frozenset(),
}


def check_transition(current: EventStatus | str, new: EventStatus | str) -> EventStatus:
    """Return `new` as an EventStatus, or raise IllegalTransition if `current` may not become it."""
    current, new = EventStatus(current), EventStatus(new)
    if new not in _ALLOWED[current]:
        raise IllegalTransition(f"event status {current.value} -> {new.value} is not allowed")
    return new
