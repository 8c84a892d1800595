"""Everything the in-memory store keeps, declared in one place.

The in-memory store is built in layers like the SQL one, each class standing on the one below and
using only what it inherits: MemoryBase → MemoryFirms → MemoryAudit → MemoryNotices → MemoryApprovals →
MemoryBackfill → MemoryFirmPage → InMemoryStorage.
"""

from __future__ import annotations

import asyncio
import datetime
import itertools
from typing import Any

from engine import audit
from engine.core import matching, records
from engine.notices import outbox

#: What a fold group's rollback restores (the id counters only move on, as a database's sequences do).
STATE = ("events", "firms", "history", "stored_decisions", "designations_by_county", "tokens", "notices", "attempts", "opted_out", "audit_log", "gates",
         "responses", "preferences", "openings", "windows_checked")


class MemoryBase:
    """The state, and the one lock that makes each method a transaction."""

    def __init__(self, *, stale_after: datetime.timedelta | None = None, digest_window: outbox.DigestWindow | None = None) -> None:
        #: See NoticeStore.stale_after and digest_window.
        self.stale_after = stale_after
        self.digest_window = digest_window
        self._lock = asyncio.Lock()
        self._seq = itertools.count(1)
        self._ids = itertools.count(1)
        self.events: dict[str, records.StoredEvent] = {}
        self.firms: dict[str, records.FirmRecord] = {}
        self.history: dict[str, list[records.FieldAssignment]] = {}
        self.stored_decisions: dict[str, list[records.StoredDecision]] = {}
        self.designations_by_county: dict[str, set[matching.Designation]] = {}
        self.tokens: dict[str, tuple[str, records.TokenRecord]] = {}
        self.notices: dict[str, outbox.NoticeRecord] = {}
        self.attempts: dict[str, list[outbox.AttemptRecord]] = {}
        self.opted_out: dict[tuple[str, str], tuple[str, datetime.datetime]] = {}
        self.audit_log: list[audit.Entry] = []
        self.gates: dict[str, bool] = {}
        #: The firm page (engine.firm_page): firms' answers to decisions, oldest first.
        self.responses: list[Any] = []
        #: Per firm: "sms" (outbox.SMS_PREFERENCES) and "links_revoked_before".
        self.preferences: dict[str, dict[str, Any]] = {}
        #: Window openings handled (engine.backfill.opening), by (clause, first day), and the last day checked.
        self.openings: dict[tuple[str, datetime.date], Any] = {}
        # Shared backfills: run id → its spec, and → its batches (dicts with the SQL table's columns).
        self.backfill_runs: dict[str, Any] = {}
        self.backfill_batches: dict[str, list[dict[str, Any]]] = {}
        self.windows_checked: datetime.date | None = None
        #: Whether a window check holds its turn (engine.backfill.store.BackfillStore.window_check_turn).
        self.window_checking = False
