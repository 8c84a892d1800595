"""The pipeline: events → profile → matcher → stored decisions, in order, exactly once."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import json
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.core import event_status, matching, profile, records
from engine.ingest import admission, pipeline, validation, webhooks
from engine.testing import memory_storage
from tests import factories

FIRM = factories.uscc(42)


class SmallMatcher:
    """A test matcher: 'small-vat' is met when the latest VAT sales ≤ 150000, unknown without VAT data."""

    def __init__(self) -> None:
        self.calls: list[tuple[dict, datetime.date, matching.MatchContext]] = []

    def match(self, firm_profile, as_of, context):
        self.calls.append((firm_profile, as_of, context))
        vat = firm_profile.get("tax", {}).get("vat", {})
        if not vat:
            verdict, amount = matching.Verdict.UNKNOWN, None
        else:
            sales = vat[max(vat)]["sales"]
            verdict = matching.Verdict.MET if sales <= 150000 else matching.Verdict.NOT_MET
            amount = round(sales * 0.03, 2) if verdict == matching.Verdict.MET else None
        risk = 2022 in context.years(matching.EPIDEMIC_RISK)
        return [
            matching.Decision("small-vat", "qinghai-2022#(二)", "v1", verdict, amount, {"risk": risk}, {"sales": vat and vat[max(vat)]["sales"]})
        ]


def envelope_event(body: dict, event_id: str) -> records.NewEvent:
    envelope = validation.validate(body, webhook_id=event_id)
    return admission.new_event(envelope, json.dumps(body, ensure_ascii=False), {"webhook-id": event_id})


async def run(store, matcher, *bodies_and_ids):
    await store.add_events([envelope_event(body, event_id) for body, event_id in bodies_and_ids])
    return await pipeline.Pipeline(store, matcher).run_once()


async def test_events_fold_into_the_profile_and_decisions_change_with_it(store):
    matcher = SmallMatcher()
    handled = await run(
        store,
        matcher,
        (factories.event(firm=FIRM), "e1"),
        (factories.event("tax.vat_declared", firm=FIRM, occurred_at="2022-05-15T10:00:00+08:00", period="2022-04", sales=150000), "e2"),
        (factories.event("tax.vat_declared", firm=FIRM, occurred_at="2022-06-15T10:00:00+08:00", period="2022-05", sales=150001), "e3"),
        (factories.event("contact.updated", firm=FIRM, occurred_at="2022-06-16T10:00:00+08:00"), "e4"),
    )
    assert handled == 4
    firm = await store.get_firm(FIRM)
    nested = profile.nest(FIRM, firm.fields)
    assert nested["tax"]["vat"]["2022-04"] == {"sales": 150000, "months": 1}
    assert nested["contact"] == {"mobile": "+8613800138000", "email": "finance@example.cn", "consent": {"sms": True, "email": True}}
    # The matcher saw each changed profile as of the event's date in China.
    assert [as_of.isoformat() for _, as_of, _ in matcher.calls] == ["2022-05-01", "2022-05-15", "2022-06-15", "2022-06-16"]
    stored = [(d.decision.status.value, d.decision.amount, d.event_id) for d in await store.decisions(FIRM)]
    # unknown (no VAT) → met at exactly 150000 → not met at 150001; the contact change repeats not_met: not stored.
    assert stored == [("unknown", None, "e1"), ("met", 4500.0, "e2"), ("not_met", None, "e3")]


async def test_as_of_is_the_china_date_of_the_event(store):
    matcher = SmallMatcher()
    await run(store, matcher, (factories.event(firm=FIRM, occurred_at="2022-04-30T17:30:00+00:00"), "e1"))
    assert matcher.calls[0][1] == datetime.date(2022, 5, 1)


async def test_region_designation_rejudges_firms_in_that_county(store):
    matcher = SmallMatcher()
    other = factories.uscc(43)
    await run(
        store,
        matcher,
        (factories.event(firm=FIRM), "e1"),
        (factories.event(firm=other, region="140213"), "e2"),
        (factories.event("region.risk_designated", occurred_at="2022-06-01T00:00:00+08:00"), "r1"),
    )
    judged_after_region = [p["uscc"] for p, as_of, ctx in matcher.calls[2:]]
    assert judged_after_region == [FIRM]
    assert matcher.calls[2][2].years(matching.EPIDEMIC_RISK) == [2022]


async def test_a_broken_event_is_parked_as_failed_and_the_rest_go_on(store):
    class Exploding(SmallMatcher):
        def match(self, firm_profile, as_of, context):
            if firm_profile.get("name") == "炸":
                raise ValueError("rule data bug")
            return super().match(firm_profile, as_of, context)

    await run(store, Exploding(), (factories.event(firm=FIRM, name="炸"), "bad"), (factories.event(firm=factories.uscc(44)), "good"))
    bad, good = await store.get_event("bad"), await store.get_event("good")
    assert bad.status == event_status.EventStatus.FAILED and "rule data bug" in bad.error
    assert good.status == event_status.EventStatus.PROCESSED
    assert await store.get_firm(FIRM) is None  # nothing of the failed fold was kept


async def test_rebuilding_from_the_event_log_gives_the_stored_profile(store):
    await run(
        store,
        SmallMatcher(),
        (factories.event("tax.cit_filed", firm=FIRM, occurred_at="2022-05-31T10:00:00+08:00"), "e3"),
        (factories.event(firm=FIRM), "e1"),
        (factories.event("firm.updated", firm=FIRM, occurred_at="2022-04-01T00:00:00+08:00", name="旧名"), "e0"),
        (factories.event("certification.granted", firm=FIRM), "e4"),
        (factories.event("certification.revoked", firm=FIRM, occurred_at="2022-08-01T09:00:00+08:00"), "e5"),
    )
    stored = (await store.get_firm(FIRM)).fields
    assert await pipeline.rebuild_fields(store, FIRM) == stored
    assert stored["name"] == "阳泉市城区示例商贸有限公司"  # the registration occurred after the rename event
    assert stored["certifications.specialized_sme.revoked_on"] == "2022-08-01"


def _events_for_shuffle():
    day = datetime.datetime(2022, 3, 1, tzinfo=datetime.UTC)
    kinds = [
        ("firm.registered", {}),
        ("firm.updated", {"name": "改名一"}),
        ("firm.updated", {"name": "改名二", "industry": "I6511"}),
        ("tax.vat_declared", {"period": "2022-03", "sales": 90000}),
        ("tax.vat_declared", {"period": "2022-03", "sales": 120000}),
        ("certification.granted", {}),
        ("certification.revoked", {}),
        ("lease.reported", {"monthly_rent": 9000}),
        ("contact.updated", {"consent": {"sms": False}}),
    ]
    return [
        (factories.event(kind, firm=FIRM, occurred_at=(day + datetime.timedelta(days=i % 4)).isoformat(), **data), f"ev{i}")
        for i, (kind, data) in enumerate(kinds)
    ]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1))
async def test_profile_does_not_depend_on_arrival_order(seed):
    events = _events_for_shuffle()
    reference = memory_storage.InMemoryStorage()
    await run(reference, SmallMatcher(), *events)
    shuffled = list(events)
    random.Random(seed).shuffle(shuffled)
    other = memory_storage.InMemoryStorage()
    await run(other, SmallMatcher(), *shuffled)
    assert (await other.get_firm(FIRM)).fields == (await reference.get_firm(FIRM)).fields


@pytest.mark.parametrize("store", ["memory"], indirect=True)
async def test_worker_wakes_on_commit_and_drains(client, store):
    data, headers = factories.signed(factories.event(firm=FIRM))
    response = await client.post("/webhooks/events", data=data, headers=headers)
    assert response.status == 202
    await client.app[webhooks.PIPELINE].drained()
    assert (await store.get_event(headers["webhook-id"])).status == event_status.EventStatus.PROCESSED


class GroupClock:
    """A clock for the pipeline that only the store's groups move: each takes `reads` seconds from its claim
    to its first fold and `writes` seconds from its last fold to its commit; the folds themselves take none."""

    def __init__(self, reads: float, writes: float) -> None:
        self.now, self.reads, self.writes = 0.0, reads, writes

    def __call__(self) -> float:
        return self.now


class TimedGroups:
    """`store`, its fold groups timed on `clock` as an SQL group's claim, reads, writes and commit take time."""

    def __init__(self, store, clock: GroupClock) -> None:
        self._store, self._clock = store, clock

    def __getattr__(self, name):
        return getattr(self._store, name)

    @contextlib.asynccontextmanager
    async def fold_group(self, limit=1, *, event_id=None):
        self._clock.now += self._clock.reads
        async with self._store.fold_group(limit, event_id=event_id) as group:
            yield group
            self._clock.now += self._clock.writes


@pytest.mark.parametrize("store", ["memory"], indirect=True)
async def test_under_load_folding_rests_for_the_whole_group_not_only_its_folds(store, monkeypatch):
    """While events arrive, folding takes at most its share (0.25) of the time. A group of 2 events that
    took 30 ms to claim and read and 10 ms to write, with folds of no time, is followed by 3 × 40 ms of
    rest: on SQLite the group held the writer the webhook's commits wait for all along."""
    await store.add_events([envelope_event(factories.event(firm=factories.uscc(n)), f"e{n}") for n in (1, 2)])
    clock = GroupClock(reads=0.030, writes=0.010)
    worker = pipeline.Pipeline(TimedGroups(store, clock), SmallMatcher(), share_under_load=0.25, clock=clock)
    rests: list[float] = []
    real_sleep = asyncio.sleep

    async def sleep(seconds: float) -> None:
        if seconds:
            rests.append(seconds)
        await real_sleep(0)

    monkeypatch.setattr(pipeline.asyncio, "sleep", sleep)
    worker.stored()  # the webhook has just stored events: they are arriving
    assert await worker.run_once() == 2
    assert rests == [pytest.approx(3 * 0.040)]
