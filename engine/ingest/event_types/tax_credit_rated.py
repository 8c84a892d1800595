"""`tax.credit_rated`: a firm's tax credit grade (纳税信用) for a year, from the tax bureau (税务)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from engine.core import glossary
from engine.ingest import synth_data, synth_draw
from engine.ingest.event_types import tax_cit_filed
from engine.ingest.event_types.record import (
    Assignments,
    EventType,
    SynthHook,
    load_schema,
    year_of,
)

NAME = "tax.credit_rated"


def fold(data: dict[str, Any]) -> Assignments:
    """The grade, under its year."""
    return {f"tax.credit_rating.{year_of(data)}": data["grade"]}


def draw(ctx: synth_draw.FirmDraw) -> None:
    """Most firms that file a CIT return are graded for that year in April."""
    if not tax_cit_filed.files_for(ctx):
        return
    rng, year = ctx.rng, ctx.year
    if rng.random() < 0.8:
        grade = synth_draw.weighted(rng, synth_data.CREDIT_GRADES)
        ctx.add(NAME, synth_draw.day(rng, dt.date(year, 4, 10), dt.date(year, 4, 25)), {"year": year - 1, "grade": grade})


EVENT_TYPE = EventType(
    name=NAME,
    label=glossary.load().event_types[NAME],
    scope="firm",
    schema=load_schema(__file__, NAME),
    example={"year": 2021, "grade": "A"},
    sets=("tax.credit_rating.<year>",),
    feeds=("credit_rating",),
    fold=fold,
    synth=SynthHook(stage="yearly", order=20, draw=draw),
)
