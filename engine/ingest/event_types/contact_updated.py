"""`contact.updated`: contact details and per-channel consent, from the firm itself or the registry."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

import phonenumbers

from engine.core import glossary
from engine.ingest import mobile, synth_data, synth_draw
from engine.ingest.event_types.record import (
    Assignments,
    EventType,
    SynthHook,
    load_schema,
)

NAME = "contact.updated"


def fold(data: dict[str, Any]) -> Assignments:
    """The mobile in E.164 and the email in lower case, so one address has one spelling; consents by channel."""
    fields: Assignments = {}
    if "mobile" in data:
        fields["contact.mobile"] = mobile.normalise(data["mobile"])
    if "email" in data:
        fields["contact.email"] = data["email"].lower()
    fields.update({f"contact.consent.{channel}": given for channel, given in data.get("consent", {}).items()})
    return fields


def draw(ctx: synth_draw.FirmDraw) -> None:
    """Contact details with consent, for most firms, early in their first year."""
    firm, rng, year = ctx.firm, ctx.rng, ctx.first_year
    if rng.random() > 0.85:
        return
    data: dict[str, Any] = {"mobile": _mobile(rng)}
    consent = {"sms": rng.random() < 0.9}
    if rng.random() < 0.7:
        role = rng.choice(("finance", "admin", "office", "contact", "boss"))
        data["email"] = f"{role}{firm.index}@{rng.choice(synth_data.EMAIL_DOMAINS)}"
        consent["email"] = rng.random() < 0.85
    data["consent"] = consent
    ctx.add(NAME, synth_draw.day(rng, dt.date(year, 1, 5), dt.date(year, 6, 30)), data)


def _mobile(rng: random.Random) -> str:
    """A mainland mobile number that phonenumbers accepts, as written at the source."""
    while True:
        number = rng.choice(synth_data.MOBILE_PREFIXES) + f"{rng.randrange(10**8):08d}"
        if phonenumbers.is_valid_number(phonenumbers.parse(number, "CN")):
            return "+86" + number if rng.random() < 0.1 else number


EVENT_TYPE = EventType(
    name=NAME,
    label=glossary.load().event_types[NAME],
    scope="firm",
    schema=load_schema(__file__, NAME),
    example={"mobile": "13800138000", "email": "Finance@Example.cn", "consent": {"sms": True, "email": True}},
    sets=("contact.mobile", "contact.email", "contact.consent.sms", "contact.consent.email"),
    feeds=(),  # contact details decide where notices go, not whether a firm qualifies
    fold=fold,
    synth=SynthHook(stage="once", order=10, draw=draw),
)
