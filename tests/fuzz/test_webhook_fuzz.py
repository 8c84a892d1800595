"""The webhook under fuzzing: schemathesis generates events from engine/schemas (valid and
schema-violating, single and batched), each is signed with the configured secret and posted to
the service's own app; and hypothesis sends unsigned, wrongly signed and garbage deliveries.

For signed deliveries: never a 5xx, the answer conforms to the served document, every 422 lists
its problems with `path` and `reason`, a schema-violating event or batch item is never stored,
what is acknowledged is stored as sent, and every accepted event folds (the production matcher
judges it) without the pipeline parking it as failed. For the rest: a 4xx and nothing written.
"""

from __future__ import annotations

import datetime
import json
import re
import urllib.parse
from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest
import requests
import schemathesis
from hypothesis import given
from hypothesis import strategies as st

from engine.ingest import validation
from engine.judging import catalogue
from tests import conftest, factories
from tests.fuzz import budget, conformance, event_schemas, live, signing

schema = schemathesis.openapi.from_dict(event_schemas.document())
#: Structure only (formats are the service's business): what violates this must never be stored.
SINGLE = {kind: jsonschema.Draft202012Validator(event_schemas.envelope(kind, batch_item=False)) for kind in validation.event_types()}
ITEM = {kind: jsonschema.Draft202012Validator(event_schemas.envelope(kind, batch_item=True)) for kind in validation.event_types()}
EVENT_ID = re.compile(r"[A-Za-z0-9_.:-]{1,128}")


def conforms(item: Any, validators: dict[str, jsonschema.Draft202012Validator]) -> bool:
    kind = item.get("type") if isinstance(item, dict) else None
    return isinstance(kind, str) and kind in validators and validators[kind].is_valid(item)


@pytest.fixture(scope="module")
def formats() -> Iterator[None]:
    event_schemas.register_formats()
    yield
    event_schemas.unregister_formats()


@pytest.fixture(scope="module", params=conftest.SQL_BACKENDS)
def live_hook(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[live.LiveApp]:
    tmp = tmp_path_factory.mktemp("webhook-fuzz")
    with live.serving(request.param, tmp, matcher=catalogue.default_matcher()) as app:
        app.admin = app.token("admin")  # reads bodies back in clear (a viewer sees contact data masked)  # type: ignore[attr-defined]
        yield app


@pytest.fixture(scope="module")
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


def webhook_id(case: Any) -> str:
    """The delivery's id: a single event's own `id` when it has a usable one (they must agree);
    else the generated header when it is no valid event id (too long, odd characters: what is
    fuzzed); else a fresh one, since generated ids repeat and a repeat is only a duplicate."""
    given_id = case.body.get("id") if isinstance(case.body, dict) else None
    if isinstance(given_id, str) and EVENT_ID.fullmatch(given_id):
        return given_id
    generated = (case.headers or {}).get("webhook-id")
    if isinstance(generated, str) and generated and not EVENT_ID.fullmatch(generated):
        return generated
    return factories.message_id()


def path_segment(event_id: str) -> str:
    """`event_id` as one URL path segment. The id pattern allows "." and "..", which clients
    (requests included, per RFC 3986) remove as dot segments unless they are percent-encoded."""
    quoted = urllib.parse.quote(event_id, safe="")
    return quoted.replace(".", "%2E") if set(event_id) == {"."} else quoted


@schema.parametrize()
@budget.fuzz_settings(budget.WEBHOOK_EXAMPLES * len(SINGLE))
def test_signed_generated_events(case: Any, formats: None, live_hook: live.LiveApp, http: requests.Session) -> None:
    payload = case.body
    body = signing.body_bytes(case)
    headers = signing.sign_bytes(body, webhook_id(case))
    before, ids_before = live_hook.counts(), live_hook.event_ids()
    response = case.call_and_validate(
        base_url=live_hook.base_url, session=http, headers=headers, data=body, checks=conformance.CHECKS, timeout=budget.REQUEST_TIMEOUT_SECONDS
    )
    conformance.assert_problems_listed(response)
    new_ids = live_hook.event_ids() - ids_before
    if isinstance(payload, list) and response.status_code in (200, 422) and "results" in response.json():
        results = response.json()["results"]
        assert len(results) == len(payload)
        for item, result in zip(payload, results, strict=True):
            if not conforms(item, ITEM):
                assert result["status"] == "rejected", (item, result)
        assert new_ids == {r["event_id"] for r in results if r["status"] == "accepted"}
    elif response.status_code == 202:
        assert conforms(payload, SINGLE) and EVENT_ID.fullmatch(headers["webhook-id"]), (payload, headers)
        assert new_ids == {headers["webhook-id"]}
        stored = http.get(f"{live_hook.base_url}/api/events/{path_segment(headers['webhook-id'])}", headers=live_hook.admin, timeout=budget.REQUEST_TIMEOUT_SECONDS)
        assert stored.status_code == 200 and stored.json()["body"] == payload, (stored.url, stored.text)
    else:
        assert not new_ids, f"{response.status_code} but stored {new_ids}"
        assert live_hook.counts() == before, "a refused delivery wrote to the database"
    if new_ids:
        live_hook.drain()
        statuses = live_hook.event_statuses()
        failed = {event_id: statuses[event_id] for event_id in new_ids if statuses[event_id][0] != "processed"}
        assert not failed, f"accepted events the pipeline could not fold: {failed}"


# Unsigned, wrongly signed and garbage deliveries ----------------------------------------------

_printable = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=40)


