"""Runs a backfill: key-range batches judged and written by worker processes.

Each worker process opens its own connections and builds its own durable-rules evaluator (the C
engine is per process and per thread), reads a batch of firms, judges it (:mod:`engine.backfill.judge`)
and, in a real run, writes the decisions that change in one transaction (BackfillStore.record_backfill
makes everything it can before taking the write lock, so the workers hold it in turn only for the
inserts), then sends back its counters. The parent hands out key ranges, keeps at most a few batches
in flight (memory stays bounded whatever the number of firms) and merges the counters. With
``workers=0`` everything runs in the calling process, on any storage (the unit tests use the
in-memory one).
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import dataclasses
import datetime as dt
import logging
import multiprocessing
import os
import time
from collections.abc import Callable, Collection
from typing import Any

from engine import constants
from engine.backfill import preview, store
from engine.judging import catalogue, firm_input, judge
from engine.judging.catalogue import durable, inputs, reference
from engine.telemetry import collector

log = logging.getLogger(__name__)

Matcher = durable.DurableMatcher | reference.ReferenceMatcher


@dataclasses.dataclass(frozen=True)
class Plan:
    """What to re-judge, as of when, and how."""

    as_of: dt.date
    #: Clause ids to judge; None for every firm-facing clause.
    clause_ids: frozenset[str] | None = None
    dry_run: bool = False
    batch_size: int = constants.BACKFILL_BATCH_SIZE
    #: Worker processes; 0 judges in the calling process.
    workers: int = 0
    #: Keep up to this many individual changes for listing (``rules diff``).
    list_changes: int = 0
    actor: str = "backfill"
    #: Record decisions only on clauses a firm has none on yet (the window job: a firm the pipeline judged
    #: under a clause since its window opened was judged with fresher facts than its first day's).
    first_only: bool = False


@dataclasses.dataclass(frozen=True)
class ListedChange:
    """One decision that changes, for a listing: firm, clause, stored outcome and new outcome."""

    uscc: str
    clause_id: str
    before_status: str | None
    before_amount: float | None
    before_version: str | None
    after_status: str
    after_amount: float | None


@dataclasses.dataclass
class Result:
    """A finished backfill: the merged tally, listed changes and the wall time."""

    tally: preview.Tally
    listed: list[ListedChange]
    seconds: float


@dataclasses.dataclass
class _BatchResult:
    tally: preview.Tally
    changes: list[firm_input.Change]
    listed: list[ListedChange]


async def judge_batch(
    source: store.BackfillStore, judged: judge.Judge, after: str, upto: str, *, dry_run: bool, list_changes: int,
    first_only: bool = False,
) -> _BatchResult:
    """Read and judge the firms in ``(after, upto]``; the work one worker does per batch."""
    grant_ids = inputs.accumulating(judged.catalogue).keys() & judged.clause_ids
    batch = await source.firm_batch(after, upto, judged.clause_ids, grant_ids)
    tally = preview.Tally()
    changes: list[firm_input.Change] = []
    listed: list[ListedChange] = []
    for firm in batch.firms:
        if dry_run:
            outcomes, _attributes, _overrides = judged.outcomes(firm)
        else:
            outcomes, firm_changes = judged.changes(firm)
            changes += [c for c in firm_changes if c.prior_id is None] if first_only else firm_changes
        tally.count_firm(firm, outcomes, judged, batch)
        for outcome in outcomes:
            if outcome.changed and len(listed) < list_changes:
                listed.append(_listed(firm.uscc, outcome))
    return _BatchResult(tally, changes, listed)


async def record(target: store.BackfillStore, result: _BatchResult, as_of: dt.date, actor: str) -> None:
    """Write a judged batch's changes in one transaction, counting what was stored in its tally."""
    if not result.changes:
        return
    recorded = await target.record_backfill(result.changes, as_of, actor)
    result.tally.recorded += recorded.decisions
    result.tally.notices_created += recorded.notices
    result.tally.recorded_pending += recorded.pending_approval
    result.tally.skipped_firms += len(recorded.skipped_firms)
    skipped = frozenset(recorded.skipped_firms)
    result.tally.recorded_by_clause.update(c.decision.clause_id for c in result.changes if c.uscc not in skipped)
    if recorded.skipped_firms:
        log.warning("backfill: %d firm(s) moved while being judged, left to the pipeline: %s",
                    len(recorded.skipped_firms), ", ".join(recorded.skipped_firms[:10]))


def _listed(uscc: str, outcome: judge.Outcome) -> ListedChange:
    prior = outcome.prior
    return ListedChange(
        uscc=uscc, clause_id=outcome.clause_id,
        before_status=prior.status.value if prior else None, before_amount=prior.amount if prior else None,
        before_version=prior.rule_version if prior else None,
        after_status=outcome.status.value, after_amount=outcome.amount,
    )


