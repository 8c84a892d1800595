"""The notice outbox in memory, with the same promises as SQL."""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Sequence

from engine.core import matching, notice_status
from engine.notices import notice_rules, outbox, withholding
from engine.testing import memory_audit


class MemoryNotices(memory_audit.MemoryAudit, outbox.NoticeStore):
    """NoticeStore in memory; every change appends to the audit chain."""

    def _create_notices(
        self, uscc: str, stored: Sequence[tuple[int, matching.Decision]], now: datetime.datetime, actor: str = "pipeline",
        *, audited: bool = True,
    ) -> int:
        told = notice_rules.told_of(n for n in self.notices.values() if n.uscc == uscc)
        waiting_since: dict[tuple[str, str], datetime.datetime] = {}
        for n in self.notices.values():
            if n.uscc == uscc and n.status is notice_status.NoticeStatus.PENDING and n.digest_id is None:
                key = (n.uscc, n.channel)
                waiting_since[key] = min(waiting_since.get(key, n.created_at), n.created_at)
        keys = [(uscc, channel) for _, d in stored for channel, _ in notice_rules.notice_keys(d)]
        due = notice_rules.digest_schedule(waiting_since, keys, now, self.digest_window) if self.digest_window else {}
        created = notice_rules.new_notices([(uscc, i, d) for i, d in stored], told, now, self.hold_before(now), due)
        extended = {(n.uscc, n.channel) for n in created if n.status is notice_status.NoticeStatus.PENDING} & set(due)
        for n in list(self.notices.values()):
            if (n.uscc, n.channel) in extended and n.status is notice_status.NoticeStatus.PENDING and n.digest_id is None:
                self.notices[n.notice_id] = dataclasses.replace(n, next_attempt_at=due[(n.uscc, n.channel)])
        for record in created:
            self.notices[record.notice_id] = record
            if audited:
                self._audit([notice_rules.created_audit(record, actor)])
        return len(created)

    async def claim_due_digests(
        self, now: datetime.datetime, limit: int, lease: datetime.timedelta, channels: Sequence[str] = outbox.CHANNELS
    ) -> list[outbox.Digest]:
        async with self._lock:
            order = {notice_id: index for index, notice_id in enumerate(self.notices)}  # insertion order: the SQL id
            due = sorted(
                (n for n in self.notices.values() if n.status in notice_status.DUE and n.next_attempt_at <= now and n.channel in channels),
                key=lambda n: (n.next_attempt_at, order[n.notice_id]),
            )
            claimed: list[outbox.Digest] = []
            for notice in due:
                if len(claimed) >= limit:
                    break
                current = self.notices[notice.notice_id]
                if current.status not in notice_status.DUE:
                    continue  # already in a digest claimed in this call
                digest = notice_rules.claimed_digest(notice_rules.digest_members(current, self.notices.values()), now, lease)
                self.notices.update({n.notice_id: n for n in digest})
                self._audit([notice_rules.claim_audit(n.notice_id, n.lease_until) for n in digest])
                claimed.append(digest)
            return claimed

    async def transition_digest(
        self,
        digest: Sequence[outbox.NoticeRecord],
        change: outbox.Transition,
        *,
        expect: notice_status.NoticeStatus | None = None,
        lease: datetime.datetime | None = None,
    ) -> list[outbox.NoticeRecord]:
        async with self._lock:
            now = datetime.datetime.now(datetime.UTC)
            done = notice_rules.digest_transitions([self.notices[n.notice_id] for n in digest], change, now, expect=expect, lease=lease)
            self._save_transitions(done)
            return [d.notice for d in done]

    async def digest_notices(self, digest_id: str) -> list[outbox.NoticeRecord]:
        return [n for n in self.notices.values() if n.digest_id == digest_id]

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
            done = notice_rules.transition(
                self.notices[notice_id], change, datetime.datetime.now(datetime.UTC), expect=expect, lease=lease
            )
            self.notices[notice_id] = done.notice
            self._audit([done.audit])
            self.attempts.setdefault(notice_id, []).append(done.attempt)
            return done.notice

    async def wait_for_contact(self, notice: outbox.NoticeRecord) -> outbox.NoticeRecord:
        async with self._lock:  # a fold holds the lock too: it has either woken what waits or not begun
            firm = self.firms.get(notice.uscc)
            done = withholding.waiting(
                self.notices[notice.notice_id], firm.fields if firm else {}, datetime.datetime.now(datetime.UTC), lease=notice.lease_until
            )
            self._save_transitions([done])
            return done.notice

    def _waiting_notices(self, uscc: str) -> list[outbox.NoticeRecord]:
        """The firm's notices waiting for its address or consent."""
        return [n for n in self.notices.values() if n.uscc == uscc and n.status == notice_status.NoticeStatus.WAITING]

    def _save_transitions(self, done: Sequence[notice_rules.Transitioned]) -> None:
        """Save status changes notice_rules made (the caller holds the lock): notice, timeline line, audit entry."""
        for change in done:
            self.notices[change.notice.notice_id] = change.notice
            self._audit([change.audit])
            self.attempts.setdefault(change.notice.notice_id, []).append(change.attempt)

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

    async def sms_preference(self, uscc: str) -> str:
        return self.preferences.get(uscc, {}).get("sms", outbox.SMS_ALL)

    async def set_sms_preference(self, uscc: str, preference: str, actor: str, at: datetime.datetime) -> None:
        entry = withholding.preference_audit(uscc, preference, actor)
        async with self._lock:
            self.preferences.setdefault(uscc, {})["sms"] = preference
            if preference == outbox.SMS_NONE:
                self.opted_out.setdefault((uscc, "sms"), (f"firm page ({actor})", at))
            else:
                self.opted_out.pop((uscc, "sms"), None)
            self._audit([entry])

    async def firms_with_mobile(self, mobile_e164: str) -> list[str]:
        return sorted(u for u, f in self.firms.items() if f.fields.get("contact.mobile") == mobile_e164)
