"""`tax.vat_declared`: a VAT return for a month or a quarter, from the tax bureau (税务)."""

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
)

NAME = "tax.vat_declared"


def fold(data: dict[str, Any]) -> Assignments:
    """The taxpayer type, and the period's sales with how many months it covers and, when given, its
    closing credit balance (期末留抵税额)."""
    period = data["period"]
    fields = {
        "tax.taxpayer_type": data["taxpayer_type"],
        f"tax.vat.{period}.sales": data["sales"],
        f"tax.vat.{period}.months": 3 if "Q" in period else 1,
    }
    if "credit_balance" in data:
        fields[f"tax.vat.{period}.credit_balance"] = data["credit_balance"]
    return fields


def draw(ctx: synth_draw.FirmDraw) -> None:
    """VAT returns: small-scale payers mostly quarterly, general payers monthly; filed by the 15th."""
    firm, rng, year, main = ctx.firm, ctx.rng, ctx.year, ctx.main
    monthly_base = ctx.figures.revenue / 12
    quarterly = firm.taxpayer_type == "small_scale" and rng.random() < 0.7
    if quarterly:
        quarters = [1, 2, 3] if year == 2022 and main else ([3] if year == 2022 else [1, 2])
        for q in quarters:
            end = dt.date(year, 3 * q, 1)
            if end.replace(day=28) < firm.registered_on:
                continue
            sales = round(3 * monthly_base * rng.uniform(0.8, 1.25), 2)
            filed = synth_draw.day(rng, synth_draw.next_month(end, 1), synth_draw.next_month(end, 15))
            ctx.add(NAME, filed, {"period": f"{year}Q{q}", "taxpayer_type": firm.taxpayer_type, "sales": sales})
        return
    first = rng.randint(4, 6) if year == 2022 and main else (9 if year == 2022 else 2)
    count = 4 if main else 2
    for month in range(first, first + count):
        start = dt.date(year, month, 1)
        if start.replace(day=28) < firm.registered_on:
            continue
        sales = round(monthly_base * rng.uniform(0.7, 1.35), 2)
        filed = synth_draw.day(rng, synth_draw.next_month(start, 1), synth_draw.next_month(start, 15))
        ctx.add(NAME, filed, {"period": f"{year}-{month:02d}", "taxpayer_type": firm.taxpayer_type, "sales": sales})


EVENT_TYPE = EventType(
    name=NAME,
    label=glossary.load().event_types[NAME],
    scope="firm",
    schema=load_schema(__file__, NAME),
    example={"period": "2022-04", "taxpayer_type": "small_scale", "sales": 150000},
    sets=("tax.taxpayer_type", "tax.vat.<period>.sales", "tax.vat.<period>.months", "tax.vat.<period>.credit_balance"),
    feeds=("taxpayer_type", "vat_monthly_sales", "vat_credit_balance"),
    fold=fold,
    synth=SynthHook(stage="yearly", order=30, draw=draw),
)
