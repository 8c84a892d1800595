"""`statistics.scale_listed`: whether the firm is in the "四上" directory for a year, from the statistics bureau (统计)."""

from __future__ import annotations

from typing import Any

from engine.core import glossary
from engine.ingest.event_types.record import Assignments, EventType, load_schema, year_of

NAME = "statistics.scale_listed"


def fold(data: dict[str, Any]) -> Assignments:
    """In or out of the directory, under its year."""
    return {f"scale_directory.{year_of(data)}.listed": data["listed"]}


EVENT_TYPE = EventType(
    name=NAME,
    label=glossary.load().event_types[NAME],
    scope="firm",
    schema=load_schema(__file__, NAME),
    example={"year": 2022, "listed": True},
    sets=("scale_directory.<year>.listed",),
    feeds=("above_scale",),
    fold=fold,
)
