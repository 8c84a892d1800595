"""Benefits whose window closed long before the decision is recorded (a bulk import of old events) are
recorded but held, not pushed, until an operator releases them; whatever is sent says the benefit's
period in words a firm reads correctly.

Through the real parts: signed webhooks, the pipeline, the production matcher, the SQL outbox, the
delivery worker with the real composer and the file connectors.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import email
import email.policy
import json

import pytest

from engine.core import china_time
from engine.notices import compose, worker
from engine.web import senders
from tests import conftest, factories
from tests.seams import helpers
from tests.web import calculator_firms as firms

pytestmark = pytest.mark.parametrize("store", conftest.SQL_BACKENDS, indirect=True)

# yunnan-2022#二(一) "加力房租减免": in force 2022-05-31 to 2022-12-31 (the plan's 2022 measures).
RENT_CLAUSE, RENT_WINDOW_END = firms.RENT_CLAUSE, dt.date(2022, 12, 31)
# lvliang-2022#18: the document sets no end date, so its notices are never held.
IP_CLAUSE = "lvliang-2022-18"
BUYER = factories.uscc(731, region="141102")
ALLOWANCE = dt.timedelta(days=90)


@pytest.fixture
def notice_settings(config, tmp_path):
    return dataclasses.replace(config, notices=dataclasses.replace(
        config.notices, outbox_dir=tmp_path / "outbox", secret_key="k" * 32, quiet_hours=None, stale_after=ALLOWANCE))


def delivery(store, notice_settings, production_matcher) -> worker.DeliveryWorker:
    return worker.DeliveryWorker(
        store, compose.Composer(production_matcher.catalogue, notice_settings.notices), senders.build_channels(notice_settings.notices, {}))


def sent_files(notice_settings) -> list[str]:
    outbox = notice_settings.notices.outbox_dir
    return sorted(path.name for path in outbox.iterdir()) if outbox.exists() else []


async def import_2022(client) -> None:
    """2022's events, delivered today: a Yunnan renter (rent waiver) and a 吕梁 IP buyer."""
    *renter, _designation = firms.renter_in_a_risk_county()
    await helpers.deliver(
        client, *renter,
        (factories.event("contact.updated", firm=firms.RENTER, occurred_at="2022-06-06T08:00:00+08:00"), "renter-contact"),
        (factories.event(firm=BUYER, region="141102", occurred_at="2022-05-01T09:00:00+08:00"), "buyer-reg"),
        (factories.event("contact.updated", firm=BUYER, occurred_at="2022-05-02T08:00:00+08:00"), "buyer-contact"),
        (factories.event("ip.transaction", firm=BUYER, occurred_at="2022-06-01T10:00:00+08:00",
                         transaction_id="IP-1", role="buyer", amount=1_000_000, date="2022-06-01"), "buyer-ip"),
    )


async def test_a_benefit_closed_years_ago_is_held_and_goes_out_only_when_an_operator_releases_it(
    make_client, store, production_matcher, notice_settings
):
    store.stale_after = notice_settings.notices.stale_after  # as the service builds its store from the settings
    client = await make_client(matcher=production_matcher, settings_=notice_settings)
    await import_2022(client)

    rent = {n.channel: n for n in await store.firm_notices(firms.RENTER) if n.clause_id == RENT_CLAUSE}
    ip = {n.channel: n for n in await store.firm_notices(BUYER) if n.clause_id == IP_CLAUSE}
    # The decision is recorded (the operator sees it) but its notices are held ...
    assert {n.status.value for n in rent.values()} == {"held"}
    # ... while a benefit without an end date goes out as usual.
    assert {n.status.value for n in ip.values()} == {"pending"}

    await delivery(store, notice_settings, production_matcher).run_once()
    assert not any(name.startswith(rent["sms"].notice_id) or name.startswith(rent["email"].notice_id)
                   for name in sent_files(notice_settings))
    assert {(await store.get_notice(n.notice_id)).status.value for n in rent.values()} == {"held"}

    viewer, operator = await conftest.bearer(store, "viewer"), await conftest.bearer(store, "operator")
    assert (await client.post(f"/api/notices/{rent['sms'].notice_id}/release", headers=viewer)).status == 403
    for notice in rent.values():
        response = await client.post(f"/api/notices/{notice.notice_id}/release", headers=operator)
        assert response.status == 200 and (await response.json())["status"] == "pending"
    refused = await client.post(f"/api/notices/{ip['sms'].notice_id}/release", headers=operator)
    assert refused.status == 409  # only a held notice is released

    await delivery(store, notice_settings, production_matcher).run_once()
    assert {(await store.get_notice(n.notice_id)).status.value for n in rent.values()} == {"sent"}
    outbox = notice_settings.notices.outbox_dir
    text = json.loads((outbox / f"{rent['sms'].notice_id}.sms.json").read_text(encoding="utf-8"))["text"]
    # The SMS never tells an ended period as current; the email says it ended on 31 December 2022.
    assert "至2022年12月31日" not in text and "/m/" in text
    message = email.message_from_bytes((outbox / f"{rent['email'].notice_id}.eml").read_bytes(), policy=email.policy.default)
    body = message.get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert "有效期：2022年5月31日至2022年12月31日（已结束）" in body and "所属年度：2022年度" in body
    timeline = [a.kind for a in await store.notice_attempts(rent["sms"].notice_id)]
    assert timeline == ["release", "send"]


