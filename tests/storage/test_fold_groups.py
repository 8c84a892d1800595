"""Folding several events per transaction (Storage.fold_group) changes nothing a user can see:
the same profiles, decisions, notices and audit entries as one event per transaction, a defective
event parked alone, nothing half-folded after a crash, and each event folded once by any number
of pipelines on one PostgreSQL database."""

from __future__ import annotations

import asyncio
import json

import pytest
import sqlalchemy.exc

from connectors import sql_storage
from engine import audit
from engine.core import event_status, matching
from engine.ingest import admission, folding, pipeline, synth, validation
from engine.testing import memory_storage
from tests import factories
from tests.conftest import SQL_BACKENDS

FIRM, OTHER = factories.uscc(42), factories.uscc(43)
CLAUSE = "small-vat"


class SalesMatcher:
    """`small-vat` is met (3% of the sales, noticed once per period) while the latest VAT sales are
    ≤ 150000, not met above, unknown without VAT data; a `met` explains how many grants came before.
    Records the (firm, as-of date) of every call."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def match(self, firm_profile, as_of, context):
        self.calls.append((firm_profile["uscc"], as_of.isoformat()))
        vat = firm_profile.get("tax", {}).get("vat", {})
        if not vat:
            return [matching.Decision(CLAUSE, "qinghai-2022#(二)", "v1", matching.Verdict.UNKNOWN)]
        sales = vat[max(vat)]["sales"]
        if sales > 150000:
            return [matching.Decision(CLAUSE, "qinghai-2022#(二)", "v1", matching.Verdict.NOT_MET, facts={"sales": sales})]
        return [
            matching.Decision(CLAUSE, "qinghai-2022#(二)", "v1", matching.Verdict.MET, round(sales * 0.03, 2),
                              {"grants_before": len(context.grants)}, {"sales": sales}, period=max(vat))
        ]


class Exploding(SalesMatcher):
    """Fails on a firm named 炸 the way a rule-data bug would."""

    def match(self, firm_profile, as_of, context):
        if firm_profile.get("name") == "炸":
            raise ValueError("rule data bug")
        return super().match(firm_profile, as_of, context)


class Refused(SalesMatcher):
    """Returns, for a firm named 炸, a decision the database refuses (no citation: NOT NULL)."""

    def match(self, firm_profile, as_of, context):
        decisions = super().match(firm_profile, as_of, context)
        if firm_profile.get("name") == "炸":
            return [matching.Decision("other", None, "v1", matching.Verdict.UNKNOWN)] + decisions
        return decisions


class FailsOnce(SalesMatcher):
    """Raises a transient database error on its `at`-th call, once."""

    def __init__(self, at: int) -> None:
        super().__init__()
        self.at = at

    def match(self, firm_profile, as_of, context):
        if len(self.calls) + 1 == self.at:
            self.calls.append(("crash", ""))
            raise sqlalchemy.exc.OperationalError("UPDATE firm …", {}, Exception("disk I/O error"))
        return super().match(firm_profile, as_of, context)


def new_event(body: dict, event_id: str):
    envelope = validation.validate(body, webhook_id=event_id)
    return admission.new_event(envelope, json.dumps(body, ensure_ascii=False), {"webhook-id": event_id})


def vat(firm: str, month: int, sales: int) -> dict:
    return factories.event("tax.vat_declared", firm=firm, occurred_at=f"2022-{month:02d}-28T10:00:00+08:00",
                           period=f"2022-{month:02d}", sales=sales)


def two_firms_interleaved() -> list[tuple[dict, str]]:
    """Registrations, VAT returns whose sales cross the threshold back and forth and a contact update,
    the two firms' events interleaved; the first firm's return for March arrives before February's."""
    events = [(factories.event(firm=FIRM), "a-reg"), (factories.event(firm=OTHER, region="140213"), "b-reg")]
    for month, sales in zip((1, 3, 2, 4, 5, 6), (90000, 120000, 160000, 149000, 151000, 80000), strict=True):
        events.append((vat(FIRM, month, sales), f"a-vat-{month}"))
        events.append((vat(OTHER, month, 300000 - sales), f"b-vat-{month}"))
    events.append((factories.event("contact.updated", firm=FIRM, occurred_at="2022-08-01T09:00:00+08:00"), "a-contact"))
    return events


