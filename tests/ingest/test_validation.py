"""Event validation: real code lists and rules, every problem named by path, per event type."""

from __future__ import annotations

import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.ingest import folding, validation
from tests import factories


def problems(item, **kwargs) -> dict[str, str]:
    with pytest.raises(validation.Invalid) as caught:
        validation.validate(item, webhook_id=kwargs.pop("webhook_id", "msg_1"), **kwargs)
    return {p.path: p.reason for p in caught.value.problems}


@pytest.mark.parametrize("kind", validation.event_types())
def test_every_type_has_a_valid_example_that_folds(kind):
    envelope = validation.validate(factories.event(kind), webhook_id="msg_1")
    assert envelope.type == kind and envelope.id == "msg_1"
    if kind in validation.REGION_TYPES:
        assert folding.designation(envelope).county == envelope.data["county"]
    else:
        assert folding.assignments(envelope)


def test_uscc_check_digit_is_verified():
    good = factories.uscc(5)
    wrong = good[:-1] + ("A" if good[-1] != "A" else "B")
    assert "checksum" in problems(factories.event(firm=wrong))["/uscc"].lower()
    assert "upper case" in problems(factories.event(firm=good.lower()))["/uscc"]
    # Valid USCCs are remembered between events (a firm's next event skips the check); a refused one
    # is refused again, however often it comes, and a remembered one is still accepted.
    assert validation.validate(factories.event(firm=good), webhook_id="msg_1").uscc == good
    assert "checksum" in problems(factories.event(firm=wrong))["/uscc"].lower()
    assert validation.validate(factories.event(firm=good), webhook_id="msg_1").uscc == good


@pytest.mark.parametrize(
    "region, reason",
    [("14030", "6-digit"), ("999999", "not a known"), ("110103", "not a known")],  # 110103 (崇文区) was abolished in 2010
)
def test_region_must_be_a_known_gbt2260_code(region, reason):
    assert reason in problems(factories.event(region=region))["/data/region"]


@pytest.mark.parametrize(
    "industry, reason",
    [("5211", "section letter"), ("F52111", "section letter"), ("F9999", "not a GB/T 4754-2017 code"), ("C5211", "belongs to section F")],
)
def test_industry_must_be_a_known_gbt4754_code_in_its_section(industry, reason):
    assert reason in problems(factories.event(industry=industry))["/data/industry"]


@pytest.mark.parametrize("industry", ["F", "F52", "F521", "F5211", "A0511", "C4320"])
def test_industry_at_every_level_is_accepted(industry):
    validation.validate(factories.event(industry=industry), webhook_id="m")


def test_dates_amounts_and_enums():
    found = problems(factories.event("lease.reported", start="2022-02-30", end="2021-01-01", monthly_rent=-1, landlord_type="个人"))
    assert "YYYY-MM-DD" not in found["/data/start"] and "day is out of range" in found["/data/start"]
    assert found["/data/monthly_rent"] == "-1 is less than the minimum of 0"
    assert found["/data/landlord_type"].startswith("must be one of state_owned_enterprise")


def test_lease_end_before_start():
    assert problems(factories.event("lease.reported", start="2022-06-01", end="2022-05-31")) == {"/data/end": "must not be before start"}


@pytest.mark.parametrize("mobile", ["12345", "010-12345678", "+14155552671", "1380013800"])
def test_mobile_must_be_a_mainland_mobile_number(mobile):
    assert "/data/mobile" in problems(factories.event("contact.updated", mobile=mobile))


def test_mobile_is_stored_in_e164():
    envelope = validation.validate(factories.event("contact.updated", mobile="138 0013 8000"), webhook_id="m")
    assert folding.assignments(envelope)["contact.mobile"] == "+8613800138000"


def test_occurred_at_needs_an_offset_and_not_the_future():
    assert "UTC offset" in problems(factories.event(occurred_at="2022-05-01T09:00:00"))["/occurred_at"]
    future = (datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=2)).isoformat()
    assert problems(factories.event(occurred_at=future)) == {"/occurred_at": "is in the future"}


def test_unknown_type_unknown_keys_and_missing_fields_are_all_reported():
    item = factories.event()
    item["extra"] = 1
    del item["data"]["name"]
    item["data"]["colour"] = "red"
    found = problems(item)
    assert found == {
        "/extra": "is not an allowed property",
        "/data/name": "is required",
        "/data/colour": "is not an allowed property",
    }
    assert "must be one of" in problems({**factories.event(), "type": "firm.exploded"})["/type"]


def test_region_events_carry_no_uscc_and_firm_events_need_one():
    region = factories.event("region.risk_designated")
    assert problems({**region, "uscc": factories.uscc(1)})["/uscc"].startswith("must be absent")
    firm = factories.event()
    del firm["uscc"]
    assert problems(firm) == {"/uscc": "is required"}


def test_body_id_must_match_the_webhook_id():
    assert problems({**factories.event(), "id": "other"}, webhook_id="msg_1") == {"/id": "must equal the webhook-id header when given"}


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(
    kind=st.sampled_from(validation.event_types()),
    mutation=st.dictionaries(st.sampled_from(["type", "occurred_at", "uscc", "data", "id", "x"]), json_values, max_size=3),
    data_mutation=st.dictionaries(st.text(max_size=15), json_values, max_size=3),
)
def test_validation_never_crashes_and_accepts_only_what_folds(kind, mutation, data_mutation):
    item = factories.event(kind)
    item.update(mutation)
    if isinstance(item.get("data"), dict):
        item["data"].update(data_mutation)
    try:
        envelope = validation.validate(item, webhook_id="msg_h")
    except validation.Invalid as exc:
        assert exc.problems and all(p.path == "" or p.path.startswith("/") for p in exc.problems)
        return
    if envelope.type in validation.REGION_TYPES:
        folding.designation(envelope)
    else:
        folding.assignments(envelope)
