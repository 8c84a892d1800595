"""Validation of received events against their types' JSON Schemas and the code lists they cite.

The envelope's schema is engine/ingest/envelope.schema.json, with its `type` enum filled in from
the event-type registry (engine/ingest/event_types); each type's `data` schema, and any rule
between its fields, comes from the type's record.

Every problem is reported as `{path, reason}` with `path` a JSON Pointer into the event, so a sender can
fix all of them in one go. The body is parsed before this, strictly, by engine.ingest.strict_json.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime
import functools
import json
import pathlib
import re
from collections.abc import Callable
from typing import Any

import jsonschema
import phonenumbers
from stdnum import exceptions as stdnum_exceptions
from stdnum.cn import uscc as stdnum_uscc

from engine import constants
from engine.core import firm_names, industry_codes, regions
from engine.ingest import schema_screen, strict_json
from engine.ingest.event_types import REGISTRY, Registry

ENVELOPE_SCHEMA = pathlib.Path(__file__).with_name("envelope.schema.json")

#: Event types about a region, not a firm: they carry no `uscc`.
REGION_TYPES = REGISTRY.region_types()

#: Largest magnitude of a number in an event's data: above any real amount or count, and low
#: enough that the matcher's sums and products of them stay finite (1e308 was acknowledged,
#: then failed in the matcher as "must be finite") and an amount fits NUMERIC(18, 2).
MAX_MAGNITUDE = 1e12

#: How far in the future `occurred_at` may lie (clock skew between source systems), beyond which it is rejected.
FUTURE_SKEW = datetime.timedelta(seconds=constants.WEBHOOK_TOLERANCE_SECONDS)

_TAX_PERIOD = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$|^(\d{4})Q([1-4])$")
_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$")


@dataclasses.dataclass(frozen=True)
class Problem:
    """One thing wrong with an event: where (JSON Pointer) and why."""

    path: str
    reason: str

    def as_dict(self) -> dict[str, str]:
        return {"path": self.path, "reason": self.reason}


@dataclasses.dataclass(frozen=True)
class Envelope:
    """A validated event."""

    type: str
    occurred_at: datetime.datetime
    uscc: str | None
    data: dict[str, Any]
    id: str | None


class Invalid(Exception):
    """The event is not valid; `problems` says where and why."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(f"{p.path}: {p.reason}" for p in problems))
        self.problems = problems


# Format checks: each raises ValueError whose message becomes the reason. -------------------------

_formats = jsonschema.FormatChecker(formats=())


@_formats.checks("uscc", raises=(ValueError, stdnum_exceptions.ValidationError))
def _check_uscc(value: object) -> bool:
    if isinstance(value, str):
        if value != value.strip().upper():
            raise ValueError("must be written in upper case without spaces")
        _valid_uscc(value)
    return True


@functools.lru_cache(maxsize=constants.VALID_USCCS_KEPT)
def _valid_uscc(value: str) -> bool:
    """python-stdnum's check of `value`, raising its reason; only a USCC that passed is remembered (a
    raised exception is not cached), so a firm's later events skip it."""
    stdnum_uscc.validate(value)
    return True


@_formats.checks("firm-name", raises=ValueError)
def _check_firm_name(value: object) -> bool:
    # Stored trimmed (the types' folds); a name of spaces alone would reach no firm by SMS or email.
    if isinstance(value, str) and value and not firm_names.trim(value):  # empty: minLength says so
        raise ValueError("must contain a visible character (it is blank once spaces are trimmed)")
    return True


@_formats.checks("gb2260", raises=ValueError)
def _check_region(value: object) -> bool:
    if isinstance(value, str):
        if not re.fullmatch(r"[0-9]{6}", value):
            raise ValueError("must be a 6-digit GB/T 2260 code")
        if not regions.is_known_region(value):
            raise ValueError(f"{value} is not a known GB/T 2260 region code")
    return True


@_formats.checks("gbt4754", raises=ValueError)
def _check_industry(value: object) -> bool:
    if isinstance(value, str) and (reason := industry_codes.check(value)):
        raise ValueError(reason)
    return True


