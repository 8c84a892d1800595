"""The notice outbox in memory (mixed into InMemoryStorage), with the same promises as SQL."""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Sequence

from engine.core import matching
from engine import storage
from engine.notices import outbox
from engine.core import notice_status


class MemoryNotices(outbox.NoticeStore):
    """NoticeStore for InMemoryStorage; relies on its `_lock` and `firms`."""

    def _init_notices(self) -> None:
        self.notices: dict[str, outbox.NoticeRecord] = {}
        self.attempts: dict[str, list[outbox.AttemptRecord]] = {}
        self.opted_out: dict[tuple[str, str], tuple[str, datetime.datetime]] = {}

    def _create_notices(
        self, uscc: str, stored: Sequence[tuple[int, matching.Decision]], now: datetime.datetime, actor: str = "pipeline"
    ) -> int:
        keys = {(n.uscc, n.clause_id, n.channel, n.period) for n in self.notices.values()}
        created = 0
        for decision_id, decision in stored:
            for channel, period in storage.notice_keys(decision):
                if (uscc, decision.clause_id, channel, period) in keys:
                    continue
                record = outbox.NoticeRecord(
                    notice_id=outbox.new_notice_id(), uscc=uscc, clause_id=decision.clause_id, channel=channel,
                    period=period, decision_id=decision_id, status=notice_status.NoticeStatus.PENDING, attempts=0,
                    next_attempt_at=now, lease_until=None, provider_id=None, message=None, reason=None,
                    created_at=now, updated_at=now,
                )
                self.notices[record.notice_id] = record
                keys.add((uscc, decision.clause_id, channel, period))
                created += 1
                self._audit([storage.notice_audit(record.notice_id, "notice.created", actor, {
                    "uscc": uscc, "clause_id": decision.clause_id, "channel": channel, "period": period, "decision_id": decision_id})])
        return created

    async def claim_due_notices(
        self, now: datetime.datetime, limit: int, lease: datetime.timedelta, channels: Sequence[str] = outbox.CHANNELS
    ) -> list[outbox.NoticeRecord]:
        async with self._lock:
            due = sorted(
                (n for n in self.notices.values() if n.status in notice_status.DUE and n.next_attempt_at <= now and n.channel in channels),
                key=lambda n: n.next_attempt_at,
            )[:limit]
            claimed = [
                dataclasses.replace(n, status=notice_status.NoticeStatus.SENDING, lease_until=now + lease, updated_at=now) for n in due
            ]
            self.notices.update({n.notice_id: n for n in claimed})
            self._audit([storage.notice_audit(n.notice_id, "notice.sending", "worker", {"lease_until": (now + lease).isoformat()}) for n in claimed])
            return claimed

    async def expired_leases(self, now: datetime.datetime) -> list[outbox.NoticeRecord]:
        return [
            n for n in self.notices.values()
            if n.status == notice_status.NoticeStatus.SENDING and n.lease_until is not None and n.lease_until < now
        ]

    async def transition_notice(
        self,
        notice_id: str,
        change: outbox.Transition,
        *,
        expect: notice_status.NoticeStatus | None = None,
        lease: datetime.datetime | None = None,
    ) -> outbox.NoticeRecord:
        async with self._lock:
            now = datetime.datetime.now(datetime.UTC)
            notice = self.notices[notice_id]
            if expect is not None and notice.status != expect:
                raise notice_status.IllegalTransition(f"notice {notice_id} is {notice.status.value}, not {expect.value}")
            if lease is not None and notice.lease_until != lease:
                raise notice_status.IllegalTransition(f"notice {notice_id}: the lease was lost to another worker")
            notice_status.check_transition(notice.status, change.new_status)
            updated = dataclasses.replace(
                notice,
                status=change.new_status,
                updated_at=now,
                reason=change.reason,
                lease_until=None,
                attempts=notice.attempts + int(change.counts_attempt),
                next_attempt_at=change.next_attempt_at or notice.next_attempt_at,
                provider_id=change.provider_id or notice.provider_id,
                message=notice.message if notice.message is not None else change.message,
            )
            self.notices[notice_id] = updated
            self._audit([storage.notice_audit(notice_id, f"notice.{change.new_status.value}", change.kind, {
                "from": notice.status.value, "outcome": change.outcome, "reason": change.reason, "provider_id": change.provider_id})])
            self.attempts.setdefault(notice_id, []).append(
                outbox.AttemptRecord(
                    notice_id, change.kind, change.outcome, change.new_status, change.provider_id, change.response, change.reason, now
                )
            )
            return updated

    async def get_notice(self, notice_id: str) -> outbox.NoticeRecord | None:
        return self.notices.get(notice_id)

    async def find_notice_by_provider_id(self, provider_id: str) -> outbox.NoticeRecord | None:
        return next((n for n in self.notices.values() if n.provider_id == provider_id), None)

    async def firm_notices(self, uscc: str) -> list[outbox.NoticeRecord]:
        return [n for n in self.notices.values() if n.uscc == uscc]

    async def notice_attempts(self, notice_id: str) -> list[outbox.AttemptRecord]:
        return list(self.attempts.get(notice_id, []))

    async def count_notices(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for notice in self.notices.values():
            counts[notice.status.value] = counts.get(notice.status.value, 0) + 1
        return counts

    async def opt_out(self, uscc: str, channel: str, source: str, at: datetime.datetime) -> None:
        async with self._lock:
            self.opted_out.setdefault((uscc, channel), (source, at))

    async def opt_outs(self, uscc: str) -> dict[str, datetime.datetime]:
        return {channel: at for (firm, channel), (_source, at) in self.opted_out.items() if firm == uscc}

    async def firms_with_mobile(self, mobile_e164: str) -> list[str]:
        return sorted(u for u, f in self.firms.items() if f.fields.get("contact.mobile") == mobile_e164)
