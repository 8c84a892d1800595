"""The service's window job: when a clause's window opens, judge every firm under it as of that day.

The pipeline judges a firm as of the day of each of its events; a firm whose facts all arrived
before a window opened would wait for its next event (or for an operator's backfill) to be judged
under the clause. This job checks the catalogue every :data:`~engine.constants.WINDOW_CHECK_SECONDS`:
each window that opened since the last day checked (:func:`engine.backfill.windows.due`) is judged
by the backfill's own machinery (:func:`engine.backfill.runner.run`), limited to the clauses that
opened and as of the day they opened, so decisions, notices, audit entries and the 二次确认 gate are
exactly a backfill's. A day a dated parameter of a clause changes value (``rules/README.md``, "Numbers")
is judged the same way, every firm again (not only those never judged under the clause): their
amount or verdict may change with the value.

Once: each opening handled is kept (``window_opening``) with what it did, and the last day whose
openings were all handled (``window_check``). A check that stops half-way (the service stopped, the
database went away) is taken up by the next one, which skips the openings already kept. One
interrupted between judging and keeping its record judges them again, which records nothing new: a
backfill that finds nothing changed stores nothing, and a notice is never created twice.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
from collections.abc import Callable

from aiohttp import web

from engine import constants
from engine.backfill import runner, store, windows
from engine.core import china_time
from engine.telemetry import tasks

log = logging.getLogger(__name__)

#: Who the audit trail names for what the window job records.
ACTOR = "window-opening"


@dataclasses.dataclass(frozen=True)
class Checked:
    """What one check did."""

    today: dt.date
    #: True when this was the first check ever: it only marked the day (nothing judged).
    started: bool = False
    #: True when another process of the service was checking: this one did nothing.
    elsewhere: bool = False
    openings: tuple[store.OpeningRecord, ...] = ()
    closed: tuple[windows.Change, ...] = ()
    notices: int = 0


class WindowWatcher:
    """Judges firms under clause windows as they open; see the module docstring."""

    def __init__(
        self,
        target: store.BackfillStore,
        matcher: runner.Matcher,
        *,
        today: Callable[[], dt.date] = china_time.today_in_china,
        interval: float = constants.WINDOW_CHECK_SECONDS,
        batch_size: int = constants.WINDOW_BATCH_SIZE,
    ) -> None:
        self.store = target
        self.matcher = matcher
        self.today = today
        self.interval = interval
        self.batch_size = batch_size
        #: Called after a check created notices (the delivery worker's wake-up).
        self.on_notices: list[Callable[[], None]] = []
        self._stopped = asyncio.Event()

    async def check(self) -> Checked:
        """Handle every window that opened since the last day checked, up to today (China), unless another
        process of the service is doing so now."""
        today = self.today()
        async with self.store.window_check_turn() as mine:
            if not mine:
                log.debug("window job: another process is checking the windows")
                return Checked(today, elsewhere=True)
            return await self._check(today)

    async def _check(self, today: dt.date) -> Checked:
        through = await self.store.windows_checked_through()
        if through is None:
            # The first check: windows already open were judged by the pipeline (and any backfill) as
            # their firms' events arrived. Watch from today on.
            await self.store.set_windows_checked_through(today)
            log.info("window job: watching clause windows from %s", today.isoformat())
            return Checked(today, started=True)
        handled = {(r.clause_id, r.opens_on) for r in await self.store.window_openings()}
        found = windows.due(self.matcher.catalogue, through, today, handled)
        kept: list[store.OpeningRecord] = []
        notices = 0
        # An opening judges the firms not judged under the clause yet; a dated parameter's new value, every firm.
        due = [(day, ids, True) for day, ids in found.judge.items()] + [(day, ids, False) for day, ids in found.rejudge.items()]
        for day, clause_ids, first_only in sorted(due, key=lambda item: item[0]):
            plan = runner.Plan(as_of=day, clause_ids=clause_ids, batch_size=self.batch_size, actor=ACTOR, first_only=first_only)
            result = await runner.run(self.store, self.matcher, plan)
            notices += result.tally.notices_created
            if result.tally.notices_created:
                for listener in self.on_notices:
                    listener()
            by_clause = result.tally.by_clause
            for clause_id in sorted(clause_ids):
                counts = by_clause.get(clause_id, {})
                record = store.OpeningRecord(
                    clause_id, day, store.JUDGED, firms=result.tally.firms,
                    decisions=result.tally.recorded_by_clause[clause_id], met=counts.get("met", 0),
                )
                if await self.store.record_opening(record):
                    kept.append(record)
            log.info(
                "window job: %d clause window(s) %s on %s (%s): %d firms judged, %d decisions and %d notices recorded",
                len(clause_ids), "opened" if first_only else "changed a dated value", day.isoformat(),
                ", ".join(sorted(clause_ids)), result.tally.firms,
                result.tally.recorded, result.tally.notices_created,
            )
        for clause_id, day in found.lapsed:
            record = store.OpeningRecord(clause_id, day, store.LAPSED)
            if await self.store.record_opening(record):
                kept.append(record)
            log.warning("window job: %s opened on %s and closed again before it was checked; nothing judged",
                        clause_id, day.isoformat())
        for change in found.closed:
            log.info("window job: %s is no longer in force from %s; nothing more is judged under it",
                     change.clause_id, change.on.isoformat())
        await self.store.set_windows_checked_through(today)
        return Checked(today, openings=tuple(kept), closed=found.closed, notices=notices)

    async def run_forever(self) -> None:
        """Check now (even if told to stop meanwhile: a service always checks once), then every
        ``interval`` seconds, until stopped."""
        while True:
            try:
                await self.check()
            except tasks.TRANSIENT as exc:
                log.error("window job: storage unavailable (%s); trying again at the next check", exc)
            except Exception:  # a defect must not end the job for good; the next check tries again
                log.exception("window job: the check failed; trying again at the next check")
            if self._stopped.is_set():
                return
            try:
                await asyncio.wait_for(self._stopped.wait(), timeout=self.interval)
            except TimeoutError:
                pass

    async def stop(self, task: asyncio.Task[None], timeout: float) -> None:
        """Let a check in hand finish (its batches are transactions), then end."""
        self._stopped.set()
        await tasks.finish(task, timeout)


#: The window job running in this service (absent in apps built without one).
WATCHER = web.AppKey("window_watcher", WindowWatcher)
