"""The pipeline's judge (`judge.ChangesMatcher`) explains lazily and shares its compiled catalogue across dates.

Lazy: it computes every clause's verdict and explains only the decisions that will be stored; each
of those must be exactly the decision the eager path (`changed_decisions(matcher.evaluate(...))`,
every clause explained) stores, explanation included, on the catalogue's scenario firms and on
synthetic firms. Dates: judges of different dates share the clauses in force per span of dates
between window boundaries; events with varied dates, judged in any order by one matcher, get what
each gets judged alone, and the spans built stay bounded by the catalogue's windows. Facts: an
event builds the firm's fact and asks durable-rules once, explanations included.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt

import pytest

from engine.core import matching, profile
from engine.ingest import synth
from engine.judging import judge, recording
from engine.judging.catalogue import loader, model, reference, scenarios
from engine.testing import memory_storage
from tests.backfill import helpers

_CATALOGUE = loader.load()
_SCENARIOS = scenarios.load(_CATALOGUE)
MET, NOT_MET, UNKNOWN = matching.Verdict.MET, matching.Verdict.NOT_MET, matching.Verdict.UNKNOWN


def _matchers(production_matcher):
    return {"durable": production_matcher, "reference": reference.ReferenceMatcher(production_matcher.catalogue)}


def _other(status: matching.Verdict) -> matching.Verdict:
    return NOT_MET if status is MET else MET


@pytest.mark.parametrize("engine", ["durable", "reference"])
def test_stored_decisions_explain_exactly_as_the_eager_path_on_every_scenario(production_matcher, engine):
    matcher = _matchers(production_matcher)[engine]
    compared = explained = 0
    for scenario in _SCENARIOS:
        overrides = {} if scenario.granted is None else {scenario.clause: {model.GRANTED: scenario.granted}}
        judged = judge.Judge(matcher, scenario.as_of)
        eager = matcher.evaluate(scenario.attributes, scenario.as_of, overrides=overrides)
        (own,) = [d for d in eager if d.clause_id == scenario.clause]
        stored = matching.Decision(own.clause_id, own.cite, own.rule_version, _other(own.status))
        # Nothing stored yet (every clause that reaches the firm is recorded), and a stored decision on
        # the scenario's clause that its verdict now changes (so that clause is recorded whatever its scope).
        for previous in ({}, {scenario.clause: stored}):
            lazy = judged.changed_from(dict(scenario.attributes), overrides, previous)
            assert lazy == recording.changed_decisions(eager, previous), scenario.name
            compared += 1
            explained += len(lazy)
        assert own in judged.changed_from(dict(scenario.attributes), overrides, {scenario.clause: stored}), scenario.name
    assert compared == 2 * len(_SCENARIOS) > 0 and explained > compared


def test_a_lazily_explained_decision_is_the_one_the_eager_path_builds_field_for_field(production_matcher):
    (scenario,) = [s for s in _SCENARIOS if s.clause == "yunnan-2022-2-1" and s.amount == 48000.0 and s.profile is None]
    judged = judge.Judge(production_matcher, scenario.as_of)
    (lazy,) = [d for d in judged.changed_from(dict(scenario.attributes), {}, {}) if d.clause_id == scenario.clause]
    (eager,) = [d for d in production_matcher.evaluate(scenario.attributes, scenario.as_of) if d.clause_id == scenario.clause]
    assert dataclasses.asdict(lazy) == dataclasses.asdict(eager)
    assert lazy.status is MET and lazy.amount == 48000.0 and lazy.explanation["amount"]["amount"] == 48000.0
    assert lazy.explanation["conditions"] and lazy.facts


def _days(start: dt.date, end: dt.date, step: int) -> list[dt.date]:
    return [start + dt.timedelta(days=n) for n in range(0, (end - start).days + 1, step)]


def _boundary_days(catalogue: model.Catalogue) -> list[dt.date]:
    """Each window's first and last day and the days either side of them."""
    days = set()
    for clause in catalogue.firm_facing():
        for edge in (clause.valid_from, clause.valid_to):
            if edge is not None:
                days |= {edge - dt.timedelta(days=1), edge, edge + dt.timedelta(days=1)}
    return sorted(days)


def test_a_span_holds_exactly_the_clauses_in_force_on_each_of_its_days(production_matcher):
    compiled = judge.Compiled(production_matcher.catalogue)
    days = sorted(set(_days(dt.date(2021, 6, 1), dt.date(2027, 6, 1), 1)) | set(_boundary_days(production_matcher.catalogue)))
    for day in days:
        assert compiled.span(day).in_force == tuple(c for c in compiled.clauses if c.in_window(day)), day
    # Keyed by span, not by day: ~2,200 days share as many spans as the windows make, no more.
    assert len(compiled._spans) <= len(compiled.bounds) + 1 < 100


@pytest.fixture(scope="module")
def ingested(production_matcher):
    """24 synthetic firms folded and judged by the pipeline (built once: the tests only read it)."""
    store = memory_storage.InMemoryStorage()
    events = [e for _, firm_events in synth.generate(24, seed=11) for e in firm_events]
    asyncio.run(helpers.ingest(store, production_matcher, events))
    return store


