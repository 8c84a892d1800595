"""A rule correction, previewed then applied: `rules diff`'s changed clauses, a dry run that stores
nothing, a real run that records exactly what the dry run announced, and notices exactly once."""

from __future__ import annotations

import datetime as dt

import pytest

from engine import audit
from engine.audit import summaries
from engine.backfill import runner
from engine.core import matching
from tests.backfill import helpers

AS_OF = dt.date(2022, 4, 15)


async def _latest(store, uscc: str, clause_id: str) -> matching.Decision:
    return [d for d in await store.decisions(uscc) if d.decision.clause_id == clause_id][-1].decision


async def _counts(store) -> tuple[int, int, int]:
    decisions = sum([len(await store.decisions(u)) for u in (helpers.AT_THRESHOLD, helpers.BELOW, helpers.ABOVE)])
    notices = sum((await store.count_notices()).values())
    entries = [e async for e in store.audit_entries()]
    return decisions, notices, len(entries)


@pytest.fixture
async def judged_with_draft(store, tmp_path):
    """The three 西宁 firms judged by the pipeline under the mis-encoded (exclusive) threshold."""
    await helpers.ingest(store, helpers.wrong_matcher(tmp_path), helpers.qinghai_vat_firms())
    return store


async def test_the_draft_rule_missed_the_firm_at_exactly_150000(judged_with_draft):
    store = judged_with_draft
    assert (await _latest(store, helpers.AT_THRESHOLD, helpers.CLAUSE)).status != matching.Verdict.MET
    assert (await _latest(store, helpers.BELOW, helpers.CLAUSE)).status == matching.Verdict.MET


async def test_only_the_corrected_clause_counts_as_changed(judged_with_draft, production_matcher):
    stored = await judged_with_draft.stored_rule_versions()
    changed = runner.changed_clauses(production_matcher, stored)
    assert helpers.CLAUSE in changed
    # Every other clause already judged for these firms kept its version.
    assert not [c for c in changed if c in stored and c != helpers.CLAUSE]


async def test_dry_run_stores_nothing_and_announces_what_the_real_run_then_does(judged_with_draft, production_matcher):
    store = judged_with_draft
    before = await _counts(store)
    plan = runner.Plan(as_of=AS_OF, clause_ids=frozenset({helpers.CLAUSE}), dry_run=True, list_changes=10)
    preview = await runner.run(store, production_matcher, plan)

    assert await _counts(store) == before
    clause = preview.tally.by_clause[helpers.CLAUSE]
    # 150,000 now met (newly); 90,000 met and 150,001 re-confirmed under the new rule version
    # (150,001 is not met: the VAT part of the clause is decided by the sales alone; 小型微利企业 is its own part).
    assert (clause["changed"], clause["newly_met"], clause["no_longer_met"]) == (3, 1, 0)
    assert (clause["met"], clause["unknown"], clause["not_met"]) == (2, 0, 1)
    listed = {(c.uscc, c.before_status, c.after_status) for c in preview.listed}
    assert (helpers.AT_THRESHOLD, "unknown", "met") in listed or (helpers.AT_THRESHOLD, "not_met", "met") in listed
    # Only the firm at the threshold gets new notices: the one under it was notified for 2022 already.
    assert dict(preview.tally.notices) == {"email": 1, "sms": 1}

    applied = await runner.run(store, production_matcher, runner.Plan(as_of=AS_OF, clause_ids=frozenset({helpers.CLAUSE})))
    assert applied.tally.recorded == preview.tally.changes() == 3
    assert applied.tally.notices_created == sum(preview.tally.notices.values()) == 2
    assert applied.tally.skipped_firms == 0

    fixed = await _latest(store, helpers.AT_THRESHOLD, helpers.CLAUSE)
    assert fixed.status == matching.Verdict.MET
    assert fixed.rule_version == production_matcher.catalogue.by_id[helpers.CLAUSE].rule_version
    leaf = [c for c in fixed.explanation["conditions"] if c["attr"] == "vat_monthly_sales"][0]
    assert (leaf["op"], leaf["required"], leaf["seen"]) == ("le", 150000, 150000.0)
    assert {n.clause_id for n in await store.firm_notices(helpers.AT_THRESHOLD)} >= {helpers.CLAUSE}

    entries = [e async for e in store.audit_entries()]
    assert audit.verify(e.as_json() for e in entries).ok
    # One entry for the batch, not one per row: it counts the 3 decisions and 2 notices and hashes them,
    # and the rows still match it.
    [summary] = [e for e in entries if e.actor == "backfill"]
    assert (summary.action, summary.payload["decisions"]["count"], summary.payload["notices"]["count"]) == (
        summaries.ACTION, 3, 2)
    assert summaries.mismatch(summary.payload, *await store.summary_members(summary.payload)) is None
    # Applied: the clause no longer differs from what the firms' latest decisions were made with.
    assert helpers.CLAUSE not in runner.changed_clauses(production_matcher, await store.stored_rule_versions())


