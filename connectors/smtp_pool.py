"""Several SMTP sessions to one relay, as one EmailSender: the delivery worker sends a batch's messages
side by side, each built (MIME, the CPU-bound part) before it waits for a free session, so one message's
building overlaps another's round trips to the relay.

Each session is a `connectors.email.SmtpSender` (reused, renewed every `max_messages_per_connection`
messages); a message goes over whichever session is free. Outcomes are SmtpSender's.
"""

from __future__ import annotations

import asyncio

from connectors import email
from engine.notices import channels


class SmtpPool:
    """engine.channels.EmailSender over `size` SMTP sessions (see the module docstring)."""

    def __init__(self, settings: email.SmtpSettings, size: int) -> None:
        if size < 1:
            raise ValueError(f"SMTP sessions must be at least 1, not {size}")
        self.settings = settings
        self.size = size
        self._senders = [email.SmtpSender(settings) for _ in range(size)]
        self._idle: asyncio.Queue[email.SmtpSender] = asyncio.Queue()
        for sender in self._senders:
            self._idle.put_nowait(sender)

    async def open(self) -> None:
        """Nothing up front: each session opens on its first send (SmtpSender.open)."""

    async def close(self) -> None:
        """QUIT every open session."""
        for sender in self._senders:
            await sender.close()

    async def send(self, message: channels.EmailMessage) -> channels.SendResult:
        """Build the message, then send it over the first free session."""
        settings = self.settings
        try:
            recipient, payload = email.render(message, from_address=settings.from_address, from_name=settings.from_name)
        except ValueError as exc:
            return channels.SendResult(channels.Outcome.DEAD, reason=f"invalid message: {exc}")
        sender = await self._idle.get()
        try:
            return await sender.send_rendered(message, recipient, payload)
        finally:
            self._idle.put_nowait(sender)