async def store_and_fold(store, matcher, events, **options) -> int:
    await store.add_events([new_event(body, event_id) for body, event_id in events])
    return await pipeline.Pipeline(store, matcher, **options).run_once()


async def outcome(store, firms=(FIRM, OTHER)) -> dict:
    """Everything a user can read about the firms, without ids and timestamps; the audit chain intact."""
    entries = [e async for e in store.audit_entries()]
    assert audit.verify([e.as_json() for e in entries]).ok
    seen = {}
    for uscc in firms:
        firm = await store.get_firm(uscc)
        decisions = await store.decisions(uscc)
        by_id = {d.id: d for d in decisions}
        seen[uscc] = {
            "fields": firm and dict(firm.fields),
            "stamps": firm and {k: list(v) for k, v in firm.stamps.items()},
            "events_applied": firm and firm.events_applied,
            "history": [(a.field, a.value, a.event_id) for a in await store.field_history(uscc)],
            "decisions": [(d.decision.clause_id, d.decision.status.value, d.decision.amount, dict(d.decision.explanation),
                           d.as_of.isoformat(), d.event_id, d.approval) for d in decisions],
            "notices": [(n.clause_id, n.channel, n.period, by_id[n.decision_id].event_id) for n in await store.firm_notices(uscc)],
            "events": [(e.event_id, e.status.value, e.error) for e in await store.firm_events(uscc)],
            # The firm's entries in chain order (other firms' may interleave differently).
            "audit": [(e.action, e.payload.get("clause_id"), e.payload.get("status"), e.payload.get("event_id"),
                       e.payload.get("channel")) for e in entries if e.payload.get("uscc") == uscc],
        }
    return seen


async def test_a_group_folds_each_firm_in_arrival_order_as_one_event_per_transaction_would(store):
    grouped, alone = SalesMatcher(), SalesMatcher()
    events = two_firms_interleaved()
    assert await store_and_fold(store, grouped, events) == len(events)
    reference = memory_storage.InMemoryStorage()
    assert await store_and_fold(reference, alone, events, group_size=1) == len(events)

    assert grouped.calls == alone.calls  # each profile judged in arrival order, once
    assert await outcome(store) == await outcome(reference)
    firm = (await outcome(store))[FIRM]
    # February's late return changes the profile but not the verdict (March is still the latest).
    assert [(d[1], d[2], d[3], d[5]) for d in firm["decisions"]] == [
        ("unknown", None, {}, "a-reg"),
        ("met", 2700.0, {"grants_before": 0}, "a-vat-1"),
        ("met", 3600.0, {"grants_before": 1}, "a-vat-3"),
        ("met", 4470.0, {"grants_before": 2}, "a-vat-4"),
        ("not_met", None, {}, "a-vat-5"),
        ("met", 2400.0, {"grants_before": 3}, "a-vat-6"),
    ]
    assert [(n[1], n[2]) for n in firm["notices"]] == [
        (channel, period) for period in ("2022-01", "2022-03", "2022-04", "2022-06") for channel in ("sms", "email")
    ]


async def test_with_the_real_catalogue_groups_record_what_one_event_per_transaction_does(store, production_matcher):
    """Synthetic firms month by month (their events interleaved, region designations among them),
    two clauses behind the approval gate: decisions, notices and the audit chain as one by one."""
    events = sorted((e for _, firm_events in synth.generate(12, 1) for e in firm_events), key=lambda e: (e["occurred_at"][:7], e["id"]))
    gated = ["qinghai-2022-2", "yangquan-chengqu-2023-4"]  # both granted to some of these firms
    reference = memory_storage.InMemoryStorage()
    for backend in (store, reference):
        for clause_id in gated:
            await backend.set_clause_approval(clause_id, True, "admin")
        await synth.store_events(backend, events)
    assert await pipeline.Pipeline(store, production_matcher).run_once() == len(events)
    assert await pipeline.Pipeline(reference, production_matcher, group_size=1).run_once() == len(events)

    firms = sorted({e["uscc"] for e in events if "uscc" in e})
    grouped, alone = await outcome(store, firms), await outcome(reference, firms)
    assert grouped == alone
    assert sum(len(firm["notices"]) for firm in grouped.values()) > 0
    assert {d[6] for firm in grouped.values() for d in firm["decisions"]} >= {None, "pending"}
    # The same entries in the same order (decision ids differ between the two stores).
    chains = [[(e.action, e.subject_type, {k: v for k, v in e.payload.items() if k != "decision_id"})
               async for e in backend.audit_entries()] for backend in (store, reference)]
    assert chains[0] == chains[1]


