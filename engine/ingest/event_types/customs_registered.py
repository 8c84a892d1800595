"""`customs.registered`: the firm filed with customs as a consignor or consignee of imports and exports (海关)."""

from __future__ import annotations

from typing import Any

from engine.core import glossary
from engine.ingest.event_types.record import Assignments, EventType, load_schema, prefixed

NAME = "customs.registered"


def fold(data: dict[str, Any]) -> Assignments:
    """The filing; a filing reported without a cancellation date clears an earlier one (filed again)."""
    fields = prefixed("customs", data, ("registered_on", "customs_code"))
    fields["customs.cancelled_on"] = data.get("cancelled_on")
    return fields


EVENT_TYPE = EventType(
    name=NAME,
    label=glossary.load().event_types[NAME],
    scope="firm",
    schema=load_schema(__file__, NAME),
    example={"registered_on": "2019-06-18", "customs_code": "1402960123"},
    sets=("customs.registered_on", "customs.customs_code", "customs.cancelled_on"),
    feeds=("customs_registered",),
    fold=fold,
)
