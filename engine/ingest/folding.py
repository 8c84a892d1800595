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

__all__ = ["Assignments", "assignments", "designation"]


def assignments(envelope: validation.Envelope, registry: Registry = REGISTRY) -> Assignments:
    """The profile fields a firm event sets."""
    fold = registry.get(envelope.type).fold
    if fold is None:
        raise ValueError(f"{envelope.type} is a region event: it sets no firm field")
    return fold(envelope.data)


def designation(envelope: validation.Envelope, registry: Registry = REGISTRY) -> records.RegionDesignation:
    """The county designation a region event records."""
    designate = registry.get(envelope.type).designate
    if designate is None:
        raise ValueError(f"{envelope.type} is a firm event: it designates no county")
    county, kind, year, level = designate(envelope.data)
    return records.RegionDesignation(county=county, kind=kind, year=year, level=level)