async def test_a_defective_event_in_the_middle_of_a_group_is_parked_alone(store):
    events = [
        (factories.event(firm=FIRM), "a-reg"),
        (vat(OTHER, 1, 90000), "b-vat"),
        (factories.event("firm.updated", firm=FIRM, occurred_at="2022-05-02T09:00:00+08:00", name="炸"), "a-bad"),
        (vat(FIRM, 4, 100000), "a-vat"),
        (factories.event(firm=OTHER, region="140213"), "b-reg"),
    ]
    matcher = Exploding()
    assert await store_and_fold(store, matcher, events) == 5

    bad = await store.get_event("a-bad")
    assert bad.status == event_status.EventStatus.FAILED and bad.error == "ValueError: rule data bug"
    assert [(await store.get_event(i)).status for i in ("a-reg", "b-vat", "a-vat", "b-reg")] == [event_status.EventStatus.PROCESSED] * 4
    # The firm keeps its folds before and after the bad one, and nothing of the bad one.
    firm = await store.get_firm(FIRM)
    assert firm.events_applied == 2 and firm.fields["name"] == "阳泉市城区示例商贸有限公司"
    assert {a.event_id for a in await store.field_history(FIRM)} == {"a-reg", "a-vat"}
    assert [(d.event_id, d.decision.status.value) for d in await store.decisions(FIRM)] == [("a-reg", "unknown"), ("a-vat", "met")]
    assert len(matcher.calls) == 4  # the good events were judged once: the group did not have to start over


@pytest.mark.parametrize("store", SQL_BACKENDS, indirect=True)
async def test_an_event_the_database_refuses_is_parked_alone_and_its_group_folded(store):
    events = [
        (factories.event(firm=FIRM), "a-reg"),
        (vat(OTHER, 1, 90000), "b-vat"),
        (factories.event(firm=factories.uscc(44), name="炸"), "c-bad"),
        (vat(FIRM, 4, 100000), "a-vat"),
    ]
    assert await store_and_fold(store, Refused(), events) == 4

    bad = await store.get_event("c-bad")
    assert bad.status == event_status.EventStatus.FAILED and bad.error.startswith("IntegrityError")
    assert await store.get_firm(factories.uscc(44)) is None
    assert [(await store.get_event(i)).status for i in ("a-reg", "b-vat", "a-vat")] == [event_status.EventStatus.PROCESSED] * 3
    reference = memory_storage.InMemoryStorage()
    await store_and_fold(reference, SalesMatcher(), [e for e in events if e[1] != "c-bad"])
    assert await outcome(store) == await outcome(reference)


async def test_a_transient_fault_mid_group_leaves_every_event_pending_and_nothing_half_folded(store):
    events = two_firms_interleaved()[:6]
    with pytest.raises(sqlalchemy.exc.OperationalError):
        await store_and_fold(store, FailsOnce(at=4), events)
    assert [e.event_id for e in await store.pending_events(100)] == [event_id for _, event_id in events]
    assert await store.get_firm(FIRM) is None and await store.get_firm(OTHER) is None
    assert await store.decisions(FIRM) == [] and [e async for e in store.audit_entries()] == []

    # The worker's retry folds each event once, as if nothing had happened.
    assert await pipeline.Pipeline(store, SalesMatcher()).run_once() == len(events)
    reference = memory_storage.InMemoryStorage()
    await store_and_fold(reference, SalesMatcher(), events)
    assert await outcome(store) == await outcome(reference)


