"""A backfill shared by several processes, on one machine or many: batches claimed from the database.

``start`` stores a run (what it judges, as of when, with which rules) and its batches, the key ranges of
the firms stored now. Any number of processes then ``work`` on it, each on its own connection to the
same database: claim the lowest batch not taken (or whose lease ended), judge it, write its changes in
one transaction, mark it done, until none is left. No process is the writer for the others, so the
writes of N processes go to the database side by side (docs/scaling.md has the figures). A process
that dies gives its batch up when the lease ends; the next claimer judges it again, which is harmless:
a backfill records only the decisions that change.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import logging
import multiprocessing
import os
import socket
import uuid
from collections.abc import Callable

from engine import constants
from engine.backfill import preview, runner, shared_rules, store
from engine.judging import catalogue, judge

log = logging.getLogger(__name__)


class RunMismatch(ValueError):
    """A process would judge a run with other rules than the run was started with."""


def rules_version(matcher: runner.Matcher, clause_ids: frozenset[str] | None) -> str:
    """The digest of the rule versions of the clauses a run judges (shared_rules.catalogue_version)."""
    return shared_rules.catalogue_version(
        (c.id, c.rule_version) for c in matcher.catalogue.firm_facing() if clause_ids is None or c.id in clause_ids)


async def start(target: store.BackfillStore, matcher: runner.Matcher, plan: runner.Plan, *, run_id: str | None = None) -> store.RunSpec:
    """Store a run of ``plan`` and its batches of ``plan.batch_size`` firms (a real run: never a dry one)."""
    if plan.dry_run:
        raise ValueError("a shared backfill records decisions: preview it with an ordinary --dry-run first")
    spec = store.RunSpec(run_id or uuid.uuid4().hex[:12], plan.as_of, plan.clause_ids, plan.actor, plan.first_only,
                         rules_version(matcher, plan.clause_ids))
    bounds = [bound async for bound in target.batch_bounds(plan.batch_size)]
    await target.create_run(spec, bounds)
    return spec


def worker_name(number: int = 0) -> str:
    """Who holds a claim, as the batch table shows it: host, process and worker number."""
    return f"{socket.gethostname()}:{os.getpid()}:{number}"


async def work(
    target: store.BackfillStore, matcher: runner.Matcher, spec: store.RunSpec, *, worker: str,
    lease: dt.timedelta = dt.timedelta(seconds=constants.BACKFILL_LEASE_SECONDS),
    clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    progress: Callable[[int], None] | None = None,
) -> preview.Tally:
    """Claim, judge and write the run's batches until none is left; what this worker judged and wrote."""
    if rules_version(matcher, spec.clause_ids) != spec.catalogue_version:
        raise RunMismatch(f"backfill run {spec.run_id} was started with other rule files than this process has: "
                          "join it with the same rules/ (and ../shared/measures) as the process that started it")
    judged = judge.Judge(matcher, spec.as_of, spec.clause_ids)
    total = preview.Tally()
    while (claim := await target.claim_batch(spec.run_id, worker, clock(), lease)) is not None:
        result = await runner.judge_batch(target, judged, claim.after, claim.upto, dry_run=False, list_changes=0,
                                          first_only=spec.first_only)
        await runner.record(target, result, spec.as_of, spec.actor)
        tally = result.tally
        if not await target.finish_batch(claim, worker, clock(), firms=tally.firms, recorded=tally.recorded,
                                         notices=tally.notices_created):
            # Its lease ended before it finished: another worker holds the batch and will judge it again
            # (finding nothing left to write); this one's counts stay out of the run's totals.
            log.warning("backfill run %s: batch %d took longer than its lease; another worker has it", spec.run_id, claim.seq)
        total.merge(tally)
        if progress is not None:
            progress(tally.firms)
    return total


async def work_in_processes(
    spec: store.RunSpec, workers: int, open_store: Callable[[], store.BackfillStore],
    catalogue_dirs: tuple[str | None, str | None],
) -> preview.Tally:
    """``work`` in ``workers`` processes, each with its own connections and evaluator, claiming side by side."""
    total = preview.Tally()
    # spawn, not fork: the caller holds an event loop, database connections and the C engine's state.
    with concurrent.futures.ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        loop = asyncio.get_running_loop()
        jobs = [loop.run_in_executor(pool, _process_work, spec, number, open_store, catalogue_dirs, logging.getLogger().level)
                for number in range(workers)]
        for tally in await asyncio.gather(*jobs):
            total.merge(tally)
    return total


def _process_work(spec: store.RunSpec, number: int, open_store: Callable[[], store.BackfillStore],
                  catalogue_dirs: tuple[str | None, str | None], log_level: int) -> preview.Tally:
    logging.basicConfig(level=log_level)
    rules, measures = catalogue_dirs
    matcher = catalogue.default_matcher(rules, measures=measures)

    async def _go() -> preview.Tally:
        target = open_store()
        await target.open()
        runner.quiet_collector()
        try:
            return await work(target, matcher, spec, worker=worker_name(number))
        finally:
            await target.close()

    return asyncio.run(_go())


def progress_line(spec: store.RunSpec, progress: store.RunProgress) -> str:
    """The run's state in one line, for the command's output."""
    states = ", ".join(f"{progress.batches.get(state, 0):,} {state}" for state in (store.DONE, store.CLAIMED, store.PENDING))
    return (f"backfill run {spec.run_id} (as of {spec.as_of}): batches {states}; "
            f"{progress.firms:,} firms judged, {progress.recorded:,} decisions and {progress.notices:,} notices recorded")

