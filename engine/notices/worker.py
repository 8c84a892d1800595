"""The delivery worker: claims due notices, checks consent and pacing, sends, records the outcome.

A notice is not sent when the benefit no longer applies, the firm opted out of the channel, or it
chose SMS for automatic grants only and the notice is of another benefit (SKIPPED, final), nor while the firm's address or consent for the channel is missing (WAITING: the
fold of a later contact event wakes it, see withholding.woken).

Delivery semantics when a process dies mid-send (the notice is left SENDING with a lease):
- email: at-least-once. The notice is sent again with the same Message-ID, which mail systems and
  readers use to recognise a repeat; an email lost is worse than one shown twice.
- SMS: at-most-once. SendSms is not idempotent and a repeated text costs the firm's patience and
  the bureau's money, so an interrupted SMS is declared dead, never re-sent blindly; the
  provider's receipt (which echoes our OutId) settles it as delivered if it did go out, and an
  operator may requeue it after checking.

What a provider's answer makes of a digest is engine.notices.send_outcomes; an operator's requeue and
release are engine.notices.operator_actions.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import logging
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

from aiohttp import web

from engine import constants
from engine.core import matching, notice_status, profile
from engine.notices import channels, notice_rules, outbox, pacing, send_outcomes, withholding
from engine.telemetry import metrics, tasks

log = logging.getLogger(__name__)

Message = channels.EmailMessage | channels.SmsMessage
#: Builds the one message of a digest (its notices, first first) from the firm's profile and its stored decisions
#: by id (each notice's decision, and for a changed amount the decision told before) (engine.notices.compose).
Composer = Callable[[Sequence[outbox.NoticeRecord], Mapping[str, Any], Mapping[int, matching.Decision]], Message]
Clock = Callable[[], datetime.datetime]

S = notice_status.NoticeStatus


def _utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


@dataclasses.dataclass
class Channel:
    """A channel as the worker uses it: its sender and its pace."""

    sender: channels.EmailSender | channels.SmsSender
    limiter: pacing.RateLimiter
    quiet_hours: pacing.QuietHours | None = None
    #: Sends of the channel in flight at once: for email the sender's SMTP sessions (connectors.smtp_pool), for
    #: SMS constants.SMS_SENDS_AT_ONCE (each claimed only once the rate limit let it through).
    concurrency: int = 1


def message_from_json(channel: str, data: Mapping[str, Any]) -> Message:
    """The message stored on a notice at its first attempt, so retries send the same words."""
    return (channels.SmsMessage if channel == "sms" else channels.EmailMessage)(**data)


#: Channels claimed one digest at a time: an interrupted send is never repeated (see `_claim`).
ONE_AT_A_TIME = ("sms",)


class DeliveryWorker:
    """Sends due notices; one or more may run against one database (claims never overlap)."""

    def __init__(
        self,
        store: outbox.NoticeStore,
        compose: Composer,
        channel_map: Mapping[str, Channel],
        *,
        backoff: pacing.Backoff = pacing.Backoff(
            constants.NOTICE_BACKOFF_BASE_SECONDS, constants.NOTICE_BACKOFF_CAP_SECONDS, constants.NOTICE_MAX_ATTEMPTS
        ),
        lease: datetime.timedelta = datetime.timedelta(seconds=constants.NOTICE_LEASE_SECONDS),
        batch_size: int = constants.NOTICE_BATCH_SIZE,
        poll_seconds: float = constants.NOTICE_POLL_SECONDS,
        recovery_seconds: float = constants.NOTICE_RECOVERY_SECONDS,
        clock: Clock = _utcnow,
        auto_grants: Collection[str] = frozenset(),
    ) -> None:
        self.store = store
        #: The catalogue's auto_grant clause ids: a firm that chose SMS for grants only gets SMS of these alone
        #: (withholding.preference_refusal; compose.auto_grant_clauses). Empty: no SMS for such a firm.
        self.auto_grants = frozenset(auto_grants)
        self.compose = compose
        self.channels = dict(channel_map)
        self.backoff = backoff
        self.lease = lease
        self.batch_size = batch_size
        self.poll_seconds = poll_seconds
        self.recovery_seconds = recovery_seconds
        self.clock = clock
        #: One wake-up per channel: each channel is its own lane (see `run_forever`).
        self._wakeups = {name: asyncio.Event() for name in self.channels}
        self._stopped = asyncio.Event()
        self._stopping = False

    def wake(self) -> None:
        """New notices may be due (the pipeline just committed some)."""
        for wakeup in self._wakeups.values():
            wakeup.set()

    async def recover(self) -> int:
        """Settle digests whose worker died mid-send (see the module docstring); return how many notices."""
        recovered = 0
        digests: dict[str, list[outbox.NoticeRecord]] = {}
        for notice in await self.store.expired_leases(self.clock()):
            digests.setdefault(notice.digest_id or notice.notice_id, []).append(notice)
        changes = [outbox.DigestChange(digest, send_outcomes.interrupted(digest[0].channel, self.clock())) for digest in digests.values()]
        # One transaction for them all; a digest another worker settled first is refused alone.
        for (digest_id, digest), item, done in zip(digests.items(), changes, await self.store.transition_digests(changes, expect=S.SENDING)):
            if isinstance(done, notice_status.IllegalTransition):
                continue  # another worker settled it first
            first = digest[0]
            metrics.notice_transition(first.channel, item.change.new_status.value, len(digest))
            log.warning(
                "digest %s (%s, %d notices) recovered after an interrupted send: %s", digest_id, first.channel, len(digest),
                item.change.new_status.value, extra={"notice_id": digest_id, "uscc": first.uscc, "channel": first.channel},
            )
            recovered += len(digest)
        return recovered

    async def run_once(self) -> int:
        """Recover, then send everything due now on every channel, the channels side by side; return how
        many notices were handled."""
        await self.recover()
        return sum(await asyncio.gather(*(self._drain(name) for name in self.channels)))

    async def _drain(self, name: str) -> int:
        """Send everything due now on one channel: emails a claimed batch at a time (its sends side by side over
        the channel's sessions), SMS in `concurrency` slots side by side, each one digest at a time (see `_claim`)."""
        if name in ONE_AT_A_TIME:
            slots = max(1, self.channels[name].concurrency)
            return sum(await asyncio.gather(*(self._drain_slot(name) for _ in range(slots))))
        return await self._drain_slot(name)

    async def _drain_slot(self, name: str) -> int:
        handled = 0
        while not self._stopping:
            claimed = await self._claim(name)
            if not claimed:
                break
            for digest, outcome in zip(claimed, await self._deliver_batch(claimed, paced=name in ONE_AT_A_TIME)):
                if isinstance(outcome, notice_status.IllegalTransition):
                    log.warning("digest %s: %s", digest[0].digest_id, outcome, extra={"notice_id": digest[0].digest_id})
                elif outcome and all(n.status is S.PENDING and n.reason == withholding.WORKER_STOPPING for n in outcome):
                    continue  # handed back untried
                handled += len(digest)
        return handled

    async def _claim(self, name: str) -> list[outbox.Digest]:
        """Due digests of one channel to send now: a batch of emails, or one SMS.

        A worker that dies holding a claimed SMS cannot know whether it left, so recovery declares
        it dead rather than risk a second message. So an SMS is claimed only when it can be sent at
        once: one digest at a time (a batch would condemn a whole batch never tried), and only after its
        rate limit let it through (a worker killed while waiting for the limiter holds no claim).
        """
        if name in ONE_AT_A_TIME:
            await self.channels[name].limiter.acquire()
            return await self.store.claim_due_digests(self.clock(), 1, self.lease, (name,))
        return await self.store.claim_due_digests(self.clock(), self.batch_size, self.lease, (name,))

    def _released(self, digest: Sequence[outbox.NoticeRecord]) -> outbox.DigestChange:
        """A claim handed back untried, so a stopping worker leaves nothing to wait out a lease."""
        return outbox.DigestChange(
            digest, outbox.Transition(S.PENDING, "release", "released", reason=withholding.WORKER_STOPPING, next_attempt_at=self.clock()),
            lease=digest[0].lease_until,
        )

    async def deliver(self, digest: outbox.Digest | outbox.NoticeRecord, *, paced: bool = False) -> list[outbox.NoticeRecord]:
        """Take one claimed (SENDING) digest to its next state (`paced`: its rate limit was already passed
        before the claim); return its notices as they now are. Raises IllegalTransition if the claim was lost
        (its lease ran out before sending, or another worker recovered it). See `_deliver_batch`."""
        [outcome] = await self._deliver_batch([[digest] if isinstance(digest, outbox.NoticeRecord) else list(digest)], paced=paced)
        if isinstance(outcome, notice_status.IllegalTransition):
            raise outcome
        return outcome

    async def _deliver_batch(
        self, digests: Sequence[outbox.Digest], *, paced: bool = False
    ) -> list[list[outbox.NoticeRecord] | notice_status.IllegalTransition]:
        """Take claimed (SENDING) digests of one channel to their next state; per digest, its notices as they now
        are, or the IllegalTransition that left it to recovery.

        Each notice is judged first (withholding.not_now), on what one read of the store says of every firm
        of the batch: one whose benefit ended, or that the firm's choices keep off the channel, is skipped, one
        without an address or consent waits, one whose window closed long before it fell due is held
        (withholding.closed_when_due); the rest of a digest go out as one message. A digest handed to the
        provider before (a retry) goes again in the words first sent (under the same id), or, if some of its
        notices may no longer be told, in new words for the rest. What is settled unsent is written in one
        transaction before any send; the sends then go side by side (`Channel.concurrency`), each only while its
        claim holds, and their outcomes are written together in one transaction after them. So a digest is
        durably `sending` before its message leaves and `sent` only after the provider took it, as one at a
        time; a worker killed between the two leaves the batch's sent emails to recovery (sent again under
        the same Message-ID), its SMS dead.
        """
        results: list[list[outbox.NoticeRecord] | notice_status.IllegalTransition] = [[] for _ in digests]
        if self._stopping:
            return await self._write(digests, [(i, self._released(d)) for i, d in enumerate(digests)], results)
        contexts = await self.store.delivery_context([d[0].uscc for d in digests])
        hold_before = self.store.hold_before(self.clock())
        unsent: list[tuple[int, outbox.DigestChange]] = []
        sends: list[tuple[int, outbox.Digest, Message]] = []
        for index, digest in enumerate(digests):
            try:
                planned = await self._plan(digest, contexts[digest[0].uscc], hold_before, results[index])
            except notice_status.IllegalTransition as exc:
                results[index] = exc
                continue
            except tasks.TRANSIENT:
                raise
            except Exception:  # one digest's defect must not stop the batch; its lease will expire
                log.exception("digest %s could not be delivered", digest[0].digest_id, extra={"notice_id": digest[0].digest_id})
                continue
            unsent += [(index, change) for change in planned if isinstance(change, outbox.DigestChange)]
            sends += [(index, *send) for send in planned if not isinstance(send, outbox.DigestChange)]
        await self._write(digests, unsent, results)
        sends = [send for send in sends if not isinstance(results[send[0]], notice_status.IllegalTransition)]
        if sends:
            channel = self.channels[digests[0][0].channel]
            at_once = asyncio.Semaphore(max(1, channel.concurrency))
            sent = await asyncio.gather(*(self._send(channel, sendable, message, at_once, paced) for _, sendable, message in sends))
            outcomes = []
            for (index, _, _), outcome in zip(sends, sent):
                if isinstance(outcome, notice_status.IllegalTransition):
                    results[index] = outcome
                elif outcome is not None:
                    outcomes.append((index, outcome))
            await self._write(digests, outcomes, results)
        return results

    async def _plan(
        self, digest: outbox.Digest, context: outbox.FirmContext, hold_before: datetime.date | None,
        settled: list[outbox.NoticeRecord],
    ) -> list[outbox.DigestChange | tuple[outbox.Digest, Message]]:
        """Judge a digest's notices: the changes to write for those not sent now, and the message for the rest
        (with its notices); a notice left waiting for its contact is written at once (`settled`)."""
        assert context.firm is not None, f"digest {digest[0].digest_id} for unknown firm {digest[0].uscc}"
        planned: list[outbox.DigestChange | tuple[outbox.Digest, Message]] = []
        sendable: list[outbox.NoticeRecord] = []
        for notice in digest:
            held = withholding.not_now(notice, context.firm.fields, context.firm.stamps, context.opted_out, context.decisions,
                                        context.sms_preference if notice.channel == "sms" else outbox.SMS_ALL, self.auto_grants)
            if held is None and notice_rules.held(notice, hold_before):
                # Its window closed long ago: sent only if an operator released it (read only in this rare case).
                held = withholding.closed_when_due(notice, hold_before, await self.store.notice_attempts(notice.notice_id))
            if held is None:
                sendable.append(notice)
            elif held.new_status is S.WAITING:
                settled.append(await self._wait(notice))
            else:
                planned.append(outbox.DigestChange([notice], held, lease=notice.lease_until))
        if sendable:
            message = self._message(digest, sendable, context)
            if isinstance(message, outbox.Transition):
                planned.append(outbox.DigestChange(sendable, message, lease=digest[0].lease_until))
            else:
                planned.append((sendable, message))
        return planned

    def _message(self, digest: outbox.Digest, sendable: Sequence[outbox.NoticeRecord], context: outbox.FirmContext) -> Message | outbox.Transition:
        """The one message of a digest's sendable notices, or the change to make instead (deferred for quiet
        hours; dead if its words cannot be made)."""
        first = digest[0]
        channel = self.channels[first.channel]
        if channel.quiet_hours is not None and (until := channel.quiet_hours.next_allowed(self.clock())) is not None:
            return outbox.Transition(S.DEFERRED, "defer", "quiet_hours", reason="SMS quiet hours", next_attempt_at=until)
        # A retry sends the words first sent, unless one of the notices they told of may no longer be told.
        if len(sendable) == len(digest) and (stored := next((n.message for n in digest if n.message is not None), None)) is not None:
            return message_from_json(first.channel, stored)
        assert context.firm is not None
        try:
            return self.compose(sendable, profile.nest(first.uscc, context.firm.fields), {d.id: d.decision for d in context.decisions})
        except ValueError as exc:  # the words cannot be made (e.g. a firm name too long for an SMS variable)
            return outbox.Transition(S.DEAD, "compose", "unrenderable", reason=str(exc))

    async def _send(
        self, channel: Channel, sendable: outbox.Digest, message: Message, at_once: asyncio.Semaphore, paced: bool
    ) -> outbox.DigestChange | notice_status.IllegalTransition | None:
        """Hand one digest's message to its provider; the change its answer calls for (None: a defect, left to
        its lease; an IllegalTransition: the claim ran out first, nothing sent)."""
        first = sendable[0]
        async with at_once:
            if not paced:
                await channel.limiter.acquire()
            if self._stopping:
                return self._released(sendable)
            if first.lease_until is not None and self.clock() >= first.lease_until:
                # Too late: another worker may already have recovered this claim. Sending now could repeat it.
                return notice_status.IllegalTransition(f"digest {first.digest_id}: the lease ran out before sending; left for recovery")
            timer = metrics.SendTimer()
            try:
                # A provider that stops answering must not hold its lane (nor the lease) for ever.
                result = await asyncio.wait_for(channel.sender.send(message), timeout=constants.NOTICE_SEND_TIMEOUT_SECONDS)
            except TimeoutError:
                result = channels.SendResult(
                    channels.Outcome.RETRY, reason=f"no answer from the provider within {constants.NOTICE_SEND_TIMEOUT_SECONDS:g} s",
                    ambiguous=True,
                )
            except Exception:  # one digest's defect must not stop the batch; its lease will expire
                log.exception("digest %s could not be delivered", first.digest_id, extra={"notice_id": first.digest_id})
                return None
            timer.done(first.channel, result.outcome.value)
        change = send_outcomes.after_send(sendable, result, dataclasses.asdict(message), self.clock(), self.backoff)
        return outbox.DigestChange(sendable, change, lease=first.lease_until)

    async def _write(
        self, digests: Sequence[outbox.Digest], changes: Sequence[tuple[int, outbox.DigestChange]],
        results: list[list[outbox.NoticeRecord] | notice_status.IllegalTransition],
    ) -> list[list[outbox.NoticeRecord] | notice_status.IllegalTransition]:
        """Write changes of claimed digests (by index in `digests`) in one transaction and add what they wrote to
        `results`; a digest whose claim was lost gets the IllegalTransition instead."""
        if not changes:
            return results
        for (index, item), done in zip(changes, await self.store.transition_digests([item for _, item in changes], expect=S.SENDING)):
            if isinstance(done, notice_status.IllegalTransition):
                results[index] = done
                continue
            first = digests[index][0]
            metrics.notice_transition(first.channel, item.change.new_status.value, len(done))
            for notice in done:
                log.debug(
                    "notice %s %s -> %s in digest %s (%s)", notice.notice_id, notice.channel, notice.status.value,
                    first.digest_id, item.change.reason or item.change.outcome,
                    extra={"notice_id": notice.notice_id, "digest_id": first.digest_id, "uscc": notice.uscc,
                           "clause_id": notice.clause_id, "channel": notice.channel},
                )
            if not isinstance(results[index], notice_status.IllegalTransition):
                results[index] += done
        return results

    async def _wait(self, notice: outbox.NoticeRecord) -> outbox.NoticeRecord:
        """Park a notice that lacks an address or consent until a contact event wakes it. The store looks
        at the firm's contact again as it writes: one that arrived since the worker read the firm
        finds the notice due again instead (its fold saw nothing waiting to wake)."""
        updated = await self.store.wait_for_contact(notice)
        metrics.notice_transition(notice.channel, updated.status.value)
        log.debug(
            "notice %s %s -> %s (%s)", notice.notice_id, notice.channel, updated.status.value, updated.reason,
            extra={"notice_id": notice.notice_id, "uscc": notice.uscc, "clause_id": notice.clause_id, "channel": notice.channel},
        )
        return updated

    async def run_forever(self) -> None:
        """Work until stopped. Each channel is a lane of its own (send what is due, then wait for a
        wake-up or the poll interval), so a stalled or slow provider holds up only its own channel;
        interrupted sends are recovered on a timer of their own, whatever the lanes are doing."""
        for channel in self.channels.values():
            await channel.sender.open()
        try:
            await asyncio.gather(self._recovering(), *(self._lane(name) for name in self.channels))
        finally:
            for channel in self.channels.values():
                await channel.sender.close()

    async def _lane(self, name: str) -> None:
        wakeup = self._wakeups[name]
        while not self._stopping:
            wakeup.clear()
            try:
                await self._drain(name)
            except tasks.TRANSIENT as exc:
                log.error("delivery worker (%s): storage unavailable (%s); retrying", name, exc)
            try:
                await asyncio.wait_for(wakeup.wait(), timeout=self.poll_seconds)
            except TimeoutError:
                pass

    async def _recovering(self) -> None:
        while not self._stopping:
            try:
                if await self.recover():
                    self.wake()  # a recovered email is due again at once
            except tasks.TRANSIENT as exc:
                log.error("delivery worker: storage unavailable for recovery (%s); retrying", exc)
            try:
                await asyncio.wait_for(self._stopped.wait(), timeout=self.recovery_seconds)
            except TimeoutError:
                pass

    async def stop(self, task: asyncio.Task[None], timeout: float) -> None:
        """Finish the notice in hand on each channel, then end (a send is never cut off half-way)."""
        self._stopping = True
        self._stopped.set()
        self.wake()
        await tasks.finish(task, timeout)


#: The delivery worker running in this process (absent when delivery runs elsewhere).
DELIVERY = web.AppKey("delivery", DeliveryWorker)
