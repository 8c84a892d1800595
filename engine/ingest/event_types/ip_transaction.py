"""`ip.transaction`: the firm bought or sold intellectual property, from the IP exchange (知识产权)."""

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

NAME = "ip.transaction"


def fold(data: dict[str, Any]) -> Assignments:
    """The trade under its id."""
    return prefixed(f"ip_transactions.{data['transaction_id']}", data, ("role", "amount", "date"))


def draw(ctx: synth_draw.FirmDraw) -> None:
    """Patent or know-how trades, for a few manufacturers and technology firms."""
    firm, rng, year = ctx.firm, ctx.rng, ctx.year
    if firm.legal_form != "enterprise" or not firm.industry.startswith(("C", "I65", "M")) or rng.random() > 0.06:
        return
    for n in range(rng.randint(1, 2)):
        on = synth_draw.day(rng, dt.date(year, 2, 1), dt.date(year, 11, 30))
        role = "buyer" if rng.random() < 0.7 else "seller"
        data = {"transaction_id": f"IP{firm.index}-{year}-{n}", "role": role,
                "amount": round(synth_draw.log_uniform(rng, 50_000, 2_000_000), -3),
                "date": max(on, firm.registered_on).isoformat()}
        ctx.add(NAME, on, data)


EVENT_TYPE = EventType(
    name=NAME,
    label=glossary.load().event_types[NAME],
    scope="firm",
    schema=load_schema(__file__, NAME),
    example={"transaction_id": "IP-9", "role": "buyer", "amount": 500000, "date": "2022-06-01"},
    sets=("ip_transactions.<transaction_id>.role", "ip_transactions.<transaction_id>.amount",
          "ip_transactions.<transaction_id>.date"),
    feeds=("ip_buy_amount_year", "ip_sell_amount_year"),
    fold=fold,
    synth=SynthHook(stage="once", order=50, draw=draw),
)
