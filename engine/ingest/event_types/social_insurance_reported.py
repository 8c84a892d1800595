"""`social_insurance.reported`: a monthly social-insurance report, from social insurance (人社)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from engine.core import glossary
from engine.ingest import synth_draw
from engine.ingest.event_types.record import (
    Assignments,
    EventType,
    SynthHook,
    load_schema,
    prefixed,
)

NAME = "social_insurance.reported"

HIRE_KINDS = ("college_graduates", "hard_to_employ", "veterans", "poverty_alleviated")


def fold(data: dict[str, Any]) -> Assignments:
    """The month's headcount, payment and layoffs, and its hires by category."""
    prefix = f"social_insurance.{data['period']}"
    fields = prefixed(prefix, data, ("insured", "unemployment_insurance_paid", "layoffs"))
    fields.update({f"{prefix}.hires.{kind}": n for kind, n in data.get("hires", {}).items()})
    return fields


def draw(ctx: synth_draw.FirmDraw) -> None:
    """A few monthly reports, declared within the month; some with hires."""
    firm, rng, year = ctx.firm, ctx.rng, ctx.year
    covered = 0.85 if firm.legal_form == "enterprise" else 0.4
    if rng.random() > covered:
        return
    last = 10 if year == 2022 else 6
    months = sorted(rng.sample(range(2, last + 1), k=rng.randint(2, 3) if ctx.main else 1))
    insured = max(1, round(ctx.figures.employees * rng.uniform(0.55, 1.0)))
    for month in months:
        start = dt.date(year, month, 1)
        if start.replace(day=28) < firm.registered_on:
            continue
        insured = max(1, insured + rng.choice((-1, 0, 0, 0, 1)))
        data: dict[str, Any] = {"period": f"{year}-{month:02d}", "insured": insured,
                                "unemployment_insurance_paid": rng.random() < 0.9}
        if rng.random() < 0.25:
            kinds = rng.sample(HIRE_KINDS, k=rng.randint(1, 2))
            data["hires"] = {kind: rng.randint(1, 3) for kind in kinds}
        if rng.random() < 0.3:
            data["layoffs"] = 0 if rng.random() < 0.8 else rng.randint(1, max(1, insured // 10))
        ctx.add(NAME, synth_draw.day(rng, start.replace(day=5), start.replace(day=25)), data)


EVENT_TYPE = EventType(
    name=NAME,
    label=glossary.load().event_types[NAME],
    scope="firm",
    schema=load_schema(__file__, NAME),
    example={"period": "2022-04", "insured": 35, "unemployment_insurance_paid": True, "layoffs": 0,
             "hires": {"college_graduates": 2, "veterans": 1}},
    sets=("social_insurance.<period>.insured", "social_insurance.<period>.unemployment_insurance_paid",
          "social_insurance.<period>.layoffs", "social_insurance.<period>.hires.<category>"),
    feeds=("insured_headcount", "employees", *(f"hires_{kind}" for kind in HIRE_KINDS),
           "unemployment_insurance_paid", "layoffs_year", "layoff_rate"),
    fold=fold,
    synth=SynthHook(stage="yearly", order=40, draw=draw),
)
