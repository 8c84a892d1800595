"""POST /api/match judges with the stored facts a decision uses, so it agrees with the stored decision."""

from __future__ import annotations

from tests import conftest
from tests.seams import helpers
from tests.web import calculator_firms as firms
from tests.web.test_api import check_against_openapi


async def calculate(client, auth, uscc: str, as_of: str, **extra) -> dict:
    """POST /api/match with the firm's stored profile, as an officer copies it from GET /api/firms."""
    firm = await (await client.get(f"/api/firms/{uscc}", headers=auth)).json()
    response = await client.post("/api/match", json={"profile": firm["profile"], "as_of": as_of, "all": True, **extra}, headers=auth)
    body = await response.json()
    assert response.status == 200, body
    check_against_openapi("/api/match", "post", 200, body)
    return body


def verdict(body: dict, clause_id: str) -> tuple[str, float | None]:
    (decision,) = [d for d in body["decisions"] if d["clause_id"] == clause_id]
    return decision["status"], decision["amount"]


async def test_the_calculator_reads_the_county_risk_designation_the_stored_decision_used(make_client, store, production_matcher):
    client = await make_client(matcher=production_matcher)
    await helpers.deliver(client, *firms.renter_in_a_risk_county())
    as_of, status, amount = (await helpers.verdicts(store, firms.RENTER, firms.RENT_CLAUSE))[-1]
    assert (status, amount) == ("met", firms.MONTHLY_RENT * firms.RISK_AREA_MONTHS)  # the pipeline's: 6 months
    auth = await conftest.bearer(store)

    body = await calculate(client, auth, firms.RENTER, as_of)
    assert verdict(body, firms.RENT_CLAUSE) == (status, amount)
    assert body["context"]["risk_years"] == [2022] and body["context"]["risk_years_from"] == "store"

    # an explicit risk_years wins over the store: none at all gives the 3 months of a county without a risk area
    override = await calculate(client, auth, firms.RENTER, as_of, risk_years=[])
    assert verdict(override, firms.RENT_CLAUSE) == ("met", firms.MONTHLY_RENT * firms.MONTHS)
    assert override["context"]["risk_years"] == [] and override["context"]["risk_years_from"] == "request"


async def test_the_calculator_counts_the_grants_stored_for_the_firm_against_a_yearly_cap(make_client, store, production_matcher):
    client = await make_client(matcher=production_matcher)
    await helpers.deliver(client, *firms.buyer_past_the_yearly_cap())
    as_of, status, amount = (await helpers.verdicts(store, firms.IP_BUYER, firms.IP_CLAUSE))[-1]
    assert (as_of, status) == ("2022-09-01", "not_met")  # the 2,000,000 of June used the year's cap up
    auth = await conftest.bearer(store)

    body = await calculate(client, auth, firms.IP_BUYER, as_of)
    assert verdict(body, firms.IP_CLAUSE) == (status, amount)
    assert body["context"]["stored_grants"] >= 1


async def test_naming_a_demonstration_county_tells_its_smes_and_the_calculator_reads_it(make_client, store, production_matcher):
    client = await make_client(matcher=production_matcher)
    events = firms.smes_before_a_demo_county_is_named()
    await helpers.deliver(client, *events[:-1])
    # before the city names a 创建县, neither firm is told of the county's training
    for uscc in (firms.DEMO_FIRM, firms.OTHER_FIRM):
        assert (await helpers.verdicts(store, uscc, firms.DEMO_CLAUSE))[-1][1] == "not_met"

    await helpers.deliver(client, events[-1])
    as_of, status, _ = (await helpers.verdicts(store, firms.DEMO_FIRM, firms.DEMO_CLAUSE))[-1]
    assert (as_of, status) == ("2022-07-15", "met")  # re-judged on the day 孝义 was named
    assert (await helpers.verdicts(store, firms.OTHER_FIRM, firms.DEMO_CLAUSE))[-1][1] == "not_met"

    auth = await conftest.bearer(store)
    body = await calculate(client, auth, firms.DEMO_FIRM, as_of)
    assert verdict(body, firms.DEMO_CLAUSE) == ("met", None)
    assert body["context"]["demo_county_years"] == [2022] and body["context"]["risk_years"] == []
    # stating risk years replaces only the stored risk designations, not the county's other designations
    stated = await calculate(client, auth, firms.DEMO_FIRM, as_of, risk_years=[2022])
    assert verdict(stated, firms.DEMO_CLAUSE) == ("met", None) and stated["context"]["demo_county_years"] == [2022]
