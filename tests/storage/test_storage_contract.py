"""The promises every Storage implementation keeps, run against memory, SQLite and PostgreSQL."""

from __future__ import annotations

import datetime
import hashlib

import pytest

from engine.core import event_status, matching, records
from engine.ingest import event_store

T0 = datetime.datetime(2022, 5, 1, 1, 0, tzinfo=datetime.UTC)


def new_event(event_id: str, body: str = "{}", uscc: str | None = "91140302MA00000019", kind: str = "firm.registered", at=T0):
    return records.NewEvent(
        event_id=event_id,
        type=kind,
        uscc=uscc,
        occurred_at=at,
        body=body,
        body_sha256=hashlib.sha256(body.encode()).hexdigest(),
        headers={"webhook-id": event_id},
    )


def judge_constant(*decisions):
    return lambda profile, as_of, context: decisions


def decision(status_=matching.Verdict.MET, amount=None, clause="c-1"):
    return matching.Decision(clause, "doc#1", "v1", status_, amount, {"why": "test"}, {"x": 1})


async def test_add_is_idempotent_by_event_id(store):
    first = await store.add_events([new_event("e1", '{"a":1}')])
    again = await store.add_events([new_event("e1", '{"a":1}'), new_event("e2")])
    changed = await store.add_events([new_event("e1", '{"a":2}')])
    assert [r.created for r in first] == [True]
    assert [(r.event_id, r.created) for r in again] == [("e1", False), ("e2", True)]
    assert changed[0].body_differs and not changed[0].created
    stored = await store.get_event("e1")
    assert stored.body == '{"a":1}' and stored.status == event_status.EventStatus.RECEIVED
    assert stored.occurred_at == T0 and stored.received_at.tzinfo is not None


async def test_pending_events_come_in_arrival_order(store):
    await store.add_events([new_event(f"e{i}") for i in (3, 1, 2)])
    assert [e.event_id for e in await store.pending_events(10)] == ["e3", "e1", "e2"]
    assert [e.event_id for e in await store.pending_events(2)] == ["e3", "e1"]


async def test_fold_records_provenance_profile_and_changed_decisions_once(store):
    await store.add_events([new_event("e1"), new_event("e2", at=T0 + datetime.timedelta(days=1))])
    e1, e2 = await store.pending_events(10)
    outcome = await store.fold_firm_event(e1, {"name": "甲", "region": "140302"}, judge_constant(decision()))
    assert sorted(outcome.changed_fields) == ["name", "region"]
    assert [d.clause_id for d in outcome.decisions] == ["c-1"]
    # Same verdict again: nothing new is stored.
    outcome = await store.fold_firm_event(e2, {"name": "乙"}, judge_constant(decision()))
    assert outcome.changed_fields == ["name"] and outcome.decisions == []
    firm = await store.get_firm(e1.uscc)
    assert firm.fields == {"name": "乙", "region": "140302"} and firm.events_applied == 2
    history = await store.field_history(e1.uscc)
    assert [(a.field, a.value, a.event_id) for a in history if a.field == "name"] == [("name", "甲", "e1"), ("name", "乙", "e2")]
    assert (await store.get_event("e1")).status == event_status.EventStatus.PROCESSED
    stored = await store.decisions(e1.uscc)
    assert len(stored) == 1 and stored[0].as_of == datetime.date(2022, 5, 1) and stored[0].event_id == "e1"


async def test_a_processed_event_is_never_folded_twice(store):
    await store.add_events([new_event("e1")])
    [e1] = await store.pending_events(1)
    await store.fold_firm_event(e1, {"name": "甲"}, judge_constant())
    again = await store.fold_firm_event(e1, {"name": "甲"}, judge_constant(decision()))
    assert again == event_store.FoldOutcome()
    assert (await store.get_firm(e1.uscc)).events_applied == 1


async def test_a_county_holds_designations_of_several_kinds_in_one_year(store):
    # 孝义 had a risk area in 2022 and was named a demonstration county the same year: both are kept,
    # and the firm there is judged with both.
    seen = []

    def judge(profile, as_of, context):
        seen.append(context)
        return ()

    county = "141181"
    await store.add_events([new_event("e1"), new_event("r1", uscc=None, kind="region.risk_designated"),
                            new_event("d1", uscc=None, kind="region.demo_county_designated")])
    e1, r1, d1 = await store.pending_events(10)
    await store.fold_firm_event(e1, {"region": county}, judge)
    await store.fold_region_event(r1, records.RegionDesignation(county, matching.EPIDEMIC_RISK, 2022, "high"), judge)
    outcome = await store.fold_region_event(d1, records.RegionDesignation(county, matching.SME_DEMO_COUNTY, 2022), judge)
    assert outcome.firms_judged == 1
    both = matching.designations(epidemic_risk=[2022], sme_demo_county=[2022])
    assert seen[-1].designations == both
    assert await store.designations(county) == both
    assert await store.designations("141182") == frozenset()


