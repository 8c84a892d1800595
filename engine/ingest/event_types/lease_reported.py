"""`lease.reported`: a lease of business premises, from state-asset and housing records (国资/住建)."""

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

NAME = "lease.reported"


def fold(data: dict[str, Any]) -> Assignments:
    """The lease under its id; no `end` is an open-ended lease, which clears an earlier end."""
    fields = prefixed(f"leases.{data['lease_id']}", data, ("landlord_type", "monthly_rent", "start", "end"))
    fields.setdefault(f"leases.{data['lease_id']}.end", None)
    return fields


def check(data: dict[str, Any]) -> list[tuple[str, str]]:
    """A lease cannot end before it starts."""
    if isinstance(data.get("start"), str) and isinstance(data.get("end"), str) and data["end"] < data["start"]:
        return [("/data/end", "must not be before start")]
    return []


def draw(ctx: synth_draw.FirmDraw) -> None:
    """Premises leases (more often for service firms); some from state-owned landlords."""
    firm, rng, year = ctx.firm, ctx.rng, ctx.year
    share = 0.45 if firm.industry.startswith(("F", "H", "O", "L", "M", "I")) else 0.12
    if rng.random() > share:
        return
    reported = synth_draw.day(rng, dt.date(year, 3, 1), dt.date(year, 9, 30))
    start = synth_draw.day(rng, max(firm.registered_on, dt.date(year - 4, 1, 1)), reported)
    end = dt.date(start.year + rng.randint(1, 5), start.month, min(start.day, 28)) - dt.timedelta(days=1)
    landlord = synth_draw.weighted(rng, {"state_owned_enterprise": 0.28, "government_agency": 0.12, "private": 0.60})
    base = {synth_data.MICRO: (1_500, 15_000), synth_data.SMALL: (8_000, 40_000)}.get(firm.size_class, (30_000, 150_000))
    data = {"lease_id": f"L{firm.index}-{year}", "landlord_type": landlord,
            "monthly_rent": round(synth_draw.log_uniform(rng, *base), -2), "start": start.isoformat()}
    if rng.random() < 0.9:
        data["end"] = end.isoformat()
    ctx.add(NAME, reported, data)


EVENT_TYPE = EventType(
    name=NAME,
    label=glossary.load().event_types[NAME],
    scope="firm",
    schema=load_schema(__file__, NAME),
    example={"lease_id": "L-2022-001", "landlord_type": "state_owned_enterprise", "monthly_rent": 8000,
             "start": "2021-07-01", "end": "2024-06-30"},
    sets=("leases.<lease_id>.landlord_type", "leases.<lease_id>.monthly_rent", "leases.<lease_id>.start",
          "leases.<lease_id>.end"),
    feeds=("state_owned_lease", "state_owned_monthly_rent", "state_owned_lease_full_months"),
    fold=fold,
    check=check,
    synth=SynthHook(stage="once", order=20, draw=draw),
)
