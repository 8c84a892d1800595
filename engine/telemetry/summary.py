"""The periodic one-line summary a running service logs at INFO (events folded, decisions stored,
notices by outcome), so the default log level says what happened without a line per event or notice
(those are at DEBUG).

The counts are process-wide, like the Prometheus counters, and fed by the same calls
(`metrics.event_processed`, `event_failed`, `notice_transition`); `report` logs what was counted
since the last report and starts again from zero. An interval in which nothing happened logs nothing.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import AsyncIterator, Iterable

from engine import constants

log = logging.getLogger(__name__)

#: Notice outcomes the summary names, in this order (other statuses are left out of the line).
NOTICE_OUTCOMES = ("sent", "delivered", "failed", "undelivered", "dead", "deferred", "waiting", "held", "skipped")


class Tally:
    """Counts since the last report."""

    def __init__(self) -> None:
        self._counts: collections.Counter[str] = collections.Counter()

    def event(self, decision_statuses: Iterable[str]) -> None:
        """One folded event and the decisions it stored."""
        self._counts["events"] += 1
        self._counts["decisions"] += sum(1 for _ in decision_statuses)

    def event_failed(self) -> None:
        """One event parked as failed."""
        self._counts["events_failed"] += 1

    def notice(self, channel: str, status: str, count: int = 1) -> None:
        """`count` notice state changes to `status` on `channel` (a digest's notices move together)."""
        self._counts[f"notice:{status}"] += count
        self._counts[f"notice:{status}:{channel}"] += count

    def take(self) -> collections.Counter[str]:
        """The counts so far; counting starts again from zero."""
        counts, self._counts = self._counts, collections.Counter()
        return counts


#: The process's tally (module-level for the reason the metrics counters are: see engine.telemetry.metrics).
TALLY = Tally()


def line(counts: collections.Counter[str], seconds: float) -> str | None:
    """The summary of `counts` over `seconds`, or None if nothing happened."""
    if not +counts:
        return None
    parts = [f"{counts['events']} event(s) folded", f"{counts['events_failed']} failed", f"{counts['decisions']} decision(s) stored"]
    notices = []
    for status in NOTICE_OUTCOMES:
        total = counts[f"notice:{status}"]
        if total:
            by_channel = ", ".join(f"{channel} {counts[f'notice:{status}:{channel}']}" for channel in ("sms", "email")
                                   if counts[f"notice:{status}:{channel}"])
            notices.append(f"{status} {total} ({by_channel})" if by_channel else f"{status} {total}")
    parts.append("notices " + ("; ".join(notices) if notices else "none"))
    return f"last {seconds:g}s: " + ", ".join(parts)


def report(seconds: float, tally: Tally = TALLY) -> str | None:
    """Log (INFO) and return the summary of what `tally` counted since the last report."""
    text = line(tally.take(), seconds)
    if text is not None:
        log.info("%s", text)
    return text


async def report_forever(seconds: float = constants.LOG_SUMMARY_SECONDS) -> None:
    """Log the summary every `seconds` until cancelled (the service's lifetime)."""
    TALLY.take()  # start from the service's start, not from whatever ran before in this process
    while True:
        await asyncio.sleep(seconds)  # a timer, not a wait for some other task
        report(seconds)


@contextlib.asynccontextmanager
async def periodic(seconds: float = constants.LOG_SUMMARY_SECONDS) -> AsyncIterator[None]:
    """Log the summary every `seconds` while the block runs (`serve`, `worker`)."""
    task = asyncio.create_task(report_forever(seconds), name="log summary")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
