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
