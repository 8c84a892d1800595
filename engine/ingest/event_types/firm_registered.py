"""`firm.registered`: a firm or 个体工商户 registered with market regulation (市场监管)."""

from __future__ import annotations

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

NAME = "firm.registered"


def fold(data: dict[str, Any]) -> Assignments:
    """The registry's facts, the name trimmed; a (re-)registration clears an earlier deregistration."""
    fields = {key: data[key] for key in ("name", "region", "industry", "legal_form", "registered_on")}
    fields["name"] = firm_names.trim(fields["name"])
    fields["deregistered_on"] = None
    return fields


def draw(ctx: synth_draw.FirmDraw) -> None:
    """Every synthetic firm's first event: its registration, on the day it registered."""
    firm = ctx.firm
    ctx.add(NAME, firm.registered_on, {
        "name": firm.name, "region": firm.region, "industry": firm.industry,
        "legal_form": firm.legal_form, "registered_on": firm.registered_on.isoformat(),
    }, registration=True)


EVENT_TYPE = EventType(
    name=NAME,
    label=glossary.load().event_types[NAME],
    scope="firm",
    schema=load_schema(__file__, NAME),
    example={"name": "阳泉市城区示例商贸有限公司", "region": "140302", "industry": "F5211",
             "legal_form": "enterprise", "registered_on": "2020-03-15"},
    sets=("name", "region", "industry", "legal_form", "registered_on", "deregistered_on"),
    feeds=("region", "city", "province", "legal_form", "industry", "industry_section", "industry_division",
           "tertiary", "manufacturing", "size_class", "sme", "small_micro", "small_low_profit",
           "registered_year", "firm_age_years", "county_risk_2022", "county_sme_demo"),
    fold=fold,
    synth=SynthHook(stage="registration", order=10, draw=draw),
)
