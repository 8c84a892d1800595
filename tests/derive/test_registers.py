"""Attributes from registers and returns the 2022 measures name: customs filing, the "四上" directory,
the VAT credit balance, and the lists and awards kept as certification kinds."""

import datetime as dt

import pytest

from engine.ingest import folding, validation
from engine.judging.derive import attributes
from tests import factories

AS_OF = dt.date(2022, 6, 15)


def _folded(*envelopes) -> dict:
    """The profile the events build (each field set by the last event), nested as docs/profile.md shows it."""
    profile: dict = {}
    for envelope in envelopes:
        for path, value in folding.assignments(validation.validate(envelope, webhook_id="t")).items():
            *parents, leaf = path.split(".")
            node = profile
            for part in parents:
                node = node.setdefault(part, {})
            node[leaf] = value
    return profile


@pytest.mark.parametrize("data,as_of,expected", [
    ({"registered_on": "2019-06-18"}, AS_OF, True),
    ({"registered_on": "2022-07-01"}, AS_OF, False),  # filed after the day judged
    ({"registered_on": "2019-06-18", "cancelled_on": "2022-03-01"}, AS_OF, False),
    ({"registered_on": "2019-06-18", "cancelled_on": "2022-09-01"}, AS_OF, True),  # cancelled later
])
def test_customs_filing_is_held_from_filing_to_cancellation(data, as_of, expected):
    profile = _folded(factories.event("customs.registered", **data))
    assert attributes(profile, as_of)["customs_registered"] is expected


def test_a_new_customs_filing_clears_an_earlier_cancellation():
    profile = _folded(factories.event("customs.registered", cancelled_on="2021-01-01"),
                      factories.event("customs.registered", registered_on="2022-02-01"))
    assert attributes(profile, AS_OF)["customs_registered"] is True


def test_the_scale_directory_of_the_latest_year_up_to_the_years_counts():
    profile = _folded(factories.event("statistics.scale_listed", year=2020, listed=True),
                      factories.event("statistics.scale_listed", year=2021, listed=False),
                      factories.event("statistics.scale_listed", year=2023, listed=True))
    assert attributes(profile, AS_OF)["above_scale"] is False
    assert attributes(profile, dt.date(2020, 12, 31))["above_scale"] is True
    assert attributes(profile, dt.date(2023, 1, 1))["above_scale"] is True
    assert attributes({}, AS_OF)["above_scale"] is False  # not in the directory: the directory is authoritative


def test_the_credit_balance_is_the_latest_returns_and_unknown_when_it_reports_none():
    march = factories.event("tax.vat_declared", period="2022-03", taxpayer_type="general",
                            sales=300000, credit_balance=42000)
    april = factories.event("tax.vat_declared", period="2022-04", taxpayer_type="general",
                            sales=300000, credit_balance=0)
    assert attributes(_folded(march), AS_OF)["vat_credit_balance"] == 42000.0
    assert attributes(_folded(march, april), AS_OF)["vat_credit_balance"] == 0.0
    silent = factories.event("tax.vat_declared", period="2022-05", taxpayer_type="general", sales=1)
    assert "vat_credit_balance" not in attributes(_folded(march, silent), AS_OF)


@pytest.mark.parametrize("kind", ["key_sme", "scale_up_cultivation", "little_giant_cultivation",
                                  "restructuring_cultivation", "startup_base", "china_quality_award"])
def test_lists_and_awards_are_certification_kinds(kind):
    granted = factories.event("certification.granted", level="county", granted_on="2022-03-01")
    granted["data"]["kind"] = kind  # `kind` is also the factory's name for the event type
    attrs = attributes(_folded(granted), AS_OF)
    assert (attrs[f"cert_{kind}"], attrs[f"cert_{kind}_level"], attrs[f"cert_{kind}_date"]) == (True, "county", 20220301)
    revoked = factories.event("certification.revoked", revoked_on="2022-05-01")
    revoked["data"]["kind"] = kind
    assert attributes(_folded(granted, revoked), AS_OF)[f"cert_{kind}"] is False
