"""Jurisdiction scopes (engine.core.scopes): parsing what an administrator types, and which firms' regions fall inside."""

from __future__ import annotations

import pytest

from engine.core import scopes


@pytest.mark.parametrize(("typed", "prefixes"), [
    (["530102"], ("530102",)),
    (["5301"], ("5301",)),
    (["530100"], ("5301",)),
    (["53"], ("53",)),
    (["530000"], ("53",)),
    (["530102", "5301"], ("5301",)),  # the county lies in the city
    (["5301", "53", "630104"], ("53", "630104")),
    ([" 630104 ", "530102"], ("530102", "630104")),
])
def test_typed_regions_become_prefixes(typed, prefixes):
    assert scopes.parse(typed) == scopes.Scope(prefixes)


@pytest.mark.parametrize("typed", [[], ["all"], [" ", "all"]])
def test_nothing_or_all_is_every_region(typed):
    assert scopes.parse(typed) is scopes.ALL and scopes.ALL.is_all


@pytest.mark.parametrize(("typed", "reason"), [
    (["5"], "expected a GB/T 2260 code"),
    (["53010"], "expected a GB/T 2260 code"),
    (["云南"], "expected a GB/T 2260 code"),
    (["999999"], "999999 is not a region code in use"),
    (["5399"], "539900 is not a region code in use"),
    (["110103"], "110103 is not a region code in use"),  # 崇文区, abolished in 2010
    (["all", "53"], "cannot be combined"),
])
def test_bad_regions_are_refused_naming_the_value(typed, reason):
    with pytest.raises(scopes.ScopeError, match=reason):
        scopes.parse(typed)


@pytest.mark.parametrize(("scope", "region", "inside"), [
    (scopes.ALL, "530102", True),
    (scopes.ALL, None, True),
    (scopes.Scope(("530102",)), "530102", True),
    (scopes.Scope(("530102",)), "530103", False),
    (scopes.Scope(("5301",)), "530103", True),
    (scopes.Scope(("5301",)), "530201", False),
    (scopes.Scope(("53",)), "532301", True),
    (scopes.Scope(("53",)), "630104", False),
    (scopes.Scope(("53", "630104")), "630104", True),
    (scopes.Scope(("53",)), None, False),  # a firm of unknown region belongs to nobody's county
    (scopes.Scope(("53",)), "53", False),
    (scopes.Scope(("53",)), "5301020", False),
])
def test_covers(scope, region, inside):
    assert scope.covers(region) is inside


def test_stored_form_round_trips_and_names_the_regions():
    scope = scopes.parse(["530102", "63"])
    assert scope.stored() == "530102 63"
    assert scopes.load(scope.stored()) == scope
    assert scopes.load(None) is scopes.ALL and scopes.ALL.stored() is None
    assert scope.describe() == "昆明市五华区（530102）、青海省（63）"
    assert scopes.ALL.describe() == "全部地区"
    with pytest.raises(scopes.ScopeError, match="stored scope"):
        scopes.load("53 x")


@pytest.mark.parametrize(("scope", "prefix", "overlapping"), [
    (scopes.ALL, "630104", True),
    (scopes.Scope(("630102",)), "630102", True),
    (scopes.Scope(("630102",)), "6301", True),  # the city holds the county: its firms there are in scope
    (scopes.Scope(("630102",)), "63", True),
    (scopes.Scope(("630102",)), "630104", False),
    (scopes.Scope(("5301",)), "530102", True),
    (scopes.Scope(("5301",)), "5302", False),
    (scopes.Scope(("53", "630104")), "6301", True),
])
def test_overlaps(scope, prefix, overlapping):
    assert scope.overlaps(prefix) is overlapping
