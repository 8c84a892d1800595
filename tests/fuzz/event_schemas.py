"""The webhook's request body as schemathesis should generate it: built from the event-type registry (engine/ingest/event_types).

The served OpenAPI document describes the webhook body loosely (any object or array of objects),
which is right for a reader but makes a generator produce almost nothing the validator gets past.
Here each event type's envelope is composed with its own data schema (type fixed, `uscc`
required or forbidden as the validator rules), batches are arrays of such items with an `id`,
and the project's own string formats (USCC, GB/T 2260, GB/T 4754, periods, mobile numbers) get
strategies that produce mostly real values and some near misses, so generated events reach the
deep checks (check digits, code lists, cross-field rules) and, when valid, the pipeline.
"""

from __future__ import annotations

import copy
import datetime
from typing import Any

import schemathesis
from hypothesis import strategies as st
from schemathesis.specs.openapi import formats as schemathesis_formats
from stdnum.cn import uscc as stdnum_uscc

from engine.core import industry_codes
from engine.ingest import validation
from engine.web import openapi

WEBHOOK = "/webhooks/events"
#: Longest generated webhook-id: past the 128 characters an event id may have.
MAX_WEBHOOK_ID = 300
#: At most this many items in a generated batch (each is validated and stored on its own).
MAX_BATCH_ITEMS = 4

#: Counties and cities across the five jurisdictions (and elsewhere), plus codes that do not exist
#: (110103 崇文区 was abolished in 2010), so the code-list check is exercised both ways.
REGIONS = ("140302", "140303", "140311", "140213", "141102", "630102", "630104", "632221", "530102", "530111", "530100", "110101")
NOT_REGIONS = ("110103", "999999", "14030", "14030A")


def _load(name: str) -> dict[str, Any]:
    schema = validation.schema(name)
    for key in ("$schema", "$id", "title"):
        schema.pop(key, None)
    return schema


def envelope(kind: str, *, batch_item: bool) -> dict[str, Any]:
    """The envelope schema with `type` fixed to `kind` and `data` its own schema."""
    schema = _load("envelope")
    schema["properties"]["type"] = {"const": kind}
    schema["properties"]["occurred_at"]["format"] = "event-time"
    schema["properties"]["data"] = _load(kind)
    required = set(schema["required"])
    if kind in validation.REGION_TYPES:
        del schema["properties"]["uscc"]  # additionalProperties: false then forbids it
    else:
        required.add("uscc")
    if batch_item:
        required.add("id")
    schema["required"] = sorted(required)
    return schema


def body_schema() -> dict[str, Any]:
    """One event of any type, or a batch of them."""
    kinds = validation.event_types()
    return {
        "oneOf": [
            *(envelope(kind, batch_item=False) for kind in kinds),
            {
                "type": "array",
                "minItems": 1,
                "maxItems": MAX_BATCH_ITEMS,
                "items": {"oneOf": [envelope(kind, batch_item=True) for kind in kinds]},
            },
        ]
    }


def document() -> dict[str, Any]:
    """The served document with only the webhook, its body precise and its signature headers
    dropped (the test signs each body itself) but for webhook-id, bounded so that generation
    reaches ids longer than the event_id column; the documented responses are kept as they are."""
    doc = copy.deepcopy(openapi.document())
    operation = doc["paths"][WEBHOOK]["post"]
    operation["parameters"] = [
        {"name": "webhook-id", "in": "header", "required": True, "schema": {"type": "string", "minLength": 1, "maxLength": MAX_WEBHOOK_ID}}
    ]
    operation["requestBody"]["content"] = {"application/json": {"schema": body_schema()}}
    doc["paths"] = {WEBHOOK: {"post": operation}}
    return doc


# Format strategies ---------------------------------------------------------------------------


def _uscc(n: int, region: str, corrupt: bool) -> str:
    body = f"91{region}MA{n:07d}"[:17]
    digit = stdnum_uscc.calc_check_digit(body)
    if corrupt:  # a check digit that is wrong, or lower case where upper is required
        return body + ("0" if digit != "0" else "1") if n % 2 else (body + digit).lower()
    return body + digit


