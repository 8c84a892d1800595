"""POST /webhooks/events as a data-sharing platform sees it, signed by the reference library."""

from __future__ import annotations

import datetime
import json

import pytest

from tests import factories


async def post(client, body, **sign):
    data, headers = factories.signed(body, **sign)
    return await client.post("/webhooks/events", data=data, headers=headers)


async def test_signed_event_is_acknowledged_only_once_stored(client, store):
    response = await post(client, factories.event(), msg_id="msg_first")
    assert response.status == 202
    assert await response.json() == {"event_id": "msg_first", "status": "accepted"}
    stored = await store.get_event("msg_first")
    assert stored is not None and stored.type == "firm.registered"
    assert stored.headers["webhook-id"] == "msg_first"


async def test_redelivery_returns_200_with_the_original_id_and_is_not_processed_again(client, store):
    body = factories.event()
    first = await post(client, body, msg_id="msg_again")
    assert first.status == 202
    second = await post(client, body, msg_id="msg_again")
    assert second.status == 200
    assert await second.json() == {"event_id": "msg_again", "status": "duplicate"}
    assert len(await store.firm_events(body["uscc"])) == 1


async def test_same_id_with_a_different_body_is_a_conflict(client, store):
    assert (await post(client, factories.event(), msg_id="msg_c")).status == 202
    response = await post(client, factories.event(name="另一家公司"), msg_id="msg_c")
    assert response.status == 409
    assert (await response.json())["event_id"] == "msg_c"
    assert json.loads((await store.get_event("msg_c")).body)["data"]["name"] == "阳泉市城区示例商贸有限公司"


async def test_forged_signature_is_401_and_nothing_is_stored(client, store):
    response = await post(client, factories.event(), msg_id="msg_forged", secret=factories.OTHER_SECRET)
    assert response.status == 401
    body = await response.json()
    assert body["error"] == "invalid_signature" and "No matching signature" in body["message"]
    assert await store.get_event("msg_forged") is None


async def test_tampered_body_is_401(client, store):
    data, headers = factories.signed(factories.event(), msg_id="msg_tamper")
    response = await client.post("/webhooks/events", data=data.replace(b"2022", b"2023"), headers=headers)
    assert response.status == 401
    assert await store.get_event("msg_tamper") is None


@pytest.mark.parametrize("minutes, word", [(-6, "too old"), (6, "too new")])
async def test_timestamp_outside_five_minutes_is_401(client, store, minutes, word):
    when = datetime.datetime.now(datetime.UTC) + datetime.timedelta(minutes=minutes)
    response = await post(client, factories.event(), msg_id="msg_stale", timestamp=when)
    assert response.status == 401
    assert word in (await response.json())["message"]
    assert await store.get_event("msg_stale") is None


@pytest.mark.parametrize("drop", ["webhook-id", "webhook-timestamp", "webhook-signature"])
async def test_missing_signature_header_is_401(client, drop):
    data, headers = factories.signed(factories.event())
    del headers[drop]
    response = await client.post("/webhooks/events", data=data, headers=headers)
    assert response.status == 401
    assert (await response.json())["error"] == "invalid_signature"


async def test_malformed_signature_header_is_401_not_500(client):
    data, headers = factories.signed(factories.event())
    headers["webhook-signature"] = "garbage"
    response = await client.post("/webhooks/events", data=data, headers=headers)
    assert response.status == 401


async def test_every_configured_secret_is_accepted_for_rotation(make_client, store, config):
    rotated = config.__class__(webhook_secrets=(factories.OTHER_SECRET, factories.SECRET))
    client = await make_client(store, settings_=rotated)
    for secret, msg_id in ((factories.SECRET, "msg_old_key"), (factories.OTHER_SECRET, "msg_new_key")):
        assert (await post(client, factories.event(), msg_id=msg_id, secret=secret)).status == 202


async def test_body_over_the_limit_is_413(make_client, store, config):
    small = config.__class__(webhook_secrets=config.webhook_secrets, max_body_bytes=2048)
    client = await make_client(store, settings_=small)
    event = factories.event(name="很" * 1000)
    response = await post(client, event, msg_id="msg_big")
    assert response.status == 413
    assert (await response.json())["error"] == "payload_too_large"
    assert await store.get_event("msg_big") is None


async def test_body_that_is_not_json_is_400(client):
    response = await post(client, "{not json", msg_id="msg_nj")
    assert response.status == 400
    assert (await response.json())["error"] == "invalid_json"


async def test_invalid_event_is_422_with_every_problem_and_nothing_stored(client, store):
    bad = factories.event(region="999999", industry="Z9999", registered_on="2022-13-01", name="")
    bad["uscc"] = bad["uscc"][:-1] + ("0" if bad["uscc"][-1] != "0" else "1")
    response = await post(client, bad, msg_id="msg_bad")
    assert response.status == 422
    body = await response.json()
    problems = {p["path"]: p["reason"] for p in body["problems"]}
    assert set(problems) == {"/uscc", "/data/region", "/data/industry", "/data/registered_on", "/data/name"}
    assert "checksum" in problems["/uscc"].lower() or "check digit" in problems["/uscc"].lower()
    assert "999999" in problems["/data/region"]
    assert await store.get_event("msg_bad") is None


async def test_no_webhook_secret_configured_is_503(make_client, store):
    client = await make_client(store, settings_=factories_settings())
    assert (await post(client, factories.event())).status == 503


def factories_settings():
    from engine import settings

    return settings.Settings(webhook_secrets=())


async def test_batch_stores_the_good_items_and_reports_each(client, store):
    good_one = {**factories.event(), "id": "evt-1"}
    good_two = {**factories.event("tax.vat_declared"), "id": "evt-2"}
    bad = {**factories.event("tax.vat_declared", sales=-5), "id": "evt-3"}
    no_id = factories.event("tax.credit_rated")
    response = await post(client, [good_one, bad, good_two, no_id])
    assert response.status == 200
    body = await response.json()
    assert (body["accepted"], body["rejected"], body["duplicate"]) == (2, 2, 0)
    assert [r["status"] for r in body["results"]] == ["accepted", "rejected", "accepted", "rejected"]
    assert body["results"][1]["problems"] == [{"path": "/data/sales", "reason": "-5 is less than the minimum of 0"}]
    assert body["results"][3]["problems"] == [{"path": "/id", "reason": "is required on every item of a batch"}]
    assert await store.get_event("evt-1") and await store.get_event("evt-2")
    assert await store.get_event("evt-3") is None

    again = await post(client, [good_one, good_two])
    assert [r["status"] for r in (await again.json())["results"]] == ["duplicate", "duplicate"]


async def test_batch_of_only_bad_items_is_422(client):
    response = await post(client, [{"type": "nope"}])
    assert response.status == 422
    assert (await response.json())["rejected"] == 1


async def test_batch_over_the_item_limit_is_413(make_client, store, config):
    client = await make_client(store, settings_=config.__class__(webhook_secrets=config.webhook_secrets, max_batch_items=2))
    items = [{**factories.event(), "id": f"evt-{i}"} for i in range(3)]
    assert (await post(client, items)).status == 413
    assert await store.get_event("evt-0") is None