def _tamper(kind: str, body: bytes, headers: dict[str, str], junk: str) -> tuple[bytes, dict[str, str]]:
    """One way of getting a delivery wrong; each must be refused before anything is stored."""
    headers = dict(headers)
    now = int(datetime.datetime.now(datetime.UTC).timestamp())
    if kind == "unsigned":
        for name in ("webhook-id", "webhook-timestamp", "webhook-signature"):
            headers.pop(name)
    elif kind == "missing-one":
        headers.pop(("webhook-id", "webhook-timestamp", "webhook-signature")[len(junk) % 3])
    elif kind == "other-secret":
        headers = signing.sign_bytes(body, headers["webhook-id"], secret=factories.OTHER_SECRET)
    elif kind == "stale":
        headers = signing.sign_bytes(body, headers["webhook-id"], timestamp=now - 3600)
    elif kind == "future":
        headers = signing.sign_bytes(body, headers["webhook-id"], timestamp=now + 3600)
    elif kind == "junk-signature":
        headers["webhook-signature"] = junk
    elif kind == "junk-timestamp":
        headers["webhook-timestamp"] = junk
    elif kind == "body-changed":
        body = body + b" "
    elif kind == "id-changed":
        headers["webhook-id"] = headers["webhook-id"] + "x"
    return body, headers


_bodies = st.one_of(
    st.binary(max_size=200),
    st.sampled_from(sorted(SINGLE)).map(lambda kind: json.dumps(factories.event(kind), ensure_ascii=False).encode()),
    st.sampled_from([b"", b"null", b"[]", b"{", "非UTF-8".encode("gb18030"), b"\xff\xfe{}"]),
)


@given(
    body=_bodies,
    kind=st.sampled_from(["unsigned", "missing-one", "other-secret", "stale", "future", "junk-signature", "junk-timestamp", "body-changed", "id-changed"]),
    junk=_printable,
)
@budget.fuzz_settings(budget.GARBAGE_EXAMPLES)
def test_unsigned_or_garbage_deliveries_are_refused_and_store_nothing(
    body: bytes, kind: str, junk: str, live_hook: live.LiveApp, http: requests.Session
) -> None:
    body, headers = _tamper(kind, body, signing.sign_bytes(body, factories.message_id()), junk)
    before = live_hook.counts()
    response = http.post(f"{live_hook.base_url}{event_schemas.WEBHOOK}", data=body, headers=headers, timeout=budget.REQUEST_TIMEOUT_SECONDS)
    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    assert response.status_code in (400, 401), response.text  # UTF-8 is checked first, then the signature
    assert response.headers["content-type"].startswith("application/json") and response.json()["error"]
    assert live_hook.counts() == before


@given(body=st.binary(max_size=300) | st.text(max_size=100).map(str.encode))
@budget.fuzz_settings(budget.GARBAGE_EXAMPLES)
def test_correctly_signed_garbage_is_a_4xx(body: bytes, live_hook: live.LiveApp, http: requests.Session) -> None:
    """Bytes that are not an event, but signed: past the signature, refused as not UTF-8, not JSON or not valid."""
    before = live_hook.counts()
    response = http.post(
        f"{live_hook.base_url}{event_schemas.WEBHOOK}", data=body, headers=signing.sign_bytes(body, factories.message_id()), timeout=budget.REQUEST_TIMEOUT_SECONDS
    )
    assert response.status_code in (400, 422), (response.status_code, response.text)
    conformance.assert_problems_listed(response)
    assert live_hook.counts() == before