async def test_a_second_run_records_nothing_and_sends_nothing_again(judged_with_draft, production_matcher):
    store = judged_with_draft
    plan = runner.Plan(as_of=AS_OF, clause_ids=None)
    first = await runner.run(store, production_matcher, plan)
    assert first.tally.recorded > 0
    after_first = await _counts(store)
    second = await runner.run(store, production_matcher, plan)
    assert (second.tally.recorded, second.tally.notices_created, second.tally.changes()) == (0, 0, 0)
    assert await _counts(store) == after_first


async def test_a_gated_clause_waits_for_approval_instead_of_notifying(judged_with_draft, production_matcher):
    store = judged_with_draft
    await store.set_clause_approval(helpers.CLAUSE, True, "admin")
    plan = runner.Plan(as_of=AS_OF, clause_ids=frozenset({helpers.CLAUSE}))
    preview = await runner.run(store, production_matcher, runner.Plan(as_of=AS_OF, clause_ids=plan.clause_ids, dry_run=True))
    # Both new `met` decisions wait (the re-confirmed one too: approval is per decision, not per notice).
    assert (preview.tally.pending_approval, sum(preview.tally.notices.values())) == (2, 0)
    applied = await runner.run(store, production_matcher, plan)
    assert (applied.tally.recorded_pending, applied.tally.notices_created) == (2, 0)
    pending = await store.pending_approvals(helpers.CLAUSE)
    assert sorted(d.uscc for d in pending) == sorted([helpers.AT_THRESHOLD, helpers.BELOW])
    # Approving them notifies only the firm never notified for 2022.
    await store.resolve_approvals([d.id for d in pending], True, "operator", None)
    assert len([n for n in await store.firm_notices(helpers.AT_THRESHOLD) if n.clause_id == helpers.CLAUSE]) == 2
    assert len([n for n in await store.firm_notices(helpers.BELOW) if n.clause_id == helpers.CLAUSE]) == 2


async def test_a_firm_that_moves_while_judged_is_left_to_the_pipeline(judged_with_draft, production_matcher):
    store = judged_with_draft
    judged = runner.judge.Judge(production_matcher, AS_OF, frozenset({helpers.CLAUSE}))
    batch = await runner.judge_batch(store, judged, "", "~", dry_run=False, list_changes=0)
    assert {c.uscc for c in batch.changes} == {helpers.AT_THRESHOLD, helpers.BELOW, helpers.ABOVE}
    # A new VAT return for one firm arrives and is folded between the read and the write.
    late = helpers.factories.event("tax.vat_declared", firm=helpers.AT_THRESHOLD,
                                   occurred_at="2022-05-15T09:00:00+08:00", period="2022-04", sales=150001)
    await helpers.ingest(store, production_matcher, [dict(late, id="evt-late")])
    before = len(await store.decisions(helpers.AT_THRESHOLD))
    recorded = await store.record_backfill(batch.changes, AS_OF, "backfill")
    assert recorded.skipped_firms == (helpers.AT_THRESHOLD,)
    assert recorded.decisions == 2
    assert len(await store.decisions(helpers.AT_THRESHOLD)) == before
