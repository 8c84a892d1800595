"""schemathesis against the served OpenAPI document: every operation, with an admin bearer token,
positive and negative inputs; no 5xx, and status, content type and body as documented.

The app is the service's own (create_app, the production matcher, a seeded firm) on a real local
port, over SQLite and over PostgreSQL. The operations are those of openapi.document(), which is
what /api/openapi.json serves (held equal below), so whatever path the app documents, now or
later, is fuzzed. The webhook is sent each generated case twice: as generated (its signature
headers are random strings: refused with a 4xx, nothing written) and signed with the configured
secret, so the generated body gets past the signature check to validation.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis

from engine.judging import catalogue
from engine.web import openapi
from tests import conftest, factories
from tests.fuzz import budget, conformance, live, signing

CHECKS = conformance.CHECKS
PUSH_PATHS = {"/webhooks/sms-report", "/webhooks/sms-reply"}
#: The seeded firm's county (西宁市城东区, Qinghai): the Qinghai measure judges it, so it has decisions.
REGION = "630102"


def seed_events(firm: str) -> list[dict[str, Any]]:
    """A small firm with contact data, tax and insurance records: enough for decisions and notices."""
    return [
        factories.event("firm.registered", firm=firm, region=REGION, occurred_at="2022-03-01T09:00:00+08:00"),
        factories.event("contact.updated", firm=firm),
        factories.event("tax.vat_declared", firm=firm, occurred_at="2022-04-15T09:00:00+08:00", period="2022-03", sales=150000),
        factories.event("tax.cit_filed", firm=firm),
        factories.event("social_insurance.reported", firm=firm),
        factories.event("certification.granted", firm=firm),
        factories.event("region.risk_designated", county=REGION),
    ]


@pytest.fixture(scope="module", params=conftest.SQL_BACKENDS)
def live_api(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[live.LiveApp]:
    """The app with the production matcher and a seeded firm, on a real port, over SQLite and
    over PostgreSQL (the production profile: column limits SQLite does not enforce)."""
    tmp = tmp_path_factory.mktemp("api-fuzz")
    with live.serving(request.param, tmp, matcher=catalogue.default_matcher()) as app:
        firm = factories.uscc(9001, region=REGION)
        with requests.Session() as session:
            for item in seed_events(firm):
                body, headers = factories.signed(item)
                response = session.post(f"{app.base_url}/webhooks/events", data=body, headers=headers, timeout=budget.REQUEST_TIMEOUT_SECONDS)
                assert response.status_code == 202, response.text
        app.drain()
        app.seeded_firm = firm  # type: ignore[attr-defined]
        app.admin = app.token("admin")  # type: ignore[attr-defined]
        yield app


@pytest.fixture(scope="module")
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


# Eager: schemathesis' lazy loader (pytest.from_fixture) breaks on pytest 9 (it writes
# Function._nodeid), so the operations are taken from the document the route serves, built by
# the same function; test_the_fuzzed_document_is_the_served_one holds the two equal.
schema = schemathesis.openapi.from_dict(openapi.document())


@schema.parametrize()
@budget.fuzz_settings(budget.API_EXAMPLES)
def test_every_operation_answers_as_documented_and_never_5xx(case: Any, live_api: live.LiveApp, http: requests.Session) -> None:
    timeout = budget.REQUEST_TIMEOUT_SECONDS
    if case.path == "/webhooks/events":
        before = live_api.counts()
        refused = case.call_and_validate(base_url=live_api.base_url, session=http, checks=CHECKS, timeout=timeout)
        assert 400 <= refused.status_code < 500, refused.text
        assert live_api.counts() == before, "a refused delivery wrote to the database"
        body, headers = signing.sign_case_body(case)
        response = case.call_and_validate(base_url=live_api.base_url, session=http, headers=headers, data=body, checks=CHECKS, timeout=timeout)
        conformance.assert_problems_listed(response)
        return
    params = {"token": live.PUSH_TOKEN} if case.path in PUSH_PATHS else None
    case.call_and_validate(base_url=live_api.base_url, session=http, headers=live_api.admin, params=params, checks=CHECKS, timeout=timeout)


@pytest.fixture
def loaded_schema(live_api: live.LiveApp) -> Any:
    """The document as a client gets it: fetched from the running app."""
    return schemathesis.openapi.from_url(f"{live_api.base_url}/api/openapi.json")


def test_the_fuzzed_document_is_the_served_one(live_api: live.LiveApp, http: requests.Session) -> None:
    served = http.get(f"{live_api.base_url}/api/openapi.json", timeout=budget.REQUEST_TIMEOUT_SECONDS).json()
    assert served == json.loads(json.dumps(openapi.document()))
    assert set(schema) == set(served["paths"])


def test_seeded_resources_conform(loaded_schema: Any, live_api: live.LiveApp, http: requests.Session) -> None:
    """Random inputs hardly ever name a real firm or event; the 200 answers are checked here."""
    firm = live_api.seeded_firm
    firm_case = loaded_schema["/api/firms/{uscc}"]["GET"].Case(path_parameters={"uscc": firm})
    response = firm_case.call_and_validate(session=http, headers=live_api.admin, checks=CHECKS)
    assert response.status_code == 200 and response.json()["decisions"], "the seeded firm has decisions"
    event_id = next(iter(live_api.event_ids()))
    event_case = loaded_schema["/api/events/{event_id}"]["GET"].Case(path_parameters={"event_id": event_id})
    assert event_case.call_and_validate(session=http, headers=live_api.admin, checks=CHECKS).status_code == 200
    match_case = loaded_schema["/api/match"]["POST"].Case(
        body={"profile": response.json()["profile"], "as_of": "2022-06-30", "all": True}, media_type="application/json"
    )
    assert match_case.call_and_validate(session=http, headers=live_api.admin, checks=CHECKS).status_code == 200
    for path in ("/healthz", "/readyz", "/api/openapi.json"):
        case = loaded_schema[path]["GET"].Case()
        assert case.call_and_validate(session=http, checks=CHECKS).status_code == 200
    [(notice_id,), *_] = live_api.query("SELECT notice_id FROM notice")  # the met decisions' notices
    retry = loaded_schema["/api/notices/{notice_id}/retry"]["POST"].Case(path_parameters={"notice_id": notice_id})
    assert retry.call_and_validate(session=http, headers=live_api.admin, checks=CHECKS).status_code == 409  # pending, not dead