@pytest.mark.parametrize("engine", ["durable", "reference"])
def test_varied_dates_in_one_matcher_judge_as_each_date_alone(ingested, production_matcher, engine):
    matcher = _matchers(production_matcher)[engine]
    dates = _days(dt.date(2021, 11, 3), dt.date(2024, 2, 1), 37) + _boundary_days(matcher.catalogue)
    shared = judge.ChangesMatcher(matcher)
    firms = sorted(ingested.firms.items())
    compared = changed = 0
    # Interleaved: consecutive events of different firms on different dates, as a historical load sends them.
    for n, as_of in enumerate(dates):
        uscc, record = firms[n % len(firms)]
        stored = ingested.stored_decisions.get(uscc, [])
        context = recording.match_context(frozenset(ingested.designations_by_county.get(record.fields.get("region"), ())), stored)
        nested = profile.nest(uscc, record.fields)
        got = shared.match(nested, as_of, context)
        alone = judge.Judge(matcher, as_of).changed_decisions(nested, context)
        eager = recording.changed_decisions(matcher.match(nested, as_of, context), context.previous)
        assert got == alone == eager, (uscc, as_of)
        compared += 1
        changed += len(got)
    assert compared == len(dates) and changed > 0
    assert len(shared.compiled._spans) <= len(shared.compiled.bounds) + 1 < len(dates)


def test_a_stored_decision_on_a_clause_that_no_longer_reaches_the_firm_is_recorded_in_catalogue_order(production_matcher):
    # A 昆明 firm with a grant stored on a 吕梁 clause (say, before it moved): the pipeline's judge
    # records that clause's not_met among Yunnan's first decisions in the order the eager path does.
    faraway = next(c for c in production_matcher.catalogue.firm_facing() if c.slug == "lvliang-2022" and c.executable)
    as_of = dt.date(2022, 7, 15)
    grant = matching.Decision(faraway.id, faraway.cite, faraway.rule_version, MET, period="2022")
    context = recording.context_of(frozenset(), [(dt.date(2022, 5, 1), grant)])
    nested = {"uscc": helpers.AT_THRESHOLD, "region": "530102", "industry": "F5211", "legal_form": "enterprise"}
    eager = recording.changed_decisions(production_matcher.match(nested, as_of, context), context.previous)
    got = judge.ChangesMatcher(production_matcher).match(nested, as_of, context)
    assert faraway.id in [d.clause_id for d in got] and len(got) > 1
    assert [d.clause_id for d in got] == [d.clause_id for d in eager]
    assert got == eager


def test_the_region_scopes_a_span_keeps_are_bounded(production_matcher, monkeypatch):
    monkeypatch.setattr(judge.constants, "SCOPES_KEPT", 4)
    shared = judge.Compiled(production_matcher.catalogue)
    as_of = dt.date(2022, 7, 15)
    regions = ["530102", "530302", "140202", "630102", "141102", "110101", "620102", "999999"]
    for n, region in enumerate(regions):
        # Judges of different dates in one span share the scopes; each region's scope is still right.
        judged = judge.Judge(production_matcher, as_of + dt.timedelta(days=n % 2), compiled=shared)
        entries = judged._scope(region).entries
        assert {e[0] for e in entries} == {
            c.id for c in judged.in_force if reference.in_jurisdiction(region, c.jurisdiction)}, region
        assert all(len(span.scopes) <= 4 for span in shared._spans.values())


def test_an_event_builds_the_firms_fact_once_even_when_decisions_are_explained(production_matcher, monkeypatch):
    # A first event explains every clause that reaches the firm; the explanations reuse the met set
    # durable-rules gave, rather than building the fact and asserting it a second time.
    encoded = []
    encode = production_matcher.facts.encode
    monkeypatch.setattr(production_matcher.facts, "encode", lambda *args, **kwargs: encoded.append(1) or encode(*args, **kwargs))
    nested = {"uscc": helpers.BELOW, "region": "630102", "industry": "F5211", "legal_form": "enterprise",
              "tax": {"taxpayer_type": "small_scale", "vat": {"2022-06": {"sales": 90000.0, "months": 1}}}}
    as_of = dt.date(2022, 7, 15)
    context = recording.context_of(frozenset(), [])
    got = judge.ChangesMatcher(production_matcher).match(nested, as_of, context)
    assert len(encoded) == 1
    assert any(d.status is MET for d in got) and len(got) > 1
    encoded.clear()
    assert got == recording.changed_decisions(production_matcher.match(nested, as_of, context), {})
    assert len(encoded) == 1  # the eager path asks the engine once too


def test_a_judge_refuses_a_shared_compilation_of_other_clauses(production_matcher):
    shared = judge.Compiled(production_matcher.catalogue, {"qinghai-2022-2"})
    judged = judge.Judge(production_matcher, dt.date(2022, 7, 15), {"qinghai-2022-2"}, compiled=shared)
    assert judged.clause_ids == {"qinghai-2022-2"}
    with pytest.raises(ValueError, match="clause_ids differ"):
        judge.Judge(production_matcher, dt.date(2022, 7, 15), {"yunnan-2022-2-1"}, compiled=shared)
