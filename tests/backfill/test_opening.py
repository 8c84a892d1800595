"""The window job: a firm whose facts were recorded before a clause's window opened is judged under
it as of the day it opens, once, without anyone running a backfill.

A 昆明 firm (a small service business renting state-owned premises, March VAT declared) sends all its
events in April 2022. The 云南 measures (yunnan-2022) open on 2022-05-31, so the pipeline, judging
as of each event's day, never judges the firm under them. On every storage back-end.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from engine import audit
from engine.audit import summaries
from engine.backfill import opening, store as backfill_store
from engine.core import matching
from connectors import sql_storage
from engine.testing import memory_storage
from engine.web import app as app_module
from tests import factories
from tests.backfill import helpers

FIRM = factories.uscc(501, region="530102")
MAY_30, MAY_31, JUNE_1 = dt.date(2022, 5, 30), dt.date(2022, 5, 31), dt.date(2022, 6, 1)
#: What the firm meets once the 云南 windows are open (found by the tests below, as of 2022-05-31).
MET_ON_MAY_31 = {"yunnan-2022-2-5", "yunnan-2022-2-5-social"}


def firm_events() -> list[dict]:
    events = [
        factories.event(firm=FIRM, region="530102", industry="H6210", occurred_at="2022-04-01T09:00:00+08:00"),
        factories.event("tax.vat_declared", firm=FIRM, occurred_at="2022-04-15T09:00:00+08:00", period="2022-03", sales=90000),
        factories.event("lease.reported", firm=FIRM, occurred_at="2022-04-20T09:00:00+08:00"),
    ]
    return [dict(e, id=f"evt-open-{n}") for n, e in enumerate(events)]


class Today:
    """The job's clock: a day in China the test sets."""

    def __init__(self, day: dt.date) -> None:
        self.day = day

    def __call__(self) -> dt.date:
        return self.day


@pytest.fixture
async def recorded(store, production_matcher):
    """The firm's April events folded by the pipeline with the real catalogue."""
    await helpers.ingest(store, production_matcher, firm_events())
    return store


async def _met(store) -> set[str]:
    latest = {s.decision.clause_id: s.decision for s in await store.decisions(FIRM)}
    return {clause_id for clause_id, d in latest.items() if d.status == matching.Verdict.MET and clause_id.startswith("yunnan")}


async def _watcher(store, matcher, day, *, checked_through=MAY_30):
    if checked_through is not None:
        await store.set_windows_checked_through(checked_through)
    return opening.WindowWatcher(store, matcher, today=Today(day))


async def test_the_pipeline_alone_never_judges_the_firm_under_windows_opening_after_its_facts(recorded):
    assert await _met(recorded) == set()
    assert not [s for s in await recorded.decisions(FIRM) if s.decision.clause_id.startswith("yunnan")]
    assert [n for n in await recorded.firm_notices(FIRM) if n.clause_id.startswith("yunnan")] == []


async def test_the_day_a_window_opens_its_firms_are_judged_as_of_that_day_and_told(recorded, production_matcher):
    watcher = await _watcher(recorded, production_matcher, MAY_31)
    woken: list[bool] = []
    watcher.on_notices.append(lambda: woken.append(True))  # the delivery worker's wake-up in the service
    checked = await watcher.check()

    assert await _met(recorded) == MET_ON_MAY_31
    assert woken == [True]
    decisions = [s for s in await recorded.decisions(FIRM) if s.decision.clause_id in MET_ON_MAY_31]
    assert {s.as_of for s in decisions} == {MAY_31}
    notices = [n for n in await recorded.firm_notices(FIRM) if n.clause_id.startswith("yunnan")]
    assert {n.clause_id for n in notices} == MET_ON_MAY_31 and checked.notices == len(notices)
    # Only the windows that opened were judged: nothing recorded under a clause that was already open.
    assert {s.decision.clause_id for s in await recorded.decisions(FIRM) if s.as_of == MAY_31} <= {
        c.id for c in production_matcher.catalogue.firm_facing() if c.valid_from == MAY_31}
    entries = [e async for e in recorded.audit_entries()]
    assert audit.verify(e.as_json() for e in entries).ok
    # Recorded as a backfill records: a summary entry per batch, covering these decisions and notices.
    by_job = [e for e in entries if e.actor == opening.ACTOR]
    assert {e.action for e in by_job} == {summaries.ACTION}
    assert sum(e.payload["notices"]["count"] for e in by_job) == len(notices)
    # Each opening is kept with what it did, and the day is marked checked.
    kept = {(r.clause_id, r.opens_on): r for r in await recorded.window_openings()}
    assert set(kept) == {(c.id, MAY_31) for c in production_matcher.catalogue.firm_facing() if c.valid_from == MAY_31}
    assert {clause_id for (clause_id, _), r in kept.items() if r.met} == MET_ON_MAY_31
    assert all(r.outcome == backfill_store.JUDGED and r.firms == 1 for r in kept.values())
    assert await recorded.windows_checked_through() == MAY_31


