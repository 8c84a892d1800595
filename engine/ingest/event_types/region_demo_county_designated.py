"""`region.demo_county_designated`: a county named to create a 中小企业高质量发展示范县 in a year, from the city's SME authority (工信/中小企业服务中心).

lvliang-2022#15 supports the counties (县(市、区)) that create a demonstration county: their SMEs
get a dedicated training course, expert services and technology-transfer matching. The city names
them; this event records one. It sets no firm field: the pipeline records the county's designation
(kind `sme_demo_county`) and re-judges every firm in that county, whose `county_sme_demo` it feeds.
A development zone (开发区) that creates one has no county code and is not an event of this type.
"""

from __future__ import annotations

import datetime as dt

from engine.core import glossary, matching
from engine.ingest import synth_data, synth_draw
from engine.ingest.event_types.record import EventType, SynthHook, load_schema, year_of

NAME = "region.demo_county_designated"


def designate(data: dict) -> tuple[str, str, int, str | None]:
    """The county's designation as a 创建县 from the year on."""
    return data["county"], matching.SME_DEMO_COUNTY, year_of(data), None


def draw(ctx: synth_draw.RegionDraw) -> None:
    """Two counties of 吕梁 named in 2022, after the measures were printed (2022-04-22)."""
    rng = ctx.rng
    counties = sorted(synth_data.JURISDICTIONS["lvliang-2022"][1])
    for county in rng.sample(counties, k=min(2, len(counties))):
        occurred_at = synth_draw.stamp(rng, synth_draw.day(rng, dt.date(2022, 5, 1), dt.date(2022, 10, 31)))
        ctx.add(NAME, occurred_at, {"county": county, "year": 2022}, key=f"demo-county-{county}-2022")


EVENT_TYPE = EventType(
    name=NAME,
    label=glossary.load().event_types[NAME],
    scope="region",
    schema=load_schema(__file__, NAME),
    example={"county": "141102", "year": 2022},
    sets=(),
    feeds=("county_sme_demo",),
    designate=designate,
    synth=SynthHook(stage="region", order=20, draw=draw),
)
