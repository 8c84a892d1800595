"""In-memory email and SMS senders for tests: they record every attempt and answer from a script.

    sender = MemorySmsSender()
    sender.script([Outcome.RETRY, Outcome.SENT])   # first attempt fails, second succeeds
    ...
    assert [m.notice_id for m in sender.sent] == ["ntc_1"]

With an empty script every attempt is SENT. Provider ids are "mem-1", "mem-2", … in the order
messages are accepted.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from typing import Generic, TypeVar

from engine.notices import channels

MessageT = TypeVar("MessageT", channels.EmailMessage, channels.SmsMessage)


class _MemorySender(Generic[MessageT]):
    def __init__(self) -> None:
        #: Messages accepted (outcome SENT), in order.
        self.sent: list[MessageT] = []
        #: Every attempt with the result it got, in order.
        self.attempts: list[tuple[MessageT, channels.SendResult]] = []
        self.opened = False
        self.closed = False
        self._script: deque[channels.Outcome | channels.SendResult] = deque()
        self._accepted = 0

    def script(self, outcomes: Iterable[channels.Outcome | channels.SendResult]) -> None:
        """Queue the answers to the next attempts: an Outcome (with a stock reason) or a full
        SendResult. Attempts beyond the script are SENT."""
        self._script.extend(outcomes)

    async def open(self) -> None:
        """Mark the sender open."""
        self.opened = True

    async def close(self) -> None:
        """Mark the sender closed."""
        self.closed = True

    async def send(self, message: MessageT) -> channels.SendResult:
        """Record the attempt and answer with the next scripted outcome (SENT by default)."""
        planned = self._script.popleft() if self._script else channels.Outcome.SENT
        if isinstance(planned, channels.SendResult):
            result = planned
        elif planned is channels.Outcome.SENT:
            # Ids unique across senders, as a provider's are: a receipt looked up by id finds one notice.
            result = channels.SendResult(planned, provider_id=f"mem-{self.kind}-{self._accepted + 1}", response="accepted")
        else:
            result = channels.SendResult(planned, reason=f"scripted {planned.value}")
        if result.outcome is channels.Outcome.SENT:
            self._accepted += 1
            self.sent.append(message)
        self.attempts.append((message, result))
        return result


class MemoryEmailSender(_MemorySender[channels.EmailMessage]):
    """engine.channels.EmailSender that keeps messages in `.sent`."""

    kind = "email"


class MemorySmsSender(_MemorySender[channels.SmsMessage]):
    """engine.channels.SmsSender that keeps messages in `.sent`."""

    kind = "sms"