async def test_a_second_check_and_a_restarted_service_redo_nothing(recorded, production_matcher):
    await (await _watcher(recorded, production_matcher, MAY_31)).check()
    decisions, notices = len(await recorded.decisions(FIRM)), len(await recorded.firm_notices(FIRM))
    again = await opening.WindowWatcher(recorded, production_matcher, today=Today(MAY_31)).check()
    assert again.openings == () and again.notices == 0
    assert (len(await recorded.decisions(FIRM)), len(await recorded.firm_notices(FIRM))) == (decisions, notices)


async def test_the_next_day_judges_only_the_window_opening_that_day(recorded, production_matcher):
    await (await _watcher(recorded, production_matcher, MAY_31)).check()
    checked = await opening.WindowWatcher(recorded, production_matcher, today=Today(JUNE_1)).check()
    assert [(r.clause_id, r.opens_on) for r in checked.openings] == [("yunnan-2022-1-3", JUNE_1)]


async def test_an_opening_kept_before_a_check_was_cut_short_is_not_judged_again(recorded, production_matcher):
    # A check judged yunnan-2022-2-5 and kept it, then stopped before marking the day checked.
    await recorded.record_opening(backfill_store.OpeningRecord("yunnan-2022-2-5", MAY_31, backfill_store.JUDGED))
    checked = await (await _watcher(recorded, production_matcher, MAY_31)).check()
    assert "yunnan-2022-2-5" not in {r.clause_id for r in checked.openings}
    assert await _met(recorded) == MET_ON_MAY_31 - {"yunnan-2022-2-5"}


async def test_a_window_that_closed_before_the_check_came_is_lapsed_and_nothing_is_pushed_under_it(recorded, production_matcher):
    # The service was down from 2022-05-30 to 2022-07-05: yunnan-2022-2-2 opened and closed meanwhile.
    checked = await (await _watcher(recorded, production_matcher, dt.date(2022, 7, 5))).check()
    lapsed = [r for r in checked.openings if r.outcome == backfill_store.LAPSED]
    assert [(r.clause_id, r.opens_on) for r in lapsed] == [("yunnan-2022-2-2", MAY_31)]
    assert "yunnan-2022-2-2" in {c.clause_id for c in checked.closed}
    assert not [s for s in await recorded.decisions(FIRM) if s.decision.clause_id == "yunnan-2022-2-2"]
    assert not [n for n in await recorded.firm_notices(FIRM) if n.clause_id == "yunnan-2022-2-2"]


#: A 昆明 重点农业企业 with a 2022 loan whose certification is granted on 2022-06-02: under yunnan-2022-1-1
#: (重点农业企业新增贷款贴息) it qualifies from that day, not on 2022-05-31.
LEADER = factories.uscc(502, region="530102")


def leader_events() -> list[dict]:
    events = [
        factories.event(firm=LEADER, region="530102", industry="A0111", occurred_at="2022-04-01T09:00:00+08:00"),
        factories.event("loan.issued", firm=LEADER, occurred_at="2022-04-02T09:00:00+08:00", issued_on="2022-03-01"),
        factories.event("certification.granted", firm=LEADER, occurred_at="2022-06-02T09:00:00+08:00"),
    ]
    events[-1]["data"] = {"kind": "agri_leading", "level": "province", "granted_on": "2022-06-02"}
    return [dict(e, id=f"evt-leader-{n}") for n, e in enumerate(events)]