def _industry_codes() -> list[str]:
    sections = industry_codes.section_of_division()
    codes = [code if code.isalpha() else sections[code[:2]] + code for code in industry_codes.names() if code.isalpha() or code[:2] in sections]
    return sorted(code for code in codes if industry_codes.check(code) is None)


def mostly(valid: st.SearchStrategy[str], misses: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """Nine in ten from `valid`: a body has several formatted fields, and each near miss rejects it."""
    return st.integers(0, 9).flatmap(lambda n: misses if n == 0 else valid)


def _event_time(moment: datetime.datetime, offset_minutes: int, fraction: bool) -> str:
    zone = datetime.timezone(datetime.timedelta(minutes=offset_minutes))
    text = moment.replace(tzinfo=datetime.UTC).astimezone(zone).isoformat(timespec="microseconds" if fraction else "seconds")
    return text.replace("+00:00", "Z") if offset_minutes == 0 and fraction else text


#: When events happened: mostly within the measures' windows (so firms get decisions and
#: notices), in several offsets; and the edges, where a UTC conversion leaves the calendar.
_EVENT_TIMES = mostly(
    st.builds(
        _event_time,
        st.datetimes(min_value=datetime.datetime(2021, 1, 1), max_value=datetime.datetime(2023, 12, 31)),
        st.sampled_from([0, 480, -300, 345, -720, 840]),
        st.booleans(),
    ),
    st.sampled_from(
    [
        "0001-01-01T00:00:00+08:00",
        "0001-01-01T08:00:00+08:00",
        "9999-12-31T23:59:59-08:00",
        "1900-01-01T00:00:00Z",
        "2022-02-29T09:00:00+08:00",
        "2022-05-01T09:00:00",
        "2022-05-01T09:00:00+24:00",
        ]
    ),
)
_YEARS = st.integers(min_value=2015, max_value=datetime.date.today().year)
_MOBILE_PREFIXES = ("130", "131", "135", "138", "139", "150", "158", "166", "177", "186", "189", "199")

FORMATS: dict[str, st.SearchStrategy[str]] = {
    "event-time": _EVENT_TIMES,
    # One in ten corrupted: most events should get past the check digit and reach the rest.
    "uscc": st.builds(_uscc, st.integers(0, 9_999_999), st.sampled_from(REGIONS), st.integers(0, 9).map(lambda n: n == 0)),
    "gb2260": mostly(st.sampled_from(REGIONS), st.sampled_from(NOT_REGIONS)),
    "gbt4754": mostly(st.sampled_from(_industry_codes()), st.sampled_from(["F9999", "C5211", "5211", "Z"])),
    "tax-period": mostly(
        st.builds(lambda y, m: f"{y}-{m:02d}", _YEARS, st.integers(1, 12)) | st.builds(lambda y, q: f"{y}Q{q}", _YEARS, st.integers(1, 4)),
        st.sampled_from(["2022-13", "2022Q5", "202204"]),
    ),
    "month": mostly(st.builds(lambda y, m: f"{y}-{m:02d}", _YEARS, st.integers(1, 12)), st.just("2022-00")),
    "cn-mobile": mostly(
        st.builds(lambda p, n: f"{p}{n:08d}", st.sampled_from(_MOBILE_PREFIXES), st.integers(0, 99_999_999))
        | st.builds(lambda n: f"+86 138 {n:04d} 8000", st.integers(0, 9999)),
        st.sampled_from(["12345", "+14155552671", "010-12345678"]),
    ),
}


def register_formats() -> None:
    """Teach schemathesis the project's string formats (a process-wide registry)."""
    for name, strategy in FORMATS.items():
        schemathesis.openapi.format(name, strategy)


def unregister_formats() -> None:
    for name in FORMATS:
        schemathesis_formats.unregister_string_format(name)
