"""`certification.revoked`: a certification revoked or expired, from the certifying agency.

`policy-push synth` draws none: a synthetic firm keeps what it is granted.
"""

from __future__ import annotations

from typing import Any

from engine.core import glossary
from engine.ingest.event_types.certification_granted import CERT_ATTRIBUTES
from engine.ingest.event_types.record import Assignments, EventType, load_schema

NAME = "certification.revoked"


def fold(data: dict[str, Any]) -> Assignments:
    """The day the certification of that kind ended."""
    return {f"certifications.{data['kind']}.revoked_on": data["revoked_on"]}


EVENT_TYPE = EventType(
    name=NAME,
    label=glossary.load().event_types[NAME],
    scope="firm",
    schema=load_schema(__file__, NAME),
    example={"kind": "specialized_sme", "revoked_on": "2022-08-01"},
    sets=("certifications.<kind>.revoked_on",),
    feeds=CERT_ATTRIBUTES,
    fold=fold,
)
