"""The operators' read API, authentication, health, and the OpenAPI document kept true."""

from __future__ import annotations

import jsonschema
import pytest

from engine.ingest import webhooks
from engine.web import openapi
from tests import conftest, factories

FIRM = factories.uscc(7)


def check_against_openapi(path: str, method: str, status: int, body) -> None:
    """The response body must match the schema the OpenAPI document gives for it."""
    document = openapi.document()
    operation = document["paths"][path][method]
    assert str(status) in operation["responses"], f"{method} {path} answered {status}, not documented"
    content = operation["responses"][str(status)].get("content")
    if content is None:
        return
    schema = {**content["application/json"]["schema"], "components": document["components"]}
    jsonschema.Draft202012Validator(schema).validate(body)


async def deliver(client, body, msg_id):
    data, headers = factories.signed(body, msg_id=msg_id)
    response = await client.post("/webhooks/events", data=data, headers=headers)
    check_against_openapi("/webhooks/events", "post", response.status, await response.json())
    return response


async def test_api_needs_a_bearer_token(client, store):
    for headers in ({}, {"Authorization": "Bearer pp_not-a-token"}, {"Authorization": "Basic abc"}):
        response = await client.get(f"/api/firms/{FIRM}", headers=headers)
        assert response.status == 401
        check_against_openapi("/api/firms/{uscc}", "get", 401, await response.json())


async def test_firm_profile_with_provenance_after_events(client, store):
    auth = await conftest.bearer(store)
    await deliver(client, factories.event(firm=FIRM), "msg_reg")
    await deliver(client, factories.event("firm.updated", firm=FIRM, occurred_at="2022-06-01T09:00:00+08:00", name="新名称有限公司"), "msg_upd")
    await client.app[webhooks.PIPELINE].drained()
    response = await client.get(f"/api/firms/{FIRM}", headers=auth)
    assert response.status == 200
    body = await response.json()
    check_against_openapi("/api/firms/{uscc}", "get", 200, body)
    assert body["profile"]["name"] == "新名称有限公司" and body["profile"]["region"] == "140302"
    name = body["provenance"]["name"]
    assert name["event_id"] == "msg_upd"
    assert [h["event_id"] for h in name["history"]] == ["msg_reg", "msg_upd"]
    assert body["provenance"]["industry"]["event_id"] == "msg_reg"
    assert body["events_applied"] == 2


async def test_unknown_firm_is_404_and_bad_uscc_is_400(client, store):
    auth = await conftest.bearer(store)
    missing = await client.get(f"/api/firms/{factories.uscc(999)}", headers=auth)
    assert missing.status == 404
    check_against_openapi("/api/firms/{uscc}", "get", 404, await missing.json())
    bad = await client.get("/api/firms/91140302MA0000000X", headers=auth)
    assert bad.status == 400


async def test_event_detail(client, store):
    auth = await conftest.bearer(store, "operator")
    await deliver(client, factories.event(firm=FIRM), "msg_detail")
    await client.app[webhooks.PIPELINE].drained()
    response = await client.get("/api/events/msg_detail", headers=auth)
    body = await response.json()
    check_against_openapi("/api/events/{event_id}", "get", 200, body)
    assert body["status"] == "processed" and body["body"]["uscc"] == FIRM
    assert body["headers"]["webhook-id"] == "msg_detail" and "webhook-signature" in body["headers"]
    assert (await client.get("/api/events/nope", headers=auth)).status == 404


async def test_health_and_readiness(client, store):
    health = await client.get("/healthz")
    check_against_openapi("/healthz", "get", 200, await health.json())
    ready = await client.get("/readyz")
    body = await ready.json()
    check_against_openapi("/readyz", "get", ready.status, body)
    assert ready.status == 200 and body["status"] == "ready"


@pytest.mark.parametrize("empty_database", ["sqlite"], indirect=True)
async def test_readiness_fails_on_an_unmigrated_database(make_client, empty_database):
    import sqlite3

    from connectors import sql_storage

    # A SQLite database without this service's tables (a missing file is refused before it is opened).
    connection = sqlite3.connect(empty_database.split("///", 1)[1])
    connection.execute("CREATE TABLE other (x)")
    connection.close()
    client = await make_client(sql_storage.SqlStorage(empty_database), run_pipeline=False)
    response = await client.get("/readyz")
    body = await response.json()
    assert response.status == 503 and "policy-push db upgrade" in body["checks"]["migrations"]