async def test_within_the_allowance_it_is_pushed_and_says_the_window_has_closed(
    make_client, store, production_matcher, notice_settings
):
    # An allowance reaching back past the end of 2022: the notice goes out, worded as closed.
    allowance = china_time.today_in_china() - RENT_WINDOW_END + dt.timedelta(days=30)
    store.stale_after = allowance
    settings = dataclasses.replace(notice_settings, notices=dataclasses.replace(notice_settings.notices, stale_after=allowance))
    client = await make_client(matcher=production_matcher, settings_=settings)
    await import_2022(client)
    rent = {n.channel: n for n in await store.firm_notices(firms.RENTER) if n.clause_id == RENT_CLAUSE}
    assert {n.status.value for n in rent.values()} == {"pending"}
    await delivery(store, settings, production_matcher).run_once()
    # It goes out with the firm's other notices, as one email that lists it and says its window has closed.
    sent = await store.get_notice(rent["email"].notice_id)
    assert sent.status.value == "sent"
    message = email.message_from_bytes((settings.notices.outbox_dir / f"{sent.digest_id}.eml").read_bytes(), policy=email.policy.default)
    body = message.get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert "加力房租减免" in body and "有效期：2022年5月31日至2022年12月31日（已结束）" in body
    assert (await store.get_notice(rent["sms"].notice_id)).status.value == "sent"


async def test_a_notice_waiting_for_a_contact_that_comes_long_after_the_window_is_held_not_pushed(
    make_client, store, production_matcher, notice_settings
):
    # Recorded while pushing was still right (no allowance yet), but the firm had no contact on file ...
    client = await make_client(matcher=production_matcher, settings_=notice_settings)
    *renter, _designation = firms.renter_in_a_risk_county()
    await helpers.deliver(client, *renter)
    await delivery(store, notice_settings, production_matcher).run_once()
    rent = [n for n in await store.firm_notices(firms.RENTER) if n.clause_id == RENT_CLAUSE]
    assert {n.status.value for n in rent} == {"waiting"}
    # ... and the contact comes years after the waiver's window closed: not pushed, held for an operator.
    store.stale_after = ALLOWANCE
    await helpers.deliver(client, (factories.event("contact.updated", firm=firms.RENTER), "late-contact"))
    assert {(await store.get_notice(n.notice_id)).status.value for n in rent} == {"held"}
    await delivery(store, notice_settings, production_matcher).run_once()
    assert not any(name.startswith(n.notice_id) for n in rent for name in sent_files(notice_settings))
    assert [a.kind for a in await store.notice_attempts(rent[0].notice_id)][-1] == "contact"


async def test_a_notice_still_unsent_long_after_its_window_closed_is_held_when_it_falls_due(
    make_client, store, production_matcher, notice_settings
):
    # Recorded while pushing was still right (no allowance yet), with the firm's contact on file ...
    client = await make_client(matcher=production_matcher, settings_=notice_settings)
    await import_2022(client)
    rent = [n for n in await store.firm_notices(firms.RENTER) if n.clause_id == RENT_CLAUSE]
    assert {n.status.value for n in rent} == {"pending"}
    # ... but not sent before the waiver's window had long closed (the providers were down, the worker
    # was stopped): when it falls due, it is held for an operator, not pushed.
    store.stale_after = ALLOWANCE
    await delivery(store, notice_settings, production_matcher).run_once()
    assert {(await store.get_notice(n.notice_id)).status.value for n in rent} == {"held"}
    assert not any(name.startswith(n.notice_id) for n in rent for name in sent_files(notice_settings))
    [entry] = [a for a in await store.notice_attempts(rent[0].notice_id) if a.status_after.value == "held"]
    assert "closed" in entry.reason
    # The firm's benefit without an end date went out as usual.
    ip = [n for n in await store.firm_notices(BUYER) if n.clause_id == IP_CLAUSE]
    assert {(await store.get_notice(n.notice_id)).status.value for n in ip} == {"sent"}

    # An operator who releases it sends it: a release is not held again.
    operator = await conftest.bearer(store, "operator")
    for notice in rent:
        assert (await client.post(f"/api/notices/{notice.notice_id}/release", headers=operator)).status == 200
    await delivery(store, notice_settings, production_matcher).run_once()
    assert {(await store.get_notice(n.notice_id)).status.value for n in rent} == {"sent"}
