"""Folding one event into a firm's profile, written once for every store.

The SQL fold group and the in-memory store load the firm's state, call `apply_event`, ask
engine.judging.recording which decisions changed, and save the results; neither decides anything.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Mapping
from typing import Any

from engine.core import profile, records


@dataclasses.dataclass(frozen=True)
class FirmState:
    """What a fold reads and rewrites of a firm: flat fields, their stamps, how many events it applied."""

    fields: Mapping[str, Any]
    stamps: Mapping[str, list[str]]
    events_applied: int


#: The state of a firm no event has been folded into yet.
NEW_FIRM = FirmState({}, {}, 0)


@dataclasses.dataclass(frozen=True)
class Applied:
    """One event applied to a firm: its new state, the paths whose value changed, the provenance rows."""

    firm: FirmState
    changed: list[str]
    provenance: list[records.FieldAssignment]


def apply_event(
    firm: FirmState, event: records.StoredEvent, assignments: Mapping[str, Any], recorded_at: datetime.datetime
) -> Applied:
    """Apply `event`'s field assignments where they are newer than what the firm holds (the event that
    occurred last wins; see engine.core.profile). Every assignment is kept as provenance, applied or not."""
    if event.uscc is None:
        raise ValueError(f"event {event.event_id} ({event.type}) names no firm")
    fields, stamps = dict(firm.fields), {path: list(stamp) for path, stamp in firm.stamps.items()}
    changed = profile.apply_assignments(fields, stamps, assignments, profile.stamp_of(event.occurred_at, event.event_id))
    provenance = [
        records.FieldAssignment(path, value, event.event_id, event.occurred_at, recorded_at)
        for path, value in assignments.items()
    ]
    return Applied(FirmState(fields, stamps, firm.events_applied + 1), changed, provenance)
