"""`loan.issued`: a loan issued to the firm, from banks via the financial data platform (金融)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from engine.core import glossary
from engine.ingest import synth_data, synth_draw
from engine.ingest.event_types.record import (
    Assignments,
    EventType,
    SynthHook,
    load_schema,
    prefixed,
)

NAME = "loan.issued"


def fold(data: dict[str, Any]) -> Assignments:
    """The loan under its id."""
    return prefixed(f"loans.{data['loan_id']}", data, ("kind", "principal", "annual_rate", "issued_on", "guarantor"))


def draw(ctx: synth_draw.FirmDraw) -> None:
    """Agricultural loans for farms; 创业担保 and 普惠小微 loans for some small and micro firms."""
    firm, rng, year = ctx.firm, ctx.rng, ctx.year
    small = firm.size_class in (synth_data.SMALL, synth_data.MICRO)
    if firm.industry.startswith("A") and rng.random() < 0.55:
        kind, principal, rate = "agricultural", synth_draw.log_uniform(rng, 100_000, 3_000_000), rng.uniform(3.85, 6.5)
    elif small and rng.random() < 0.08:
        kind, principal, rate = "business_guarantee", synth_draw.log_uniform(rng, 100_000, 3_000_000), rng.choice((3.65, 3.7, 4.3))
    elif small and rng.random() < 0.10:
        kind, principal, rate = "inclusive_small_micro", synth_draw.log_uniform(rng, 200_000, 5_000_000), rng.uniform(3.9, 6.0)
    elif rng.random() < 0.03:
        kind, principal, rate = "other", synth_draw.log_uniform(rng, 500_000, 20_000_000), rng.uniform(3.65, 7.5)
    else:
        return
    issued = synth_draw.day(rng, dt.date(year, 2, 1), dt.date(year, 10, 31))
    data: dict[str, Any] = {"loan_id": f"LN{firm.index}-{year}", "kind": kind, "principal": round(principal, -3),
                            "annual_rate": round(rate, 2), "issued_on": max(issued, firm.registered_on).isoformat()}
    if kind in synth_data.GUARANTORS:
        data["guarantor"] = synth_data.GUARANTORS[kind]
    ctx.add(NAME, issued, data)


EVENT_TYPE = EventType(
    name=NAME,
    label=glossary.load().event_types[NAME],
    scope="firm",
    schema=load_schema(__file__, NAME),
    example={"loan_id": "LN-77", "kind": "agricultural", "principal": 2000000, "annual_rate": 4.35,
             "issued_on": "2022-03-01", "guarantor": "省农业融资担保公司"},
    sets=("loans.<loan_id>.kind", "loans.<loan_id>.principal", "loans.<loan_id>.annual_rate",
          "loans.<loan_id>.issued_on", "loans.<loan_id>.guarantor"),
    feeds=("agri_loan_new_year", "agri_loan_max_rate", "agri_loan_interest_year", "guarantee_loan_new_year",
           "loan_new_year", "loan_interest_rest_of_year"),
    fold=fold,
    synth=SynthHook(stage="once", order=30, draw=draw),
)
