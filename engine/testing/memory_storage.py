"""In-memory storage for unit tests: same promises as SqlStorage, kept in dicts."""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import datetime
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from engine import storage
from engine.core import china_time, event_status, matching, records
from engine.ingest import event_store, firm_fold
from engine.judging import recording
from engine.notices import withholding
from engine.testing import memory_base, memory_firm_page


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)




class _MemoryFoldGroup(event_store.FoldGroup):
    """The group `InMemoryStorage.fold_group` yields: each fold applies at once (the store's lock is held)."""

    def __init__(self, store: InMemoryStorage, events: Sequence[records.StoredEvent]) -> None:
        self.events = events
        self._store = store
        self._claimed = {event.event_id for event in events}

    def _check(self, event_id: str) -> None:
        if event_id not in self._claimed:
            raise ValueError(f"event {event_id} is not one this group claimed")

    async def fold_firm_event(
        self, event: records.StoredEvent, assignments: Mapping[str, Any], judge: recording.Judge
    ) -> event_store.FoldOutcome:
        self._check(event.event_id)
        return self._store.fold_firm(event, assignments, judge)

    async def fold_region_event(
        self, event: records.StoredEvent, designation: records.RegionDesignation, judge: recording.Judge
    ) -> event_store.FoldOutcome:
        self._check(event.event_id)
        if len(self._claimed) != 1:
            raise ValueError("a region event is folded in a group of its own")
        return self._store.fold_region(event, designation, judge)

    async def mark_failed(self, event_id: str, reason: str) -> None:
        self._check(event_id)
        self._store.set_status(event_id, event_status.EventStatus.FAILED, error=reason)