async def run(
    target: store.BackfillStore,
    matcher: Matcher,
    plan: Plan,
    *,
    open_store: Callable[[], store.BackfillStore] | None = None,
    catalogue_dirs: tuple[str | None, str | None] = (None, None),
    progress: Callable[[int], None] | None = None,
) -> Result:
    """Judge every firm in ``target`` per ``plan``; in a real run record the changes.

    ``open_store`` (a picklable callable returning an unopened store on the same database, such as
    ``functools.partial(SqlStorage, url)``) and the rules/measures directories the matcher was loaded
    from are what worker processes need to open the same database and catalogue; required when
    ``plan.workers > 0``. ``progress`` is called with the number of firms each finished batch held.
    """
    started = time.perf_counter()
    judged = judge.Judge(matcher, plan.as_of, plan.clause_ids)
    total = preview.Tally()
    listed: list[ListedChange] = []
    in_flight: collections.deque[asyncio.Future[_BatchResult]] = collections.deque()
    pool = _pool(plan, open_store, catalogue_dirs) if plan.workers > 0 else None

    async def settle(result: _BatchResult) -> None:
        if not plan.dry_run and pool is None:
            await record(target, result, plan.as_of, plan.actor)
        total.merge(result.tally)
        listed.extend(result.listed[: max(0, plan.list_changes - len(listed))])
        if progress is not None:
            progress(result.tally.firms)

    try:
        async for after, upto in target.batch_bounds(plan.batch_size):
            if pool is None:
                await settle(await judge_batch(target, judged, after, upto, dry_run=plan.dry_run,
                                               list_changes=plan.list_changes, first_only=plan.first_only))
                continue
            loop = asyncio.get_running_loop()
            in_flight.append(loop.run_in_executor(pool, _worker_batch, after, upto))
            if len(in_flight) >= plan.workers * constants.BACKFILL_BATCHES_PER_WORKER:
                await settle(await in_flight.popleft())
        while in_flight:
            await settle(await in_flight.popleft())
    finally:
        for pending in in_flight:
            pending.cancel()
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    return Result(total, listed, time.perf_counter() - started)


def _pool(
    plan: Plan, open_store: Callable[[], store.BackfillStore] | None, catalogue_dirs: tuple[str | None, str | None]
) -> concurrent.futures.ProcessPoolExecutor:
    if open_store is None:
        raise ValueError("worker processes need a way to open the store")
    # spawn, not fork: the parent holds an event loop, database connections and the C engine's state.
    return concurrent.futures.ProcessPoolExecutor(
        max_workers=plan.workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_worker_start,
        initargs=(open_store, catalogue_dirs, plan, logging.getLogger().level),
    )


# Worker process side ---------------------------------------------------------------------------

_worker: dict[str, Any] = {}


def _worker_start(
    open_store: Callable[[], store.BackfillStore], catalogue_dirs: tuple[str | None, str | None], plan: Plan, log_level: int
) -> None:
    """Open the database and build the evaluator once per worker process."""
    logging.basicConfig(level=log_level)
    rules, measures = catalogue_dirs
    matcher = catalogue.default_matcher(rules, measures=measures)
    loop = asyncio.new_event_loop()
    source = open_store()
    loop.run_until_complete(source.open())
    _worker.update(loop=loop, source=source, judge=judge.Judge(matcher, plan.as_of, plan.clause_ids), plan=plan)
    quiet_collector()
    log.debug("backfill worker %d ready", os.getpid())


def quiet_collector() -> None:
    """Tune the garbage collector for a worker process that is ready to judge: what is alive now (modules,
    the catalogue, the evaluator) stays alive, so it is frozen out of the collector's reach, and the
    collections come less often (constants.BACKFILL_GC_THRESHOLDS); the batches' objects are freed by
    reference counting as before."""
    collector.freeze_start_up(constants.BACKFILL_GC_THRESHOLDS)


def _worker_batch(after: str, upto: str) -> _BatchResult:
    plan: Plan = _worker["plan"]
    result = _worker["loop"].run_until_complete(
        judge_batch(_worker["source"], _worker["judge"], after, upto, dry_run=plan.dry_run, list_changes=plan.list_changes,
                    first_only=plan.first_only)
    )
    if not plan.dry_run:
        # Each worker writes its own batches: what does not need the write lock is made beside the judging,
        # and the processes hold the lock in turn only for what does (BackfillStore.record_backfill).
        _worker["loop"].run_until_complete(record(_worker["source"], result, plan.as_of, plan.actor))
        result.changes = []
    return result


def changed_clauses(matcher: Matcher, stored: dict[str, set[str]]) -> list[str]:
    """Firm-facing clauses whose current rule version differs from a version decisions were stored with,
    plus clauses no decision was ever stored for (new rules)."""
    current = {clause.id: clause.rule_version for clause in matcher.catalogue.firm_facing()}
    return sorted(
        clause_id for clause_id, version in current.items()
        if clause_id not in stored or stored[clause_id] - {version}
    )


def unknown_clauses(matcher: Matcher, clause_ids: Collection[str]) -> list[str]:
    """The given ids that are not firm-facing clauses of the catalogue."""
    known = {clause.id for clause in matcher.catalogue.firm_facing()}
    return sorted(set(clause_ids) - known)
