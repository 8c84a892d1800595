"""`region.risk_designated`: a county had a medium/high epidemic risk area in a year, from the health commission (卫健).

A region event sets no firm field: the pipeline records the county's designation (kind
`epidemic_risk`) and re-judges every firm in that county, whose `county_risk_2022` attribute it feeds.
"""

from __future__ import annotations

import datetime as dt

from engine.core import glossary, matching
from engine.ingest import synth_data, synth_draw
from engine.ingest.event_types.record import EventType, SynthHook, load_schema, year_of

NAME = "region.risk_designated"


def draw(ctx: synth_draw.RegionDraw) -> None:
    """A few counties designated in 2022: one per 2022 measure, two in 云南."""
    rng = ctx.rng
    picks: list[str] = []
    for slug in ("datong-2022", "lvliang-2022", "qinghai-2022", "yunnan-2022", "yunnan-2022"):
        counties = [c for c in synth_data.JURISDICTIONS[slug][1] if c not in picks]
        picks.append(rng.choice(sorted(counties)))
    for county in picks:
        on = synth_draw.day(rng, dt.date(2022, 3, 1), dt.date(2022, 11, 30))
        occurred_at = synth_draw.stamp(rng, on)  # before the level: the draws' order fixes every seed's output
        level = "high" if rng.random() < 0.3 else "medium"
        ctx.add(NAME, occurred_at, {"county": county, "year": 2022, "level": level}, key=f"risk-{county}-2022")


def designate(data: dict) -> tuple[str, str, int, str | None]:
    """The county's epidemic-risk designation in the year, at its level."""
    return data["county"], matching.EPIDEMIC_RISK, year_of(data), data["level"]


EVENT_TYPE = EventType(
    name=NAME,
    label=glossary.load().event_types[NAME],
    scope="region",
    schema=load_schema(__file__, NAME),
    example={"county": "140302", "year": 2022, "level": "medium"},
    sets=(),
    feeds=("county_risk_2022",),
    designate=designate,
    synth=SynthHook(stage="region", order=10, draw=draw),
)