class InMemoryStorage(memory_firm_page.MemoryFirmPage, storage.Storage):
    """Keeps everything in process memory; one lock makes each method a transaction."""


    async def open(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def ping(self) -> None:
        pass

    async def schema_revision(self) -> str | None:
        return None

    async def add_events(self, events: Sequence[records.NewEvent]) -> list[records.AddResult]:
        async with self._lock:
            results = []
            for new in events:
                known = self.events.get(new.event_id)
                if known is not None:
                    results.append(records.AddResult(new.event_id, False, known.body_sha256 != new.body_sha256))
                    continue
                self.events[new.event_id] = records.StoredEvent(
                    seq=next(self._seq),
                    received_at=_now(),
                    status=event_status.EventStatus.RECEIVED,
                    **dataclasses.asdict(new),
                )
                results.append(records.AddResult(new.event_id, True))
            return results

    async def get_event(self, event_id: str) -> records.StoredEvent | None:
        return self.events.get(event_id)

    async def pending_events(self, limit: int) -> list[records.StoredEvent]:
        pending = [e for e in self.events.values() if e.status == event_status.EventStatus.RECEIVED]
        return sorted(pending, key=lambda e: e.seq)[:limit]

    async def count_pending_events(self) -> int:
        return sum(1 for e in self.events.values() if e.status == event_status.EventStatus.RECEIVED)

    async def firm_events(self, uscc: str) -> list[records.StoredEvent]:
        return sorted((e for e in self.events.values() if e.uscc == uscc), key=lambda e: e.seq)

    async def mark_failed(self, event_id: str, reason: str) -> None:
        async with self._lock:
            self.set_status(event_id, event_status.EventStatus.FAILED, error=reason)

    def set_status(self, event_id: str, new: event_status.EventStatus, error: str | None = None) -> None:
        event = self.events[event_id]
        event_status.check_transition(event.status, new)
        self.events[event_id] = dataclasses.replace(event, status=new, processed_at=_now(), error=error)

    @contextlib.asynccontextmanager
    async def fold_group(self, limit: int = 1, *, event_id: str | None = None) -> AsyncIterator[event_store.FoldGroup]:
        async with self._lock:
            if event_id is not None:
                event = self.events[event_id]
                claimed = [event] if event.status == event_status.EventStatus.RECEIVED else []
            else:
                claimed = event_store.claimable((await self.pending_events(limit)))
            # One transaction: if the block raises, everything the group did is taken back.
            saved = copy.deepcopy({name: getattr(self, name) for name in memory_base.STATE})
            try:
                yield _MemoryFoldGroup(self, claimed)
            except BaseException:
                vars(self).update(saved)
                raise

    def fold_firm(
        self, event: records.StoredEvent, assignments: Mapping[str, Any], judge: recording.Judge
    ) -> event_store.FoldOutcome:
        if self.events[event.event_id].status != event_status.EventStatus.RECEIVED:
            return event_store.FoldOutcome()
        uscc, now = event.uscc, _now()
        firm = self.firms.get(uscc or "")
        state = firm_fold.FirmState(firm.fields, firm.stamps, firm.events_applied) if firm else firm_fold.NEW_FIRM
        applied = firm_fold.apply_event(state, event, assignments, now)
        # Judge before writing anything, so a failing matcher leaves no partial fold behind.
        decisions = self._judge(uscc, applied.firm.fields, event, judge) if applied.changed else []
        # An address or consent that arrives wakes the notices waiting for it, with the profile write.
        woken = (
            withholding.woken(self._waiting_notices(uscc), applied.firm.fields, now, self.hold_before(now))
            if withholding.contact_changed(applied.changed) else []
        )
        self.firms[uscc] = records.FirmRecord(
            uscc=uscc,
            fields=applied.firm.fields,
            stamps=applied.firm.stamps,
            events_applied=applied.firm.events_applied,
            created_at=firm.created_at if firm else now,
            updated_at=now,
        )
        self.history.setdefault(uscc, []).extend(applied.provenance)
        self._store_decisions(uscc, event, decisions)
        self._save_transitions(woken)
        self.set_status(event.event_id, event_status.EventStatus.PROCESSED)
        return event_store.FoldOutcome(
            changed_fields=applied.changed, decisions=decisions, firms_judged=int(bool(applied.changed)), notices_woken=len(woken)
        )

    def fold_region(
        self, event: records.StoredEvent, designation: records.RegionDesignation, judge: recording.Judge
    ) -> event_store.FoldOutcome:
        if self.events[event.event_id].status != event_status.EventStatus.RECEIVED:
            return event_store.FoldOutcome()
        designations = self.designations_by_county.get(designation.county, set()) \
            | {matching.Designation(designation.kind, designation.year)}
        firms = sorted(u for u, f in self.firms.items() if f.fields.get("region") == designation.county)
        judged = {uscc: self._judge(uscc, self.firms[uscc].fields, event, judge, designations) for uscc in firms}
        self.designations_by_county[designation.county] = designations
        for uscc, decisions in judged.items():
            self._store_decisions(uscc, event, decisions)
        self.set_status(event.event_id, event_status.EventStatus.PROCESSED)
        return event_store.FoldOutcome(decisions=[d for ds in judged.values() for d in ds], firms_judged=len(firms))

    def _judge(
        self,
        uscc: str,
        fields: Mapping[str, Any],
        event: records.StoredEvent,
        judge: recording.Judge,
        designations: set[matching.Designation] | None = None,
    ) -> list[matching.Decision]:
        if designations is None:
            designations = self.designations_by_county.get(fields.get("region"), set())
        known = [(stored.as_of, stored.decision) for stored in self.stored_decisions.get(uscc, [])]
        return recording.judge_firm(uscc, fields, china_time.as_of_date(event.occurred_at), frozenset(designations), known, judge)

    def _store_decisions(self, uscc: str, event: records.StoredEvent, decisions: list[matching.Decision]) -> None:
        self._record_decisions(uscc, decisions, china_time.as_of_date(event.occurred_at), event.event_id, "pipeline")


    async def add_token(
        self, token_sha256: str, role: str, label: str, expires_at: datetime.datetime | None = None
    ) -> records.TokenRecord:
        async with self._lock:
            record = records.TokenRecord(next(self._ids), role, label, _now(), None, expires_at)
            self.tokens[token_sha256] = (token_sha256, record)
            return record

    async def find_token(self, token_sha256: str) -> records.TokenRecord | None:
        found = self.tokens.get(token_sha256)
        return found[1] if found and found[1].revoked_at is None else None

    async def list_tokens(self) -> list[records.TokenRecord]:
        return sorted((record for _, record in self.tokens.values()), key=lambda record: record.id)

    async def revoke_token(self, token_id: int, at: datetime.datetime) -> records.TokenRecord | None:
        return self._change_token(token_id, lambda record: record if record.revoked_at else dataclasses.replace(record, revoked_at=at))

    async def touch_token(self, token_id: int, at: datetime.datetime) -> None:
        self._change_token(token_id, lambda record: dataclasses.replace(record, last_used_at=at))

    def _change_token(self, token_id: int, change) -> records.TokenRecord | None:
        for digest, (_, record) in self.tokens.items():
            if record.id == token_id:
                self.tokens[digest] = (digest, change(record))
                return self.tokens[digest][1]
        return None