async def test_a_region_event_is_folded_in_a_group_of_its_own(store):
    await store.add_events([
        new_event(factories.event(firm=FIRM), "e1"),
        new_event(factories.event("region.risk_designated", occurred_at="2022-06-01T00:00:00+08:00"), "r1"),
        new_event(vat(FIRM, 6, 100000), "e2"),
    ])
    groups = []
    for _ in range(3):
        async with store.fold_group(10) as group:
            groups.append([e.event_id for e in group.events])
            for event in group.events:
                await group.mark_failed(event.event_id, "test")
    assert groups == [["e1"], ["r1"], ["e2"]]


POSTGRES = pytest.mark.parametrize("empty_database", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)


@POSTGRES
async def test_two_pipelines_on_one_database_fold_each_event_once_in_arrival_order(migrated_database):
    firms = [factories.uscc(100 + n) for n in range(6)]
    events = [(factories.event(firm=firm), f"{firm}-reg") for firm in firms]
    for month in range(1, 13):
        for n, firm in enumerate(firms):
            events.append((vat(firm, month, 150000 + (-1) ** (month + n) * 20000 * (n + 1)), f"{firm}-vat-{month}"))
    first, second = sql_storage.SqlStorage(migrated_database), sql_storage.SqlStorage(migrated_database)
    await first.open()
    await second.open()
    try:
        await first.add_events([new_event(body, event_id) for body, event_id in events])
        handled = await asyncio.gather(
            pipeline.Pipeline(first, SalesMatcher(), group_size=4).run_once(),
            pipeline.Pipeline(second, SalesMatcher(), group_size=4).run_once(),
        )
        assert sum(handled) == len(events) and min(handled) > 0  # both took part; no event twice
        assert await first.pending_events(10) == []
        reference = memory_storage.InMemoryStorage()
        await store_and_fold(reference, SalesMatcher(), events)
        # Each firm's events were folded once each, in arrival order: the same profiles and decisions.
        assert await outcome(first, firms) == await outcome(reference, firms)
    finally:
        await first.close()
        await second.close()


@POSTGRES
async def test_a_firms_event_waits_for_its_earlier_one_claimed_by_another_process(migrated_database):
    matcher = SalesMatcher()

    async def fold_group(store, limit):
        async with store.fold_group(limit) as group:
            for event in group.events:
                envelope = validation.parse_stored(event.body, event.event_id)
                await group.fold_firm_event(event, folding.assignments(envelope), matcher.match)
            return [event.event_id for event in group.events]

    first, second = sql_storage.SqlStorage(migrated_database), sql_storage.SqlStorage(migrated_database)
    await first.open()
    await second.open()
    try:
        events = [(factories.event(firm=FIRM), "a-reg"), (factories.event(firm=OTHER), "b-reg"),
                  (vat(FIRM, 4, 100000), "a-vat"), (vat(OTHER, 4, 100000), "b-vat")]
        await first.add_events([new_event(body, event_id) for body, event_id in events])
        async with first.fold_group(1) as held:  # one process has claimed the firm's registration
            assert [e.event_id for e in held.events] == ["a-reg"]
            # Another folds what does not depend on it, and leaves the firm's return for later.
            assert await asyncio.wait_for(fold_group(second, 10), 60) == ["b-reg", "b-vat"]
            # Its next group has only that return: it waits until the first process's group has ended.
            later = asyncio.create_task(fold_group(second, 10))
            await held.fold_firm_event(held.events[0], folding.assignments(validation.parse_stored(held.events[0].body, "a-reg")), matcher.match)
        assert await asyncio.wait_for(later, 60) == ["a-vat"]
        assert matcher.calls == [(OTHER, "2022-05-01"), (OTHER, "2022-04-28"), (FIRM, "2022-05-01"), (FIRM, "2022-04-28")]
        assert [(d.event_id, d.decision.status.value) for d in await first.decisions(FIRM)] == [("a-reg", "unknown"), ("a-vat", "met")]
    finally:
        await first.close()
        await second.close()
