"""Hypothesis on event validation, end to end: arbitrary JSON mutations of valid events, signed
and posted to the service's own app over SQLite (pipeline and production matcher running).

Beyond tests/ingest/test_validation.py (the validator alone): no 5xx; the HTTP answer agrees with the
validator; and no partial write: the pipeline is drained before and after each delivery, so a
refused delivery must leave every table (events, firms, provenance, decisions, notices, audit) as
it was, and a batch with bad items stores exactly its good ones, folded from nothing else.
Then the regressions these fuzzers found, pinned as plain examples.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from hypothesis import assume, given

from engine.ingest import strict_json, validation
from engine.judging import catalogue
from tests import conftest, factories
from tests.fuzz import budget, conformance, live, mutations, signing


@pytest.fixture(scope="module")
def live_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[live.LiveApp]:
    tmp = tmp_path_factory.mktemp("validation-fuzz")
    with live.serving("sqlite", tmp, matcher=catalogue.default_matcher()) as app:
        app.admin = app.token("admin")  # type: ignore[attr-defined]
        yield app


@pytest.fixture(scope="module")
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


def post(app: live.LiveApp, http: requests.Session, body: bytes, msg_id: str | None = None) -> requests.Response:
    headers = signing.sign_bytes(body, msg_id or factories.message_id())
    return http.post(f"{app.base_url}/webhooks/events", data=body, headers=headers, timeout=budget.REQUEST_TIMEOUT_SECONDS)


def expected(body: bytes, webhook_id: str | None) -> tuple[str, Any]:
    """What the service should answer, by the validator itself: ("json", None) for a body that is
    not strict JSON, ("invalid", problem paths) or ("valid", envelope)."""
    try:
        item = strict_json.parse_json(body)
    except ValueError:
        return "json", None
    try:
        return "valid", validation.validate(item, webhook_id=webhook_id)
    except validation.Invalid as exc:
        return "invalid", {p.path for p in exc.problems}


def deliver(app: live.LiveApp, http: requests.Session, body: bytes, msg_id: str) -> tuple[requests.Response, dict[str, int], dict[str, int], set[str]]:
    """Post with the pipeline idle before and drained after: (response, counts before, after, new ids)."""
    app.drain()
    before, ids = app.counts(), app.event_ids()
    response = post(app, http, body, msg_id)
    app.drain()
    assert response.status_code < 500, response.text
    conformance.assert_problems_listed(response)
    return response, before, app.counts(), app.event_ids() - ids


def assert_folded(app: live.LiveApp, event_ids: set[str]) -> None:
    statuses = app.event_statuses()
    assert all(statuses[i][0] == "processed" for i in event_ids), {i: statuses[i] for i in event_ids}


@given(case=mutations.items(with_id=False))
@budget.fuzz_settings(budget.MUTATION_EXAMPLES)
def test_mutated_single_event_is_stored_whole_or_not_at_all(case: tuple[Any, bool], live_db: live.LiveApp, http: requests.Session) -> None:
    item, mutated = case
    assume(not isinstance(item, list))  # a root turned into an array is a batch: the next test's
    msg_id = factories.message_id()
    body = json.dumps(item).encode()  # NaN and Infinity written as json.dumps does: not JSON
    verdict, detail = expected(body, msg_id)
    response, before, after, new_ids = deliver(live_db, http, body, msg_id)
    if not mutated:
        assert verdict == "valid" and response.status_code == 202, response.text
    if verdict == "valid":
        assert response.status_code == 202, response.text
        assert new_ids == {msg_id} and live_db.stored_body(msg_id) == body.decode()
        assert_folded(live_db, new_ids)
        return
    assert response.status_code == (400 if verdict == "json" else 422), response.text
    if verdict == "invalid":
        assert {p["path"] for p in response.json()["problems"]} == detail
    assert not new_ids and after == before, "a refused event left rows behind"


@given(batch=mutations.batches())
@budget.fuzz_settings(budget.MUTATION_EXAMPLES)
def test_batch_stores_exactly_its_good_items(batch: list[Any], live_db: live.LiveApp, http: requests.Session) -> None:
    body = json.dumps(batch).encode()
    known = live_db.event_ids()
    response, before, after, new_ids = deliver(live_db, http, body, factories.message_id())
    try:
        strict = strict_json.parse_json(body)
    except ValueError:
        assert response.status_code == 400 and not new_ids and after == before
        return
    good: dict[str, Any] = {}  # id → first valid item under it, in order
    for item in strict:
        try:
            envelope = validation.validate(item)
        except validation.Invalid:
            continue
        good.setdefault(envelope.id, item)
    fresh = {i: item for i, item in good.items() if i not in known}
    results = response.json()["results"]
    assert response.status_code == (200 if good else 422), response.text
    assert {r["event_id"] for r in results if r["status"] == "accepted"} == set(fresh) == new_ids
    for event_id, item in fresh.items():
        assert live_db.stored_body(event_id) == json.dumps(item, ensure_ascii=False, separators=(",", ":"))
    assert after["event"] - before["event"] == len(fresh)
    # Whatever the pipeline wrote after this delivery came from its good items alone.
    bad_ids = {item["id"] for item in strict if isinstance(item, dict) and isinstance(item.get("id"), str)} - set(good) - known
    for table in ("profile_field", "region_designation", "decision"):
        assert not live_db.event_ids_in(table) & bad_ids, table
    assert_folded(live_db, new_ids)


# Regressions the fuzzers found ------------------------------------------------------------------


@pytest.mark.parametrize(
    "occurred_at", ["0001-01-01T00:00:00+08:00", "0001-01-01T01:02:01+20:07", "9999-12-31T23:59:59-12:00"]
)
def test_occurred_at_without_a_utc_instant_is_a_422_not_a_500(occurred_at: str, live_db: live.LiveApp, http: requests.Session) -> None:
    """Year 1 with a positive offset passed validation, then overflowed converting to UTC on insert (500)."""
    response, before, after, new_ids = deliver(live_db, http, json.dumps(factories.event(occurred_at=occurred_at)).encode(), factories.message_id())
    assert response.status_code == 422 and response.json()["problems"][0]["path"] == "/occurred_at"
    assert after == before and not new_ids
    good = {**factories.event(), "id": factories.message_id()}
    batch = [{**factories.event(occurred_at=occurred_at), "id": factories.message_id()}, good]
    response, _, _, new_ids = deliver(live_db, http, json.dumps(batch).encode(), factories.message_id())
    assert response.status_code == 200 and new_ids == {good["id"]}  # one bad item no longer sinks the batch


def test_a_year_written_as_a_float_folds_as_that_year(live_db: live.LiveApp, http: requests.Session) -> None:
    """JSON Schema's integer admits 2021.0: it became profile path tax.cit.2021.0, and beside
    tax.credit_rating.1949 a 1949.0 rating could not be nested: the event was parked as failed."""
    firm = factories.uscc(4242)
    events = [
        factories.event("tax.credit_rated", firm=firm, year=2019),
        factories.event("tax.credit_rated", firm=firm, year=2019.0, grade="B", occurred_at="2022-06-01T09:00:00+08:00"),
        factories.event("tax.cit_filed", firm=firm, year=2021.0),
        factories.event("region.risk_designated", year=2022.0),
    ]
    ids = set()
    for event in events:
        msg_id = factories.message_id()
        response, _, _, new_ids = deliver(live_db, http, json.dumps(event).encode(), msg_id)
        assert response.status_code == 202 and new_ids == {msg_id}
        ids |= new_ids
    assert_folded(live_db, ids)
    profile = http.get(f"{live_db.base_url}/api/firms/{firm}", headers=live_db.admin, timeout=budget.REQUEST_TIMEOUT_SECONDS).json()["profile"]
    assert profile["tax"]["credit_rating"] == {"2019": "B"} and set(profile["tax"]["cit"]) == {"2021"}


NOT_JSON = [
    b'{"type": NaN}',
    b"[Infinity]",
    b'{"x": -Infinity}',
    b'{"x": 1e400}',
    b'{"x": 1' + b"0" * 400 + b"}",
    b'{"x": 1' + b"0" * 5000 + b"}",
    b"[" * 100_000 + b"]" * 100_000,
    b'[{"name": "\\ud800"}]',
    b'{"name": "a\\u0000b"}',
]


@pytest.mark.parametrize(
    "body", NOT_JSON, ids=["nan", "infinity", "minus-infinity", "float-overflow", "int-overflow", "int-digits", "deep", "lone-surrogate", "nul"]
)
def test_what_is_not_json_is_a_400_everywhere(body: bytes, live_db: live.LiveApp, http: requests.Session) -> None:
    """json.loads takes NaN, Infinity and 1e400 (the event was acknowledged, then failed in the
    matcher); nesting 100,000 deep raised RecursionError (a 500) on every JSON endpoint; a lone
    surrogate could not be encoded (a 500 for a batch, and for GET /api/firms after a single
    event), and U+0000 was acknowledged, then failed on PostgreSQL (jsonb cannot hold it)."""
    before = live_db.counts()
    assert post(live_db, http, body).status_code == 400
    json_headers = {"content-type": "application/json"}
    match = http.post(f"{live_db.base_url}/api/match", data=body, headers={**live_db.admin, **json_headers}, timeout=budget.REQUEST_TIMEOUT_SECONDS)
    assert match.status_code == 400, match.text
    for path in ("/webhooks/sms-report", "/webhooks/sms-reply"):
        push = http.post(f"{live_db.base_url}{path}", params={"token": live.PUSH_TOKEN}, data=body, headers=json_headers, timeout=budget.REQUEST_TIMEOUT_SECONDS)
        assert push.status_code == 400, push.text
    assert live_db.counts() == before


@pytest.mark.parametrize(
    "event",
    [
        factories.event("loan.issued", principal=1e308),
        factories.event("lease.reported", monthly_rent=1.7976931348623157e308),
        factories.event("tax.cit_filed", employees=10**15),
    ],
    ids=["loan", "lease", "employees"],
)
def test_a_number_beyond_any_real_amount_is_a_422(event: dict[str, Any], live_db: live.LiveApp, http: requests.Session) -> None:
    """A finite 1e308 principal passed the schema; its interest overflowed in the matcher and the
    acknowledged event was parked as failed."""
    response, before, after, new_ids = deliver(live_db, http, json.dumps(event).encode(), factories.message_id())
    assert response.status_code == 422 and "magnitude" in response.json()["problems"][0]["reason"]
    assert after == before and not new_ids


def test_a_profile_the_matcher_cannot_judge_is_a_422(live_db: live.LiveApp, http: requests.Session) -> None:
    """Two finite rents summing past a double made the matcher raise ValueError: a 500."""
    lease = {"landlord_type": "state_owned_enterprise", "monthly_rent": 1.7e308, "start": "2021-01-01"}
    body = {"profile": {"region": "630102", "leases": {"a": lease, "b": lease}}, "as_of": "2022-06-30"}
    response = http.post(f"{live_db.base_url}/api/match", json=body, headers=live_db.admin, timeout=budget.REQUEST_TIMEOUT_SECONDS)
    assert response.status_code == 422 and response.json()["problems"][0]["path"] == "/profile"


def test_each_missing_field_is_listed_once(live_db: live.LiveApp, http: requests.Session) -> None:
    response = post(live_db, http, b'{"type": "firm.registered"}')
    paths = [p["path"] for p in response.json()["problems"]]
    assert sorted(paths) == ["/data", "/occurred_at", "/uscc"]


@pytest.mark.parametrize("store", conftest.SQL_BACKENDS, indirect=True)
@pytest.mark.parametrize("msg_id", ["m" * 129, "a b", "ünï", "a/b"])
async def test_a_webhook_id_that_is_no_event_id_is_a_422(make_client: Any, store: Any, msg_id: str) -> None:
    """The header is the event id, but only a body `id` was checked: 200 characters overflowed
    PostgreSQL's event_id column (a 500); odd characters made ids no URL could name."""
    client = await make_client(store, run_pipeline=False)
    data, headers = factories.signed(factories.event(), msg_id=msg_id)
    response = await client.post("/webhooks/events", data=data, headers=headers)
    assert response.status == 422
    assert [p["path"] for p in (await response.json())["problems"]] == ["/id"]
    assert await store.get_event(msg_id) is None
