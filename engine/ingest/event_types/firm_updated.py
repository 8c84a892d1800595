"""`firm.updated`: a change in the market-regulation registry (any subset of fields), or a deregistration."""

from __future__ import annotations

import datetime as dt
from typing import Any

from engine.core import glossary
from engine.core import firm_names
from engine.ingest import synth_draw
from engine.ingest.event_types.record import (
    Assignments,
    EventType,
    SynthHook,
    load_schema,
)

NAME = "firm.updated"


def fold(data: dict[str, Any]) -> Assignments:
    """Each field given, as given (the name trimmed)."""
    fields = dict(data)
    if "name" in fields:
        fields["name"] = firm_names.trim(fields["name"])
    return fields


def draw(ctx: synth_draw.FirmDraw) -> None:
    """A change of name (名称变更) for a few enterprises."""
    firm, rng = ctx.firm, ctx.rng
    if firm.legal_form == "enterprise" and rng.random() < 0.03:
        new_name = synth_draw.firm_name(rng, firm.region, firm.industry, individual=False)
        ctx.add(NAME, synth_draw.day(rng, dt.date(firm.year, 2, 1), dt.date(firm.year, 10, 31)), {"name": new_name})


EVENT_TYPE = EventType(
    name=NAME,
    label=glossary.load().event_types[NAME],
    scope="firm",
    schema=load_schema(__file__, NAME),
    example={"name": "阳泉市城区示例商贸有限公司（更名）"},
    sets=("name", "region", "industry", "legal_form", "deregistered_on"),
    feeds=("region", "city", "province", "legal_form", "industry", "industry_section", "industry_division",
           "tertiary", "manufacturing", "size_class", "sme", "small_micro", "small_low_profit", "county_risk_2022", "county_sme_demo"),
    fold=fold,
    synth=SynthHook(stage="once", order=60, draw=draw),
)