@_formats.checks("date", raises=ValueError)
def _check_date(value: object) -> bool:
    if isinstance(value, str):
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            raise ValueError("must be an ISO 8601 date, YYYY-MM-DD")
        datetime.date.fromisoformat(value)
    return True


_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})")


@_formats.checks("date-time", raises=ValueError)
def _check_datetime(value: object) -> bool:
    if isinstance(value, str):
        if not _DATE_TIME.fullmatch(value):
            raise ValueError("must be an ISO 8601 date-time with a UTC offset, e.g. 2022-05-01T09:00:00+08:00")
        try:  # stored in UTC: 0001-01-01T00:00:00+08:00 (or 9999-12-31T23:00:00-08:00) has no UTC instant
            datetime.datetime.fromisoformat(value).astimezone(datetime.UTC)
        except OverflowError:
            raise ValueError("is out of range once converted to UTC") from None
    return True


@_formats.checks("tax-period", raises=ValueError)
def _check_tax_period(value: object) -> bool:
    if isinstance(value, str) and not _TAX_PERIOD.fullmatch(value):
        raise ValueError("must be a month YYYY-MM or a quarter YYYYQn")
    return True


@_formats.checks("month", raises=ValueError)
def _check_month(value: object) -> bool:
    if isinstance(value, str) and not _MONTH.fullmatch(value):
        raise ValueError("must be a month, YYYY-MM")
    return True


@_formats.checks("cn-mobile", raises=ValueError)
def _check_mobile(value: object) -> bool:
    if isinstance(value, str):
        try:
            number = phonenumbers.parse(value, "CN")
        except phonenumbers.NumberParseException as exc:
            raise ValueError(f"not a phone number ({exc})") from None
        if number.country_code != 86 or phonenumbers.number_type(number) not in (
            phonenumbers.PhoneNumberType.MOBILE,
            phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
        ):
            raise ValueError("must be a mainland China mobile number")
        if not phonenumbers.is_valid_number(number):
            raise ValueError("is not a valid mainland China mobile number")
    return True


@_formats.checks("email", raises=ValueError)
def _check_email(value: object) -> bool:
    if isinstance(value, str) and not _EMAIL.fullmatch(value):
        raise ValueError("must be an email address like name@example.cn")
    return True


# Schemas ---------------------------------------------------------------------------------------


ENVELOPE = "envelope"


@functools.cache
def _envelope_schema() -> dict[str, Any]:
    return json.loads(ENVELOPE_SCHEMA.read_text(encoding="utf-8"))


def schema(name: str, registry: Registry = REGISTRY) -> dict[str, Any]:
    """A fresh copy of the JSON Schema `name`: "envelope" (its `type` enum the registry's types) or an event type's data."""
    if name == ENVELOPE:
        envelope = copy.deepcopy(_envelope_schema())
        envelope["properties"]["type"]["enum"] = list(registry.names())
        return envelope
    return copy.deepcopy(dict(registry.get(name).schema))


