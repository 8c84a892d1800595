"""The records the engine keeps: events as received and stored, firm profiles with their provenance,
decisions as recorded, region designations and API tokens. Plain frozen data; the stores load and
save them, the feature packages' pure functions compute them."""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Mapping, Sequence
from typing import Any

from engine.core import event_status, matching


@dataclasses.dataclass(frozen=True)
class NewEvent:
    """A verified, validated event about to be stored."""

    event_id: str
    type: str
    uscc: str | None
    occurred_at: datetime.datetime
    body: str
    body_sha256: str
    headers: Mapping[str, str]


@dataclasses.dataclass(frozen=True)
class StoredEvent:
    """An event as kept on disk."""

    seq: int
    event_id: str
    type: str
    uscc: str | None
    occurred_at: datetime.datetime
    received_at: datetime.datetime
    body: str
    body_sha256: str
    headers: Mapping[str, str]
    status: event_status.EventStatus
    processed_at: datetime.datetime | None = None
    error: str | None = None


@dataclasses.dataclass(frozen=True)
class AddResult:
    """Outcome of storing one event: `created` is False for a redelivery of a known event id."""

    event_id: str
    created: bool
    #: For a redelivery: whether the stored body differs from the one delivered now.
    body_differs: bool = False


@dataclasses.dataclass(frozen=True)
class FirmRecord:
    """A firm's current profile, flat fields with stamps (see engine.profile)."""

    uscc: str
    fields: Mapping[str, Any]
    stamps: Mapping[str, Sequence[str]]
    events_applied: int
    created_at: datetime.datetime
    updated_at: datetime.datetime


@dataclasses.dataclass(frozen=True)
class FieldAssignment:
    """One provenance row: `event_id` set `field` to `value` (occurred at `occurred_at`)."""

    field: str
    value: Any
    event_id: str
    occurred_at: datetime.datetime
    recorded_at: datetime.datetime


@dataclasses.dataclass(frozen=True)
class StoredDecision:
    """A decision as recorded for a firm."""

    id: int
    uscc: str
    as_of: datetime.date
    event_id: str | None
    created_at: datetime.datetime
    decision: matching.Decision
    #: The 二次确认 gate: None (no gate), "pending", "approved" or "rejected".
    approval: str | None = None


@dataclasses.dataclass(frozen=True)
class RegionDesignation:
    """What a region event records: the county's designation of `kind` (matching.DESIGNATION_KINDS) in
    `year`, with its `level` where the kind has one (a risk area's medium/high)."""

    county: str
    kind: str
    year: int
    level: str | None = None


@dataclasses.dataclass(frozen=True)
class TokenRecord:
    """An API token's stored form."""

    id: int
    role: str
    label: str
    created_at: datetime.datetime
    revoked_at: datetime.datetime | None
    #: After this moment the token is refused (None: it does not expire).
    expires_at: datetime.datetime | None = None
    #: When it last authenticated a request (to within constants.TOKEN_TOUCH_SECONDS), or None.
    last_used_at: datetime.datetime | None = None

    def usable(self, at: datetime.datetime) -> bool:
        """Neither revoked nor expired at `at`."""
        return self.revoked_at is None and (self.expires_at is None or at < self.expires_at)