async def test_a_late_check_leaves_a_firm_the_pipeline_judged_since_the_window_opened(store, production_matcher):
    # The service was down over the opening; an event of 2022-06-02 had the pipeline judge the firm then.
    await helpers.ingest(store, production_matcher, leader_events())
    before = [s for s in await store.decisions(LEADER) if s.decision.clause_id == "yunnan-2022-1-1"]
    assert [(s.as_of, s.decision.status) for s in before] == [(dt.date(2022, 6, 2), matching.Verdict.MET)]
    checked = await (await _watcher(store, production_matcher, dt.date(2022, 6, 3))).check()
    # Judged as of 2022-05-31 it would not qualify yet; the fresher judgement stands, and nothing is recorded on it.
    assert [s for s in await store.decisions(LEADER) if s.decision.clause_id == "yunnan-2022-1-1"] == before
    [kept] = [r for r in checked.openings if r.clause_id == "yunnan-2022-1-1"]
    assert (kept.outcome, kept.decisions) == (backfill_store.JUDGED, 0)


async def test_the_first_check_only_starts_watching(recorded, production_matcher):
    checked = await (await _watcher(recorded, production_matcher, MAY_31, checked_through=None)).check()
    assert checked.started and checked.openings == ()
    assert await recorded.windows_checked_through() == MAY_31
    assert await _met(recorded) == set()


async def test_the_checked_day_never_moves_back_and_an_opening_is_kept_once(store):
    await store.set_windows_checked_through(MAY_31)
    await store.set_windows_checked_through(MAY_30)
    assert await store.windows_checked_through() == MAY_31
    first = backfill_store.OpeningRecord("yunnan-2022-2-1", MAY_31, backfill_store.JUDGED, firms=3, decisions=2, met=1)
    assert await store.record_opening(first)
    assert not await store.record_opening(backfill_store.OpeningRecord("yunnan-2022-2-1", MAY_31, backfill_store.LAPSED))
    [kept] = await store.window_openings()
    assert (kept.clause_id, kept.opens_on, kept.outcome, kept.firms, kept.decisions, kept.met) == (
        "yunnan-2022-2-1", MAY_31, "judged", 3, 2, 1)
    assert kept.handled_at is not None and kept.handled_at.tzinfo is not None


async def test_the_service_runs_the_job_as_it_starts(recorded, production_matcher, config):
    watcher = await _watcher(recorded, production_matcher, MAY_31)
    app = app_module.create_app(config, store=recorded, matcher=production_matcher, run_pipeline=False, windows=watcher)
    assert app[opening.WATCHER] is watcher
    runner = app_module.web.AppRunner(app)
    await runner.setup()  # runs the cleanup contexts' start-up: the job's task starts
    await runner.cleanup()  # stopping waits for its first check to finish
    assert await _met(recorded) == MET_ON_MAY_31
    assert await recorded.windows_checked_through() == MAY_31


def test_the_service_factory_includes_the_job_when_it_judges_a_catalogue(config, production_matcher, tmp_path):
    config = dataclasses.replace(config, database_url=f"sqlite+aiosqlite:///{tmp_path / 'service.sqlite3'}")
    app = app_module.create_service(config, production_matcher, deliver=False)
    assert isinstance(app[opening.WATCHER], opening.WindowWatcher)
    assert opening.WATCHER not in app_module.create_service(config, matching.NullMatcher(), deliver=False)


async def _elsewhere(store):
    """The store of another process of the service on the same database (the in-memory one stands for itself)."""
    if isinstance(store, memory_storage.InMemoryStorage):
        return store
    other = sql_storage.SqlStorage(store.url)
    await other.open()
    return other


async def test_while_one_process_checks_another_does_nothing(recorded, production_matcher):
    await recorded.set_windows_checked_through(MAY_30)
    other = await _elsewhere(recorded)
    try:
        async with recorded.window_check_turn() as mine:
            assert mine
            checked = await opening.WindowWatcher(other, production_matcher, today=Today(MAY_31)).check()
            if getattr(recorded, "is_sqlite", False):
                assert not checked.elsewhere  # one service process per SQLite file: no turns to take
                return
            assert checked.elsewhere and checked.openings == ()
            assert await _met(recorded) == set()
    finally:
        if other is not recorded:
            await other.close()
    # The turn given back, the next check does the work.
    again = await opening.WindowWatcher(recorded, production_matcher, today=Today(MAY_31)).check()
    assert {r.clause_id for r in again.openings} >= MET_ON_MAY_31
