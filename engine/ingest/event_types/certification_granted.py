"""`certification.granted`: a certification (专精特新, 高新技术企业, …) granted by the certifying agency."""

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

NAME = "certification.granted"

#: The attributes a certification of `<kind>` feeds (docs/profile.md).
CERT_ATTRIBUTES = ("cert_<kind>", "cert_<kind>_level", "cert_<kind>_year", "cert_<kind>_date")


def fold(data: dict[str, Any]) -> Assignments:
    """The grant under its kind; a new grant supersedes an earlier revocation."""
    prefix = f"certifications.{data['kind']}"
    fields = prefixed(prefix, data, ("level", "granted_on", "certificate_no"))
    fields[f"{prefix}.revoked_on"] = None
    return fields


def draw(ctx: synth_draw.FirmDraw) -> None:
    """A few certified enterprises: 专精特新 and the like; 农业产业化龙头企业 among farms."""
    firm, rng, year = ctx.firm, ctx.rng, ctx.year
    if firm.legal_form != "enterprise":
        return
    if firm.industry.startswith("A"):
        if rng.random() > 0.15:
            return
        kind = "agri_leading"
    else:
        if rng.random() > (0.03 if firm.size_class == synth_data.MICRO else 0.12):
            return
        kind = synth_draw.weighted(rng, synth_data.CERT_KINDS)
    level = "national" if kind == "little_giant" else rng.choice(("province", "province", "city"))
    earliest = max(dt.date(2019, 1, 1), firm.registered_on + dt.timedelta(days=365))
    latest = dt.date(year, 10, 31)
    if earliest > latest:
        return
    granted = synth_draw.day(rng, dt.date(year, 1, 1), latest) if rng.random() < 0.5 else synth_draw.day(rng, earliest, latest)
    granted = max(granted, earliest)
    data = {"kind": kind, "level": level, "granted_on": granted.isoformat(),
            "certificate_no": f"{kind.upper().replace('_', '')[:6]}-{granted.year}-{firm.index:06d}"}
    ctx.add(NAME, granted, data)


EVENT_TYPE = EventType(
    name=NAME,
    label=glossary.load().event_types[NAME],
    scope="firm",
    schema=load_schema(__file__, NAME),
    example={"kind": "specialized_sme", "level": "province", "granted_on": "2021-11-02", "certificate_no": "ZJTX-2021-0042"},
    sets=("certifications.<kind>.level", "certifications.<kind>.granted_on", "certifications.<kind>.certificate_no",
          "certifications.<kind>.revoked_on"),
    feeds=CERT_ATTRIBUTES,
    fold=fold,
    synth=SynthHook(stage="once", order=40, draw=draw),
)
