"""Which clause windows opened and closed between two days: the pure rule the window job follows.

The catalogue's 云南 measures (yunnan-2022) open on 2022-05-31 (and one clause on 2022-06-01);
yunnan-2022-2-2 (加力税收优惠政策) closes after 2022-06-30.
"""

from __future__ import annotations

import datetime as dt

import pytest

from engine.backfill import windows

MAY_30, MAY_31, JUNE_1 = dt.date(2022, 5, 30), dt.date(2022, 5, 31), dt.date(2022, 6, 1)


@pytest.fixture(scope="module")
def catalogue(production_matcher):
    return production_matcher.catalogue


def _opening_on(catalogue, day):
    return {c.id for c in catalogue.firm_facing() if c.valid_from == day}


def test_never_checked_judges_nothing(catalogue):
    found = windows.due(catalogue, None, MAY_31, ())
    assert (found.judge, found.lapsed, found.closed) == ({}, (), ())


def test_the_windows_that_opened_since_the_last_check_are_judged_as_of_their_first_day(catalogue):
    found = windows.due(catalogue, MAY_30, JUNE_1, ())
    assert set(found.judge) == {MAY_31, JUNE_1}
    assert found.judge[MAY_31] == _opening_on(catalogue, MAY_31) and "yunnan-2022-2-1" in found.judge[MAY_31]
    assert found.judge[JUNE_1] == {"yunnan-2022-1-3"}
    # Nothing that opened on or before the day last checked.
    assert not {clause_id for clause_id, _ in found.openings} & _opening_on(catalogue, dt.date(2022, 4, 22))


def test_a_day_already_checked_has_nothing_to_do(catalogue):
    assert windows.due(catalogue, MAY_31, MAY_31, ()).judge == {}
    assert windows.due(catalogue, JUNE_1, MAY_31, ()).judge == {}


def test_an_opening_handled_before_is_not_judged_again(catalogue):
    found = windows.due(catalogue, MAY_30, MAY_31, {("yunnan-2022-2-1", MAY_31)})
    assert "yunnan-2022-2-1" not in found.judge[MAY_31]
    assert found.judge[MAY_31] == _opening_on(catalogue, MAY_31) - {"yunnan-2022-2-1"}


def test_a_window_found_open_only_after_it_closed_again_is_lapsed_not_judged(catalogue):
    found = windows.due(catalogue, MAY_30, dt.date(2022, 7, 5), ())
    assert ("yunnan-2022-2-2", MAY_31) in found.lapsed
    assert "yunnan-2022-2-2" not in found.judge[MAY_31]
    # Its closing (the first day it is no longer in force) is reported.
    assert windows.Change(dt.date(2022, 7, 1), windows.CLOSES, "yunnan-2022-2-2") in found.closed


def test_a_window_closes_the_day_after_its_last_day(catalogue):
    last_day = dt.date(2022, 6, 30)
    assert not [c for c in windows.due(catalogue, dt.date(2022, 6, 29), last_day, ()).closed if c.clause_id == "yunnan-2022-2-2"]
    closed = windows.due(catalogue, last_day, dt.date(2022, 7, 1), ()).closed
    assert [c.clause_id for c in closed] == ["yunnan-2022-2-2"]


def test_upcoming_lists_openings_and_closings_in_date_order(catalogue):
    soon = windows.upcoming(catalogue, MAY_31, 31)
    assert soon == sorted(soon)
    assert windows.Change(JUNE_1, windows.OPENS, "yunnan-2022-1-3") in soon
    assert windows.Change(dt.date(2022, 7, 1), windows.CLOSES, "yunnan-2022-2-2") in soon
    assert all(MAY_31 <= change.on <= dt.date(2022, 7, 1) for change in soon)
