"""What an operator does to a notice by hand: send a dead or undelivered one again, or release a held one.

Both put the notice back to PENDING, due at once, with the rest of its digest in the same state (the
message goes again whole), and the delivery worker then takes it like any other. Kept apart from the
worker (engine.notices.worker), which these do not need: the command line, the notices API and the
console call them against the store alone.
"""

from __future__ import annotations

import datetime

from engine.core import notice_status
from engine.notices import outbox
from engine.telemetry import metrics


async def requeue(store: outbox.NoticeStore, notice_id: str, operator: str) -> outbox.NoticeRecord:
    """An operator sends a dead or undelivered notice again (`policy-push notices retry`)."""
    return await _by_operator(store, notice_id, operator, notice_status.RETRYABLE_BY_OPERATOR, "operator", "requeued",
                              "only dead or undelivered notices can be retried")


async def release(store: outbox.NoticeStore, notice_id: str, operator: str) -> outbox.NoticeRecord:
    """An operator releases a held notice (its benefit's window closed long before it was recorded) for
    sending (`policy-push notices release`): the words then say the window has closed."""
    return await _by_operator(store, notice_id, operator, notice_status.RELEASABLE_BY_OPERATOR, "release", "released",
                              "only held notices can be released")


async def _by_operator(
    store: outbox.NoticeStore, notice_id: str, operator: str, allowed: frozenset[notice_status.NoticeStatus],
    kind: str, outcome: str, refusal: str,
) -> outbox.NoticeRecord:
    """Requeue a notice, and with it the rest of its digest in the same state (the message goes again whole)."""
    notice = await store.get_notice(notice_id)
    if notice is None:
        raise KeyError(notice_id)
    if notice.status not in allowed:
        raise notice_status.IllegalTransition(f"notice {notice_id} is {notice.status.value}; {refusal}")
    digest = [notice]
    if notice.digest_id is not None:
        digest = [n for n in await store.digest_notices(notice.digest_id) if n.status == notice.status] or digest
    changed = await store.transition_digest(
        digest,
        outbox.Transition(notice_status.NoticeStatus.PENDING, kind, outcome, reason=f"{outcome} by {operator}",
                          next_attempt_at=datetime.datetime.now(datetime.UTC)),
        expect=notice.status,
    )
    metrics.notice_transition(notice.channel, notice_status.NoticeStatus.PENDING.value, len(changed))
    return next(n for n in changed if n.notice_id == notice_id)
