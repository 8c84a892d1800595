"""When a notice may go out: quiet hours, provider rate limits, and back-off after failures."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import random
import time

from engine.core import china_time


@dataclasses.dataclass(frozen=True)
class QuietHours:
    """A daily window (China time) in which non-urgent SMS are not sent; it may span midnight."""

    start: datetime.time
    end: datetime.time

    @classmethod
    def parse(cls, text: str) -> QuietHours | None:
        """`"21:00-08:00"`; an empty string or `"off"` means no quiet hours."""
        if text.strip().lower() in ("", "off", "none"):
            return None
        try:
            start, end = (datetime.time.fromisoformat(part.strip()) for part in text.split("-"))
        except ValueError:
            raise ValueError(f"quiet hours {text!r}: write them as HH:MM-HH:MM, e.g. 21:00-08:00") from None
        if start == end:
            raise ValueError(f"quiet hours {text!r}: start and end are the same")
        return cls(start, end)

    def next_allowed(self, now: datetime.datetime) -> datetime.datetime | None:
        """None if `now` is outside the window; otherwise the moment the window ends (UTC)."""
        local = now.astimezone(china_time.CHINA_TZ)
        clock = local.time().replace(tzinfo=None)
        spans_midnight = self.start > self.end
        inside = (clock >= self.start or clock < self.end) if spans_midnight else (self.start <= clock < self.end)
        if not inside:
            return None
        end = local.replace(hour=self.end.hour, minute=self.end.minute, second=0, microsecond=0)
        if end <= local:
            end += datetime.timedelta(days=1)
        return end.astimezone(datetime.UTC)


class RateLimiter:
    """A token bucket: at most `per_second` sends on average, bursts up to one second's worth."""

    def __init__(self, per_second: float, clock=time.monotonic) -> None:
        if per_second <= 0:
            raise ValueError("a rate limit must be positive")
        self.rate = per_second
        self.capacity = max(1.0, per_second)
        self.tokens = self.capacity
        self.clock = clock
        self.updated = clock()

    def _refill(self) -> None:
        now = self.clock()
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now

    async def acquire(self) -> None:
        """Wait (pacing the worker, not dodging a race) until one send is allowed."""
        while True:
            self._refill()
            if self.tokens >= 1:
                self.tokens -= 1
                return
            await asyncio.sleep((1 - self.tokens) / self.rate)


@dataclasses.dataclass(frozen=True)
class Backoff:
    """Exponential back-off with full jitter, capped; `limit` attempts in all before a notice is dead."""

    base_seconds: float
    cap_seconds: float
    limit: int

    def delay(self, attempts: int, rng: random.Random | None = None) -> datetime.timedelta:
        """Delay before the next try after `attempts` failed attempts (≥ 1)."""
        ceiling = min(self.cap_seconds, self.base_seconds * 2 ** max(0, attempts - 1))
        return datetime.timedelta(seconds=(rng or random).uniform(ceiling / 2, ceiling))
