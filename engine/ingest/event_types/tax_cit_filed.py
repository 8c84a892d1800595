"""`tax.cit_filed`: the annual corporate income tax filing (汇算清缴), from the tax bureau (税务)."""

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
    year_of,
)

NAME = "tax.cit_filed"


def fold(data: dict[str, Any]) -> Assignments:
    """The year's figures, under that year."""
    return prefixed(f"tax.cit.{year_of(data)}", data, ("taxable_income", "revenue", "assets", "employees"))


def files_for(ctx: synth_draw.FirmDraw) -> bool:
    """Whether the firm files for the year before `ctx.year`: enterprises only (个体工商户 pay
    individual income tax), and not when the firm is new this year (it has no previous year)."""
    return ctx.firm.legal_form == "enterprise" and ctx.firm.registered_on.year < ctx.year


def draw(ctx: synth_draw.FirmDraw) -> None:
    """The previous year's filing, made March–May."""
    if not files_for(ctx):
        return
    year, figures = ctx.year, ctx.figures
    ctx.add(NAME, synth_draw.day(ctx.rng, dt.date(year, 3, 1), dt.date(year, 5, 31)), {
        "year": year - 1, "taxable_income": figures.taxable_income, "revenue": figures.revenue,
        "assets": figures.assets, "employees": figures.employees,
    })


EVENT_TYPE = EventType(
    name=NAME,
    label=glossary.load().event_types[NAME],
    scope="firm",
    schema=load_schema(__file__, NAME),
    example={"year": 2021, "taxable_income": 800000, "revenue": 6000000, "assets": 4000000, "employees": 35},
    sets=("tax.cit.<year>.taxable_income", "tax.cit.<year>.revenue", "tax.cit.<year>.assets", "tax.cit.<year>.employees"),
    feeds=("employees", "revenue", "assets", "taxable_income", "size_class", "sme", "small_micro", "small_low_profit"),
    fold=fold,
    synth=SynthHook(stage="yearly", order=10, draw=draw),
)
