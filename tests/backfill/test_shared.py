"""Issue 16, item 2: a backfill whose batches are claimed from the database, so that several processes
(on several machines) share one run. Each worker claims, judges and writes its own batches; every firm
is judged and every change written exactly once, whoever holds which batch, and a batch whose worker
died is taken up again when its lease ends."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from connectors import sql_storage
from engine.backfill import runner, shared, store as backfill_store
from engine.judging.catalogue import durable, loader
from tests.backfill import helpers

AS_OF = dt.date(2022, 4, 15)
T0 = dt.datetime(2026, 12, 6, 1, 0, tzinfo=dt.UTC)
LEASE = dt.timedelta(minutes=5)


@pytest.fixture
async def judged_with_draft(store, tmp_path):
    """The three 西宁 firms judged by the pipeline under the mis-encoded (exclusive) threshold."""
    await helpers.ingest(store, helpers.wrong_matcher(tmp_path), helpers.qinghai_vat_firms())
    return store


async def _other_process(store):
    """A second worker's own connection to the same database (the memory store is shared as it is)."""
    if not isinstance(store, sql_storage.SqlStorage):
        return store
    other = sql_storage.SqlStorage(store.url)
    await other.open()
    return other


def _plan(**kwargs) -> runner.Plan:
    return runner.Plan(as_of=AS_OF, clause_ids=frozenset({helpers.CLAUSE}), batch_size=1, **kwargs)


async def _met(store, uscc: str) -> list[str]:
    """The firm's decisions on the clause, oldest first, from its last `not_met` (the draft's verdict) on."""
    found = [d.decision.status.value for d in await store.decisions(uscc) if d.decision.clause_id == helpers.CLAUSE]
    return found[len(found) - 1 - found[::-1].index("not_met"):]


async def test_two_workers_share_a_run_and_judge_every_firm_once(judged_with_draft, production_matcher):
    store = judged_with_draft
    assert await _met(store, helpers.AT_THRESHOLD) == ["not_met"]  # the draft's mistake, to correct
    told_before = sum((await store.count_notices()).values())
    spec = await shared.start(store, production_matcher, _plan())
    assert await store.get_run(spec.run_id) == as_stored(spec, await store.get_run(spec.run_id))
    other = await _other_process(store)
    try:
        first, second = await asyncio.gather(
            shared.work(store, production_matcher, spec, worker="host-a:1:0"),
            shared.work(other, production_matcher, await other.get_run(spec.run_id), worker="host-b:1:0"),
        )
    finally:
        if other is not store:
            await other.close()
    # Three firms, one batch each: every batch judged by exactly one of the two workers. Each firm's decision
    # is recorded again under the corrected rule's version; only the firm at exactly 150,000 becomes met and
    # is told (one SMS and one email notice).
    assert first.firms + second.firms == 3
    assert first.recorded + second.recorded == 3 and first.notices_created + second.notices_created == 2
    progress = await store.run_progress(spec.run_id)
    assert progress.finished and dict(progress.batches) == {backfill_store.DONE: 3}
    assert (progress.firms, progress.recorded, progress.notices) == (3, 3, 2)
    assert sum((await store.count_notices()).values()) == told_before + 2  # exactly once, whoever judged it
    assert await _met(store, helpers.AT_THRESHOLD) == ["not_met", "met"]
    # Joining a finished run finds nothing left to do, and writes nothing.
    again = await shared.work(store, production_matcher, spec, worker="host-c:1:0")
    assert again.firms == 0 and await _met(store, helpers.AT_THRESHOLD) == ["not_met", "met"]


def as_stored(spec: backfill_store.RunSpec, stored: backfill_store.RunSpec | None) -> backfill_store.RunSpec | None:
    """The spec as stored: the same but for the time the store gave it."""
    assert stored is not None
    return backfill_store.RunSpec(spec.run_id, spec.as_of, spec.clause_ids, spec.actor, spec.first_only,
                                  spec.catalogue_version, stored.created_at)


async def test_a_batch_whose_worker_died_is_claimed_again_when_its_lease_ends(judged_with_draft, production_matcher):
    store = judged_with_draft
    spec = await shared.start(store, production_matcher, _plan())
    stalled = await store.claim_batch(spec.run_id, "host-a:1:0", T0, LEASE)  # then host-a dies
    assert stalled is not None and stalled.seq == 0
    # While the lease holds, the next worker gets the next batch, not the one held.
    held = await store.claim_batch(spec.run_id, "host-b:1:0", T0 + LEASE - dt.timedelta(seconds=1), LEASE)
    assert held is not None and held.seq == 1
    # After it, batch 0 is claimable again; the dead worker can no longer mark it done.
    rest = await shared.work(store, production_matcher, spec, worker="host-c:1:0", clock=lambda: T0 + LEASE + dt.timedelta(seconds=1))
    assert rest.firms == 2  # batch 0 again and batch 2 (batch 1 is still host-b's)
    assert not await store.finish_batch(stalled, "host-a:1:0", T0 + LEASE * 2, firms=1, recorded=0, notices=0)
    assert await store.finish_batch(held, "host-b:1:0", T0 + LEASE * 2, firms=1, recorded=0, notices=0)
    progress = await store.run_progress(spec.run_id)
    assert progress.finished and progress.firms == 3
    assert await _met(store, helpers.AT_THRESHOLD) == ["not_met", "met"]


async def test_a_worker_with_other_rules_is_refused(judged_with_draft, production_matcher, tmp_path):
    store = judged_with_draft
    spec = await shared.start(store, production_matcher, _plan())
    draft = durable.DurableMatcher(loader.load(helpers.wrong_rules(tmp_path / "draft")))
    with pytest.raises(shared.RunMismatch, match="other rule files"):
        await shared.work(store, draft, spec, worker="host-a:1:0")
    assert dict((await store.run_progress(spec.run_id)).batches) == {backfill_store.PENDING: 3}


async def test_a_shared_run_is_never_a_dry_run(store, production_matcher):
    with pytest.raises(ValueError, match="dry-run"):
        await shared.start(store, production_matcher, _plan(dry_run=True))
