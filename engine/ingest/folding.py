"""What each event says about a firm: a pure mapping from a validated event to field assignments.

Each type's fold lives with the type (engine/ingest/event_types); this module dispatches to it.
The paths written are the profile's shape (docs/profile.md). Keeping this a pure function of
one event is what makes the profile a pure function of the firm's events.
"""

from __future__ import annotations

from engine.core import records
from engine.ingest import validation
from engine.ingest.event_types import REGISTRY, Registry
from engine.ingest.event_types.record import Assignments, year_of

__all__ = ["Assignments", "assignments", "risk_designation"]


def assignments(envelope: validation.Envelope, registry: Registry = REGISTRY) -> Assignments:
    """The profile fields a firm event sets."""
    fold = registry.get(envelope.type).fold
    if fold is None:
        raise ValueError(f"{envelope.type} is a region event: it sets no firm field")
    return fold(envelope.data)


def risk_designation(envelope: validation.Envelope) -> records.RiskDesignation:
    """The designation a `region.risk_designated` event records."""
    data = envelope.data
    return records.RiskDesignation(county=data["county"], year=year_of(data), level=data["level"])
