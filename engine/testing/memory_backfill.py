"""Backfill storage for InMemoryStorage: the same promises as connectors.sql_backfill, over dicts."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
from collections.abc import AsyncIterator, Collection, Sequence

from engine.audit import summaries
from engine.backfill import shared_rules, store
from engine.core import matching
from engine.judging import firm_input, recording
from engine.notices import notice_rules
from engine.testing import memory_approvals


class MemoryBackfill(memory_approvals.MemoryApprovals, store.BackfillStore):
    """BackfillStore in memory; changes are recorded the way the pipeline records them."""

    async def firm_count(self) -> int:
        return len(self.firms)

    async def batch_bounds(self, size: int) -> AsyncIterator[tuple[str, str]]:
        async with self._lock:
            keys = sorted(self.firms)
        after = ""
        for start in range(0, len(keys), size):
            upto = keys[min(start + size, len(keys)) - 1]
            yield after, upto
            after = upto

    async def firm_batch(
        self, after: str, upto: str, clause_ids: Collection[str], grant_clause_ids: Collection[str] = ()
    ) -> store.Batch:
        wanted, granting = frozenset(clause_ids), frozenset(grant_clause_ids)
        async with self._lock:
            firms = []
            for uscc in sorted(u for u in self.firms if after < u <= upto):
                record = self.firms[uscc]
                stored = self.stored_decisions.get(uscc, [])
                priors = {
                    s.decision.clause_id: firm_input.Prior(s.id, s.decision.status, s.decision.rule_version, s.decision.amount)
                    for s in stored
                    if s.decision.clause_id in wanted
                }
                grants = tuple(
                    firm_input.Grant(s.as_of, s.decision.clause_id, s.decision.amount)
                    for s in stored
                    if s.decision.clause_id in granting and s.decision.status == matching.Verdict.MET
                    and s.decision.amount is not None
                )
                county = frozenset(self.designations_by_county.get(record.fields.get("region"), ()))
                firms.append(firm_input.FirmInput(uscc, dict(record.fields), record.events_applied, priors, grants, county))
            told = notice_rules.told_of(n for n in self.notices.values() if after < n.uscc <= upto and n.clause_id in wanted)
            return store.Batch(firms, told, frozenset(c for c, on in self.gates.items() if on))

    async def record_backfill(self, changes: Sequence[firm_input.Change], as_of: dt.date, actor: str) -> store.Recorded:
        async with self._lock:
            moved = set()
            for change in changes:
                firm = self.firms.get(change.uscc)
                latest = {s.decision.clause_id: s.id for s in self.stored_decisions.get(change.uscc, [])}
                if firm is None or firm.events_applied != change.firm_version \
                        or latest.get(change.decision.clause_id) != change.prior_id:
                    moved.add(change.uscc)
            decisions = notices = pending = 0
            by_firm: dict[str, list[matching.Decision]] = {}
            for change in changes:
                if change.uscc not in moved:
                    by_firm.setdefault(change.uscc, []).append(change.decision)
            now = dt.datetime.now(dt.UTC)
            existing = set(self.notices)
            members = []
            for uscc, new in by_firm.items():
                stored, created = self._record_decisions(uscc, new, as_of, None, actor, audited=False, now=now)
                members += [recording.decision_member(s) for s in stored]
                decisions += len(stored)
                notices += created
                pending += sum(1 for s in stored if s.approval == "pending")
            if members:  # one entry for the batch, as on SQL (engine.audit.summaries)
                self._audit([summaries.summary(actor, as_of, members, [
                    notice_rules.notice_member(n) for key, n in self.notices.items() if key not in existing])])
            return store.Recorded(decisions, notices, pending, tuple(sorted(moved)))

    async def stored_rule_versions(self) -> dict[str, set[str]]:
        async with self._lock:
            versions: dict[str, set[str]] = {}
            for stored in self.stored_decisions.values():
                latest = {s.decision.clause_id: s.decision.rule_version for s in stored}
                for clause_id, version in latest.items():
                    versions.setdefault(clause_id, set()).add(version)
            return versions

    async def windows_checked_through(self) -> dt.date | None:
        async with self._lock:
            return self.windows_checked

    async def set_windows_checked_through(self, day: dt.date) -> None:
        async with self._lock:
            if self.windows_checked is None or day > self.windows_checked:
                self.windows_checked = day

    @contextlib.asynccontextmanager
    async def window_check_turn(self) -> AsyncIterator[bool]:
        if self.window_checking:
            yield False
            return
        self.window_checking = True
        try:
            yield True
        finally:
            self.window_checking = False

    async def record_opening(self, record: store.OpeningRecord) -> bool:
        async with self._lock:
            key = (record.clause_id, record.opens_on)
            if key in self.openings:
                return False
            self.openings[key] = dataclasses.replace(record, handled_at=record.handled_at or dt.datetime.now(dt.UTC))
            return True

    async def window_openings(self) -> list[store.OpeningRecord]:
        async with self._lock:
            return [self.openings[key] for key in sorted(self.openings, key=lambda k: (k[1], k[0]))]

    async def create_run(self, spec: store.RunSpec, bounds: Sequence[tuple[str, str]]) -> None:
        async with self._lock:
            if spec.run_id in self.backfill_runs:
                raise ValueError(f"backfill run {spec.run_id} exists")
            self.backfill_runs[spec.run_id] = dataclasses.replace(spec, created_at=spec.created_at or dt.datetime.now(dt.UTC))
            self.backfill_batches[spec.run_id] = [
                {"seq": seq, "after": after, "upto": upto, "status": store.PENDING, "claimed_by": None, "lease_until": None,
                 "firms": 0, "recorded": 0, "notices": 0}
                for seq, (after, upto) in enumerate(bounds)
            ]

    async def get_run(self, run_id: str) -> store.RunSpec | None:
        async with self._lock:
            return self.backfill_runs.get(run_id)

    async def claim_batch(self, run_id: str, worker: str, now: dt.datetime, lease: dt.timedelta) -> store.BatchClaim | None:
        async with self._lock:
            for batch in self.backfill_batches.get(run_id, []):
                if shared_rules.claimable(batch["status"], batch["lease_until"], now):
                    batch.update(status=store.CLAIMED, claimed_by=worker, lease_until=now + lease)
                    return store.BatchClaim(run_id, batch["seq"], batch["after"], batch["upto"], now + lease)
            return None

    async def finish_batch(self, claim: store.BatchClaim, worker: str, now: dt.datetime, *, firms: int, recorded: int,
                           notices: int) -> bool:
        async with self._lock:
            batch = self.backfill_batches[claim.run_id][claim.seq]
            if batch["status"] != store.CLAIMED or batch["claimed_by"] != worker:
                return False
            batch.update(status=store.DONE, lease_until=None, firms=firms, recorded=recorded, notices=notices)
            return True

    async def run_progress(self, run_id: str) -> store.RunProgress:
        async with self._lock:
            batches = self.backfill_batches.get(run_id, [])
            done = [b for b in batches if b["status"] == store.DONE]
            counts: dict[str, int] = {}
            for batch in batches:
                counts[batch["status"]] = counts.get(batch["status"], 0) + 1
            return store.RunProgress(counts, sum(b["firms"] for b in done), sum(b["recorded"] for b in done),
                                     sum(b["notices"] for b in done))