# Keyed by the registry's identity: a test may validate against a registry of its own.
@functools.cache
def _validator(registry: Registry, name: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(schema(name, registry), format_checker=_formats)


@functools.cache
def _screen(registry: Registry, name: str) -> Callable[[Any], bool]:
    return schema_screen.screen(schema(name, registry), _formats.checkers)


@functools.cache
def _event_id_pattern() -> str:
    return _envelope_schema()["properties"]["id"]["pattern"]


@functools.cache
def _event_id() -> re.Pattern[str]:
    return re.compile(_event_id_pattern())


def event_types(registry: Registry = REGISTRY) -> tuple[str, ...]:
    """Every event type the registry knows, sorted."""
    return registry.names()


def _reason(error: jsonschema.ValidationError) -> str:
    if error.validator == "format" and error.cause is not None:
        return str(error.cause)
    if error.validator == "enum":
        return f"must be one of {', '.join(map(str, error.validator_value))}"
    return error.message


def _problems(registry: Registry, name: str, instance: Any, prefix: str) -> list[Problem]:
    """Schema problems, with missing and unexpected keys reported at the key's own path."""
    if _screen(registry, name)(instance):  # the common case, settled in compiled code
        return []
    problems = []
    for error in _validator(registry, name).iter_errors(instance):
        path = list(error.absolute_path)
        if error.validator == "required":
            problems += [
                Problem(strict_json.pointer(prefix, [*path, key]), "is required")
                for key in error.validator_value
                if key not in error.instance
            ]
        elif error.validator == "additionalProperties":
            allowed = error.schema.get("properties", {})
            problems += [
                Problem(strict_json.pointer(prefix, [*path, key]), "is not an allowed property")
                for key in error.instance
                if key not in allowed
            ]
        else:
            problems.append(Problem(strict_json.pointer(prefix, path), _reason(error)))
    # jsonschema reports each missing key as an error of its own, and each names them all.
    return sorted(dict.fromkeys(problems), key=lambda p: p.path)


def validate(
    item: Any, *, webhook_id: str | None = None, now: datetime.datetime | None = None, registry: Registry = REGISTRY
) -> Envelope:
    """Check one event; return it parsed or raise Invalid naming every problem.

    `webhook_id` is given for a single (non-batch) delivery: the event's id is then the header's,
    and an `id` in the body must agree with it. Batch items must carry their own `id`.
    `registry` is the set of event types accepted (the service's own unless a test says).
    """
    problems = _problems(registry, ENVELOPE, item, "")
    if not isinstance(item, dict):
        raise Invalid(problems)
    kind = item.get("type") if isinstance(item.get("type"), str) else None
    region_types = registry.region_types()
    if kind in registry and isinstance(item.get("data"), dict):
        problems += _problems(registry, kind, item["data"], "/data")
        check = registry.get(kind).check
        problems += [Problem(path, reason) for path, reason in (check(item["data"]) if check else [])]
        problems += [
            Problem(path, f"is beyond {MAX_MAGNITUDE:g} in magnitude")
            for path, node in strict_json.walk(item["data"], "/data")
            if isinstance(node, (int, float)) and not isinstance(node, bool) and abs(node) > MAX_MAGNITUDE
        ]
    if kind in region_types and "uscc" in item:
        problems.append(Problem("/uscc", f"must be absent: {kind} is about a region, not a firm"))
    elif kind not in region_types and "uscc" not in item:
        problems.append(Problem("/uscc", "is required"))
    if webhook_id is None and "id" not in item:
        problems.append(Problem("/id", "is required on every item of a batch"))
    if webhook_id is not None and "id" in item and item["id"] != webhook_id:
        problems.append(Problem("/id", "must equal the webhook-id header when given"))
    if webhook_id is not None and not _event_id().fullmatch(webhook_id):
        # The header is the event's id: held to the rule an `id` in the body is held to.
        problems.append(Problem("/id", f"the webhook-id header is the event id and must match {_event_id_pattern()}"))
    occurred_at = _parse_datetime(item.get("occurred_at"))
    now = now or datetime.datetime.now(datetime.UTC)
    if occurred_at is not None and occurred_at > now + FUTURE_SKEW:
        problems.append(Problem("/occurred_at", "is in the future"))
    if problems:
        raise Invalid(problems)
    return Envelope(
        type=kind,
        occurred_at=occurred_at,
        uscc=item.get("uscc"),
        data=item["data"],
        id=webhook_id if webhook_id is not None else item["id"],
    )


def _parse_datetime(value: Any) -> datetime.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        _check_datetime(value)
        return datetime.datetime.fromisoformat(value)
    except ValueError:
        return None


def parse_stored(body: str, event_id: str) -> Envelope:
    """Rebuild the envelope of an event that was validated when it was received."""
    item = json.loads(body)
    return Envelope(
        type=item["type"],
        occurred_at=datetime.datetime.fromisoformat(item["occurred_at"]),
        uscc=item.get("uscc"),
        data=item["data"],
        id=event_id,
    )