@pytest.mark.parametrize("store", ["memory"], indirect=True)
async def test_openapi_documents_exactly_the_routes_served(client):
    response = await client.get("/api/openapi.json")
    assert response.status == 200
    document = await response.json()
    # The console's HTML pages are documented in docs/console.md (and checked by tests/console).
    served = {
        (route.resource.canonical, route.method.lower())
        for route in client.app.router.routes()
        if route.method != "HEAD" and not route.resource.canonical.startswith("/console")
    }
    documented = {(path, method) for path, item in document["paths"].items() for method in item}
    assert served == documented
    jsonschema.Draft202012Validator.check_schema({"$defs": document["components"]["schemas"]})


@pytest.mark.parametrize("store", ["memory"], indirect=True)
async def test_unknown_route_is_a_json_404(client):
    response = await client.get("/api/nothing-here", headers={})
    assert response.status == 401  # /api is closed before routing reveals anything
    response = await client.get("/nothing-here")
    assert response.status == 404 and (await response.json())["error"] == "not_found"


@pytest.mark.parametrize("store", ["memory"], indirect=True)
async def test_policy_calculator_matches_a_profile_without_storing(make_client, store, production_matcher):
    client = await make_client(matcher=production_matcher)
    auth = await conftest.bearer(store)
    profile = {
        "uscc": FIRM,
        "region": "630102",
        "industry": "F5211",
        "legal_form": "enterprise",
        "tax": {"taxpayer_type": "small_scale", "vat": {"2022-03": {"sales": 150000, "months": 1}}},
    }
    response = await client.post("/api/match", json={"profile": profile, "as_of": "2022-04-15"}, headers=auth)
    body = await response.json()
    check_against_openapi("/api/match", "post", 200, body)
    by_clause = {d["clause_id"]: d for d in body["decisions"]}  # qinghai-2022#(二) is judged in parts
    assert by_clause["qinghai-2022-2"]["status"] == "met" and by_clause["qinghai-2022-2"]["cite"] == "qinghai-2022#(二)"
    assert all(d["status"] in ("met", "unknown") for d in body["decisions"])
    assert all(d["cite"].startswith("qinghai-2022#") for d in body["decisions"])  # nothing outside 青海
    every = await (await client.post("/api/match", json={"profile": profile, "as_of": "2022-04-15", "all": True}, headers=auth)).json()
    assert len(every["decisions"]) > len(body["decisions"])
    over = {**profile, "tax": {"taxpayer_type": "small_scale", "vat": {"2022-03": {"sales": 150001, "months": 1}}}}
    decided = await (await client.post("/api/match", json={"profile": over, "as_of": "2022-04-15", "all": True}, headers=auth)).json()
    assert {d["clause_id"]: d["status"] for d in decided["decisions"]}["qinghai-2022-2"] != "met"
    assert await store.get_firm(FIRM) is None


@pytest.mark.parametrize("store", ["memory"], indirect=True)
async def test_policy_calculator_rejects_bad_requests_naming_the_field(client, store):
    auth = await conftest.bearer(store)
    response = await client.post("/api/match", json={"profile": {}, "as_of": "2022-02-30", "all": "yes"}, headers=auth)
    assert response.status == 422
    body = await response.json()
    check_against_openapi("/api/match", "post", 422, body)
    assert {p["path"] for p in body["problems"]} == {"/as_of", "/all"}
    assert (await client.post("/api/match", data=b"nope", headers=auth)).status == 400


async def test_viewer_tokens_see_masked_contacts_and_unmasked_views_are_audited(client, store):
    await deliver(client, factories.event(firm=FIRM), "msg_pii_reg")
    await deliver(client, factories.event("contact.updated", firm=FIRM), "msg_pii_contact")
    await client.app[webhooks.PIPELINE].drained()
    viewer = await (await client.get(f"/api/firms/{FIRM}", headers=await conftest.bearer(store, "viewer"))).json()
    assert viewer["profile"]["contact"]["mobile"] == "138****8000"
    assert viewer["profile"]["contact"]["email"] == "f***@example.cn"
    assert viewer["provenance"]["contact.mobile"]["history"][0]["value"] == "138****8000"
    assert not [e async for e in store.audit_entries() if e.action == "pii.viewed"]
    operator = await (await client.get(f"/api/firms/{FIRM}", headers=await conftest.bearer(store, "operator"))).json()
    assert operator["profile"]["contact"]["mobile"] == "+8613800138000"
    [seen] = [e async for e in store.audit_entries() if e.action == "pii.viewed"]
    assert seen.subject_id == FIRM and seen.payload["fields"] == ["contact.email", "contact.mobile"] and "(operator)" in seen.actor
