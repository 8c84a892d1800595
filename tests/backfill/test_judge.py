"""The backfill's two-tier judge stores exactly what the pipeline's matcher would.

For synthetic firms ingested through the real path, at dates inside and outside the measures'
windows, with and without earlier decisions: the changes `Judge.changes` returns equal
`recording.changed_decisions(matcher.match(profile, as_of, context), previous)`, decision for
decision (status, amount, rule version, explanation), for durable-rules and for the reference.
"""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from engine.backfill import runner
from engine.core import profile
from engine.ingest import synth
from engine.judging import firm_input, judge, recording
from engine.judging.catalogue import reference
from engine.testing import memory_storage
from tests.backfill import helpers

DATES = [dt.date(2022, 3, 1), dt.date(2022, 7, 15), dt.date(2023, 5, 1), dt.date(2026, 11, 21)]


@pytest.fixture(scope="module")
def ingested(production_matcher):
    """40 synthetic firms folded and judged by the pipeline (built once: the tests only read it)."""
    store = memory_storage.InMemoryStorage()
    events = [e for _, firm_events in synth.generate(40, seed=7) for e in firm_events]
    asyncio.run(helpers.ingest(store, production_matcher, events))
    return store


def _expected(store, matcher, uscc: str, as_of: dt.date, clause_ids=None):
    stored = store.stored_decisions.get(uscc, [])
    context = recording.match_context(frozenset(store.designations_by_county.get(store.firms[uscc].fields.get("region"), ())), stored)
    new = matcher.match(profile.nest(uscc, store.firms[uscc].fields), as_of, context)
    if clause_ids is not None:
        new = [d for d in new if d.clause_id in clause_ids]
    return recording.changed_decisions(new, context.previous)


@pytest.mark.parametrize("as_of", DATES, ids=str)
@pytest.mark.parametrize("engine", ["durable", "reference"])
async def test_changes_equal_what_the_pipeline_would_store(ingested, production_matcher, engine, as_of):
    matcher = production_matcher if engine == "durable" else reference.ReferenceMatcher(production_matcher.catalogue)
    judged = judge.Judge(matcher, as_of)
    batch = await ingested.firm_batch("", "~", judged.clause_ids, runner.inputs.accumulating(judged.catalogue).keys())
    assert len(batch.firms) >= 40
    compared = 0
    for firm in batch.firms:
        _outcomes, changes = judged.changes(firm)
        got = [c.decision for c in changes]
        assert got == _expected(ingested, matcher, firm.uscc, as_of), firm.uscc
        compared += len(got)
    assert compared > 0  # the comparison covered real changes, not only empty lists


async def test_a_clause_subset_judges_only_those_clauses(ingested, production_matcher):
    clause_ids = frozenset(c.id for c in production_matcher.catalogue.firm_facing() if c.slug == "yunnan-2022")
    judged = judge.Judge(production_matcher, DATES[1], clause_ids)
    batch = await ingested.firm_batch("", "~", clause_ids)
    for firm in batch.firms:
        outcomes, changes = judged.changes(firm)
        assert {o.clause_id for o in outcomes} <= clause_ids
        assert [c.decision for c in changes] == _expected(ingested, production_matcher, firm.uscc, DATES[1], clause_ids)


async def test_a_firm_never_judged_gets_every_in_scope_clause(ingested, production_matcher):
    judged = judge.Judge(production_matcher, DATES[1])
    firm = (await ingested.firm_batch("", "~", judged.clause_ids)).firms[0]
    fresh = firm_input.FirmInput(firm.uscc, firm.fields, firm.version, priors={})
    outcomes, changes = judged.changes(fresh)
    assert {c.decision.clause_id for c in changes} == {o.clause_id for o in outcomes if o.in_scope}
    # Every clause that reaches a firm in 2022 is among them: in force then and its jurisdiction holds the firm.
    region = firm.fields["region"]
    reaching = {c.id for c in production_matcher.catalogue.firm_facing()
                if c.in_window(DATES[1]) and judge.reference.in_jurisdiction(region, c.jurisdiction)}
    assert {o.clause_id for o in outcomes} == reaching
    assert all(c.prior_id is None for c in changes)


@pytest.mark.parametrize("as_of", DATES, ids=str)
async def test_the_pipelines_judge_keeps_exactly_the_changed_decisions(ingested, production_matcher, as_of):
    changes = judge.ChangesMatcher(production_matcher)
    compared = 0
    for uscc, record in sorted(ingested.firms.items()):
        stored = ingested.stored_decisions.get(uscc, [])
        context = recording.match_context(frozenset(ingested.designations_by_county.get(record.fields.get("region"), ())), stored)
        got = changes.match(profile.nest(uscc, record.fields), as_of, context)
        assert got == _expected(ingested, production_matcher, uscc, as_of), uscc
        compared += len(got)
    assert compared > 0
