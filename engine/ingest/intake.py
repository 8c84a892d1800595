"""Admission control for the webhook: how many deliveries the service works on at once.

A service that takes every delivery it is offered, when it cannot keep up, answers them ever later:
past the sender's timeout they count as lost to the sender although they may still be stored (and
will be delivered again). Refusing what is over a bound at once, with 503 and Retry-After, keeps the
answers to what is admitted quick, stores nothing of what is refused, and tells the sender when to
try again (Standard Webhooks senders retry a 5xx).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator


class Overloaded(Exception):
    """A delivery refused because `Intake.limit` deliveries are already in hand."""


class Intake:
    """Counts the deliveries in hand; `admit()` refuses one past `limit`, and `overdue()` tells a
    delivery admitted more than `deadline` seconds ago, not to be stored any more."""

    def __init__(self, limit: int, deadline: float) -> None:
        self.limit = limit
        self.deadline = deadline
        self.in_flight = 0

    @contextlib.contextmanager
    def admit(self) -> Iterator[float]:
        """Hold one of the `limit` places for the block, or raise Overloaded when none is free; the
        block gets the time of admission (time.monotonic)."""
        if self.in_flight >= self.limit:
            raise Overloaded(f"{self.in_flight} deliveries are in hand (at most {self.limit})")
        self.in_flight += 1
        try:
            yield time.monotonic()
        finally:
            self.in_flight -= 1

    def overdue(self, admitted: float) -> bool:
        """Whether a delivery admitted at `admitted` has waited too long to be stored now: its sender
        may have given up, and an event stored after that counts as lost to the sender."""
        return time.monotonic() - admitted >= self.deadline