async def test_earlier_occurrence_arriving_later_does_not_overwrite(store):
    later, earlier = T0 + datetime.timedelta(days=30), T0
    await store.add_events([new_event("late", at=later), new_event("early", at=earlier)])
    late, early = await store.pending_events(10)
    await store.fold_firm_event(late, {"name": "新名称"}, judge_constant())
    outcome = await store.fold_firm_event(early, {"name": "旧名称", "industry": "F5211"}, judge_constant())
    assert outcome.changed_fields == ["industry"]
    firm = await store.get_firm(late.uscc)
    assert firm.fields == {"name": "新名称", "industry": "F5211"}
    assert [a.value for a in await store.field_history(late.uscc) if a.field == "name"] == ["旧名称", "新名称"]


async def test_decision_changes_are_stored_and_context_carries_previous_and_risk(store):
    seen = []

    def judge(profile, as_of, context):
        seen.append(context)
        return (decision(matching.Verdict.MET, amount=100.0),) if len(seen) > 1 else (decision(matching.Verdict.UNKNOWN),)

    await store.add_events([new_event("e1"), new_event("r1", uscc=None, kind="region.risk_designated"), new_event("e2")])
    e1, r1, e2 = await store.pending_events(10)
    await store.fold_firm_event(e1, {"region": "140302"}, judge)
    outcome = await store.fold_region_event(r1, records.RegionDesignation("140302", matching.EPIDEMIC_RISK, 2022, "high"), judge)
    assert outcome.firms_judged == 1 and [d.status for d in outcome.decisions] == [matching.Verdict.MET]
    assert seen[1].years(matching.EPIDEMIC_RISK) == [2022]
    assert seen[1].previous["c-1"].status == matching.Verdict.UNKNOWN
    assert await store.designations("140302") == matching.designations(epidemic_risk=[2022])
    await store.fold_firm_event(e2, {"name": "甲"}, judge)
    assert [g[1].amount for g in seen[2].grants] == [100.0]
    assert [d.decision.status for d in await store.decisions(e1.uscc)] == [matching.Verdict.UNKNOWN, matching.Verdict.MET]


async def test_mark_failed_keeps_the_reason_and_refuses_illegal_transitions(store):
    await store.add_events([new_event("e1")])
    await store.mark_failed("e1", "ValueError: broken")
    failed = await store.get_event("e1")
    assert failed.status == event_status.EventStatus.FAILED and failed.error == "ValueError: broken"
    assert await store.pending_events(10) == []
    with pytest.raises(event_status.IllegalTransition):
        await store.mark_failed("e1", "again")


async def test_tokens_are_found_by_hash_only(store):
    record = await store.add_token("a" * 64, "operator", "bureau IT")
    found = await store.find_token("a" * 64)
    assert found is not None and found.role == "operator" and found.id == record.id
    assert await store.find_token("b" * 64) is None


async def test_a_first_out_of_scope_not_met_is_not_recorded_but_a_change_to_it_is(store):
    out_of_scope = matching.Decision("c-9", "other#1", "v1", matching.Verdict.NOT_MET, in_scope=False)
    await store.add_events([new_event("e1"), new_event("e2"), new_event("e3")])
    e1, e2, e3 = await store.pending_events(10)
    await store.fold_firm_event(e1, {"region": "630102"}, judge_constant(out_of_scope))
    assert await store.decisions(e1.uscc) == []
    await store.fold_firm_event(e2, {"region": "530102"}, judge_constant(decision(clause="c-9")))
    await store.fold_firm_event(e3, {"region": "630102"}, judge_constant(out_of_scope))
    assert [d.decision.status for d in await store.decisions(e1.uscc)] == [matching.Verdict.MET, matching.Verdict.NOT_MET]


async def test_concurrent_adds_each_learn_their_own_outcome(store):
    import asyncio

    calls = [[new_event(f"c{i}", f'{{"n":{i}}}')] for i in range(20)] + [[new_event("c3", '{"n":"other"}')], [new_event("c5", '{"n":5}')]]
    results = [r[0] for r in await asyncio.gather(*(store.add_events(call) for call in calls))]
    # Concurrent calls race: whichever stores an id first wins; the other learns it is a repeat.
    assert all(results[i].created for i in range(20) if i not in (3, 5))
    c3 = [results[3], results[20]]
    assert sorted(r.created for r in c3) == [False, True] and [r.body_differs for r in c3 if not r.created] == [True]
    c5 = [results[5], results[21]]
    assert sorted(r.created for r in c5) == [False, True] and not any(r.body_differs for r in c5)
    assert len(await store.pending_events(100)) == 20
