"""What a backfill needs from storage: firms in key ranges, and one transaction per batch of changes.

Both storage implementations provide it (``engine.testing.memory_backfill``, ``connectors.sql_backfill``),
so the same backfill runs in-process on the in-memory store in unit tests and across worker
processes on SQLite or PostgreSQL.
"""

from __future__ import annotations

import abc
import contextlib
import dataclasses
import datetime as dt
from collections.abc import AsyncIterator, Collection, Mapping, Sequence

from engine.judging import firm_input
from engine.notices import outbox

#: What became of a window opening (:class:`OpeningRecord`): its firms were judged as of its first day,
#: or it was found only after the window had closed again and nothing was judged.
JUDGED = "judged"
LAPSED = "lapsed"


@dataclasses.dataclass(frozen=True)
class OpeningRecord:
    """A clause window's opening, handled once (engine.backfill.opening): what it did and when."""

    clause_id: str
    opens_on: dt.date
    outcome: str
    firms: int = 0
    #: Decisions recorded on the clause, and firms found to meet it, when its firms were judged.
    decisions: int = 0
    met: int = 0
    handled_at: dt.datetime | None = None


@dataclasses.dataclass(frozen=True)
class Batch:
    """The firms with ``after < uscc <= upto`` and what a preview needs to know about them."""

    firms: list[firm_input.FirmInput]
    #: What these firms were told already, per (firm, clause, channel, period) (notice_rules.told_of): a
    #: dry run counts only the notices it would add.
    told: Mapping[outbox.BenefitKey, outbox.Told]
    #: Clauses behind the 二次确认 gate: their new ``met`` decisions wait for approval.
    gated: frozenset[str]




#: The states of a shared backfill's batch (engine.backfill.shared):
PENDING = "pending"  #: not yet claimed, or released
CLAIMED = "claimed"  #: a process holds it until its lease ends (then any process may claim it again)
DONE = "done"  #: judged and its changes written


@dataclasses.dataclass(frozen=True)
class RunSpec:
    """A shared backfill (docs/scaling.md): what every process that joins it judges, and as of when."""

    run_id: str
    as_of: dt.date
    #: None: every firm-facing clause.
    clause_ids: frozenset[str] | None
    actor: str
    first_only: bool
    #: engine.backfill.shared.catalogue_version of the rules it was started with.
    catalogue_version: str
    created_at: dt.datetime | None = None


@dataclasses.dataclass(frozen=True)
class BatchClaim:
    """A batch a process claimed: its key range ``(after, upto]``, held until ``lease_until``."""

    run_id: str
    seq: int
    after: str
    upto: str
    lease_until: dt.datetime


@dataclasses.dataclass(frozen=True)
class RunProgress:
    """A shared backfill's batches by state, and what the finished ones judged and wrote."""

    batches: Mapping[str, int]
    firms: int = 0
    recorded: int = 0
    notices: int = 0

    @property
    def finished(self) -> bool:
        return sum(self.batches.values()) == self.batches.get(DONE, 0)


@dataclasses.dataclass(frozen=True)
class Recorded:
    """What one batch's transaction stored."""

    decisions: int = 0
    notices: int = 0
    pending_approval: int = 0
    #: Firms whose profile or decisions moved after they were read (the pipeline judged them since).
    skipped_firms: tuple[str, ...] = ()


class BackfillStore(abc.ABC):
    """Storage for :mod:`engine.backfill`."""

    @abc.abstractmethod
    async def firm_count(self) -> int:
        """How many firms there are (a progress bar's total)."""

    @abc.abstractmethod
    def batch_bounds(self, size: int) -> AsyncIterator[tuple[str, str]]:
        """``(after, upto)`` uscc ranges of about ``size`` firms each, in key order, covering every firm."""

    @abc.abstractmethod
    async def firm_batch(
        self, after: str, upto: str, clause_ids: Collection[str], grant_clause_ids: Collection[str] = ()
    ) -> Batch:
        """The firms in ``(after, upto]`` with their latest decision on each of ``clause_ids``
        and their ``met`` decisions with an amount on ``grant_clause_ids`` (accumulating caps)."""

    @abc.abstractmethod
    async def record_backfill(self, changes: Sequence[firm_input.Change], as_of: dt.date, actor: str) -> Recorded:
        """Store ``changes`` in one transaction: decisions, their audit entries and notices.

        A firm whose profile version or latest decision on a changed clause is no longer the one
        the change was computed from is skipped whole and named in the result.
        """

    @abc.abstractmethod
    async def windows_checked_through(self) -> dt.date | None:
        """The last day whose window openings were all handled (None: never checked)."""

    @abc.abstractmethod
    async def set_windows_checked_through(self, day: dt.date) -> None:
        """Record that every opening up to ``day`` is handled; a later day only (the mark never moves back)."""

    @abc.abstractmethod
    def window_check_turn(self) -> contextlib.AbstractAsyncContextManager[bool]:
        """While held (True), no other process of the service checks window openings on this database;
        False when another one is checking now (it will have handled them when it is done)."""

    @abc.abstractmethod
    async def record_opening(self, record: OpeningRecord) -> bool:
        """Keep that an opening was handled; False (and nothing changed) if it was recorded before."""

    @abc.abstractmethod
    async def window_openings(self) -> list[OpeningRecord]:
        """Every opening handled, oldest first (by day, then clause)."""

    @abc.abstractmethod
    async def stored_rule_versions(self) -> dict[str, set[str]]:
        """Clause id → the rule versions of the firms' latest decisions on it (older history is superseded)."""

    # A shared backfill (engine.backfill.shared): batches claimed from the database by any number of processes.

    @abc.abstractmethod
    async def create_run(self, spec: RunSpec, bounds: Sequence[tuple[str, str]]) -> None:
        """Store a run and its batches (each ``(after, upto]``, numbered from 0), all pending, in one transaction."""

    @abc.abstractmethod
    async def get_run(self, run_id: str) -> RunSpec | None:
        """The run, or None if there is none by that id."""

    @abc.abstractmethod
    async def claim_batch(self, run_id: str, worker: str, now: dt.datetime, lease: dt.timedelta) -> BatchClaim | None:
        """The lowest batch of the run that is pending or whose lease ended before ``now``, claimed by
        ``worker`` until ``now + lease``; None when none is left. Two processes never get the same batch
        while its lease holds."""

    @abc.abstractmethod
    async def finish_batch(self, claim: BatchClaim, worker: str, now: dt.datetime, *, firms: int, recorded: int,
                           notices: int) -> bool:
        """Mark the batch done with what it judged and wrote; False (nothing changed) if ``worker`` no
        longer holds it (its lease ended and another process claimed it)."""

    @abc.abstractmethod
    async def run_progress(self, run_id: str) -> RunProgress:
        """The run's batches by state and the totals of those done."""
