"""GET /metrics: public, Prometheus text, counting what the webhook, the pipeline and the delivery
worker did, and showing queue depths read from storage at scrape time.

Counters are process-wide (the code that bumps them has no app at hand), so every test compares
two scrapes and checks the difference, never an absolute count.
"""

from __future__ import annotations

import asyncio
import collections
import os
import signal
import subprocess
import sys

import aiohttp
import pytest
from prometheus_client import parser

from engine.core import matching, notice_status
from engine.ingest import webhooks
from engine.telemetry import metrics
from engine.testing import memory_storage
from tests import factories, test_crash
from tests.notices import helpers

Scrape = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def scrape(client) -> Scrape:
    """Every sample on /metrics, keyed by (name, sorted labels)."""
    response = await client.get("/metrics")  # no Authorization header: the route is public
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    samples: Scrape = {}
    for family in parser.text_string_to_metric_families(await response.text()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: Scrape, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def delta(before: Scrape, after: Scrape, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


async def post(client, body, **sign):
    data, headers = factories.signed(body, **sign)
    return await client.post("/webhooks/events", data=data, headers=headers)


@pytest.mark.parametrize("store", ["memory"], indirect=True)
async def test_webhook_results_are_counted_by_type_and_refusals_by_error_code(make_client):
    client = await make_client(run_pipeline=False)
    firm = factories.uscc(301)
    before = await scrape(client)

    assert (await post(client, factories.event(firm=firm), msg_id="m-accepted")).status == 202
    assert (await post(client, factories.event(firm=firm), msg_id="m-accepted")).status == 200  # duplicate
    assert (await post(client, factories.event(firm=firm, name="别家"), msg_id="m-accepted")).status == 409
    invalid = factories.event("tax.vat_declared", firm=firm)
    del invalid["data"]["sales"]
    assert (await post(client, invalid)).status == 422
    assert (await post(client, {"type": "made.up", "uscc": firm})).status == 422
    assert (await post(client, factories.event(firm=firm), secret=factories.OTHER_SECRET)).status == 401
    batch = [
        {**factories.event("tax.credit_rated", firm=firm), "id": "b-good"},
        {**factories.event("tax.credit_rated", firm=firm, grade="Z"), "id": "b-bad"},
    ]
    assert (await post(client, batch)).status == 200

    after = await scrape(client)
    received = "policy_push_events_received_total"
    assert delta(before, after, received, type="firm.registered", result="accepted") == 1
    assert delta(before, after, received, type="firm.registered", result="duplicate") == 1
    assert delta(before, after, received, type="firm.registered", result="conflict") == 1
    assert delta(before, after, received, type="tax.vat_declared", result="rejected") == 1
    assert delta(before, after, received, type="unknown", result="rejected") == 1  # not a type we know: no new label
    assert delta(before, after, received, type="tax.credit_rated", result="accepted") == 1
    assert delta(before, after, received, type="tax.credit_rated", result="rejected") == 1
    refused = "policy_push_webhook_refused_total"
    assert delta(before, after, refused, reason="conflict") == 1
    assert delta(before, after, refused, reason="invalid_event") == 2
    assert delta(before, after, refused, reason="invalid_signature") == 1
    # A batch answered 200 is not refused as a whole; its bad item is counted above.
    assert sum(delta(before, after, refused, reason=r) for r in ("conflict", "invalid_event", "invalid_signature")) == sum(
        v - before.get(k, 0.0) for k, v in after.items() if k[0] == refused
    )
    assert value(after, "policy_push_events_pending") == 2  # the pipeline is not running here


class FailingFor(helpers.GrantingMatcher):
    """The granting matcher, except that judging one firm is a defect (the event gets parked)."""

    def __init__(self, broken: str) -> None:
        self.broken = broken

    def match(self, firm_profile, as_of, context):
        if firm_profile.get("uscc") == self.broken:
            raise RuntimeError("a defect in a rule")
        return super().match(firm_profile, as_of, context)


@pytest.mark.parametrize("store", ["memory", "sqlite"], indirect=True)
async def test_pipeline_counts_processed_and_failed_events_and_decisions_by_status(make_client, store):
    broken = factories.uscc(303)
    client = await make_client(matcher=FailingFor(broken))
    before = await scrape(client)
    for body, event_id in helpers.eligible_firm_events():
        assert (await post(client, body, msg_id=event_id)).status == 202
    assert (await post(client, factories.event(firm=broken), msg_id="m-broken")).status == 202
    await client.app[webhooks.PIPELINE].drained()

    after = await scrape(client)
    assert (await store.get_event("m-broken")).status.value == "failed"
    assert delta(before, after, "policy_push_events_processed_total", result="processed") == 3
    assert delta(before, after, "policy_push_events_processed_total", result="failed") == 1
    stored = collections.Counter(d.decision.status.value for d in await store.decisions(helpers.FIRM))
    assert stored["met"] == 1
    for verdict in matching.Verdict:
        assert delta(before, after, "policy_push_decisions_total", status=verdict.value) == stored[verdict.value]
    assert value(after, "policy_push_events_pending") == 0


async def test_notices_gauge_reflects_the_store_and_the_worker_counts_transitions_and_send_time(make_client, store):
    await helpers.feed(store, *helpers.eligible_firm_events())
    client = await make_client(run_pipeline=False)
    first = await scrape(client)
    counts = await store.count_notices()
    assert counts == {"pending": 2}
    for state in notice_status.NoticeStatus:  # every status is shown, zeros included
        assert value(first, "policy_push_notices", status=state.value) == counts.get(state.value, 0)

    delivery, sms, email = helpers.make_worker(store)
    assert await delivery.run_once() == 2
    second = await scrape(client)
    assert value(second, "policy_push_notices", status="sent") == 2
    assert value(second, "policy_push_notices", status="pending") == 0
    for channel in ("sms", "email"):
        assert delta(first, second, "policy_push_notices_transitions_total", channel=channel, status="sent") == 1
        assert delta(first, second, "policy_push_notice_send_seconds_count", channel=channel, outcome="sent") == 1
        assert delta(first, second, "policy_push_notice_send_seconds_bucket", channel=channel, outcome="sent", le="+Inf") == 1
    assert len(sms.sent) == len(email.sent) == 1


class UnreadableStorage(memory_storage.InMemoryStorage):
    """A store whose queue depths cannot be read (the database went away)."""

    async def count_notices(self) -> dict[str, int]:
        raise OSError("connection refused")


@pytest.mark.parametrize("store", ["memory"], indirect=True)
async def test_each_app_has_its_own_gauges_and_a_storage_fault_leaves_them_out(make_client, store):
    await helpers.feed(store, *helpers.eligible_firm_events())
    healthy = await make_client(store, run_pipeline=False)
    broken = await make_client(UnreadableStorage(), run_pipeline=False)
    assert healthy.app[metrics.REGISTRY_KEY] is not broken.app[metrics.REGISTRY_KEY]

    before = await scrape(broken)
    after = await scrape(broken)
    assert value(after, "policy_push_metrics_storage_errors_total") - value(before, "policy_push_metrics_storage_errors_total") == 1
    assert not any(name in ("policy_push_notices", "policy_push_events_pending") for name, _ in after)
    assert ("policy_push_events_processed_total", (("result", "processed"),)) in after  # counters still shown

    shown = await scrape(healthy)
    assert value(shown, "policy_push_notices", status="pending") == 2
    assert value(shown, "policy_push_metrics_storage_errors_total") == 0


@pytest.mark.parametrize("store", ["memory"], indirect=True)
async def test_metrics_carry_no_firm_event_or_notice_ids(make_client, store):
    await helpers.feed(store, *helpers.eligible_firm_events())
    client = await make_client(run_pipeline=False)
    assert (await post(client, factories.event(firm=factories.uscc(305)), msg_id="m-private")).status == 202
    text = await (await client.get("/metrics")).text()
    notice_ids = [n.notice_id for n in await store.firm_notices(helpers.FIRM)]
    for private in [helpers.FIRM, factories.uscc(305), "m-private", *notice_ids, "13800138000", "cfo@example.cn"]:
        assert private not in text


@pytest.mark.parametrize("store", ["sqlite"], indirect=True)
async def test_a_worker_process_serves_its_own_metrics(store, tmp_path):
    """`policy-push worker --metrics-port` exposes the queue and the sends of that process."""
    await helpers.feed(store, *helpers.eligible_firm_events())
    port = test_crash.free_port()
    env = {**os.environ, "POLICY_PUSH_DATABASE_URL": store.url, "POLICY_PUSH_OUTBOX_DIR": str(tmp_path / "outbox"),
           "POLICY_PUSH_SMS_QUIET_HOURS": "off"}  # the SMS must go whatever the hour in China
    worker = subprocess.Popen([sys.executable, "-m", "engine.cli", "worker", "--metrics-port", str(port)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        async with aiohttp.ClientSession() as session:
            deadline = asyncio.get_running_loop().time() + 60
            while True:  # until the worker has sent both notices (files in its outbox) and says so
                assert worker.poll() is None, "the worker exited"
                try:
                    async with session.get(f"http://127.0.0.1:{port}/metrics") as response:
                        text = await response.text()
                    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
                               for f in parser.text_string_to_metric_families(text) for s in f.samples}
                    if value(samples, "policy_push_notices", status="sent") == 2:
                        break
                except aiohttp.ClientConnectionError:
                    pass
                assert asyncio.get_running_loop().time() < deadline, "no metrics showing both notices sent"
                await asyncio.sleep(0.1)  # polling a condition with a deadline
        assert value(samples, "policy_push_notices_transitions_total", channel="email", status="sent") == 1
        assert value(samples, "policy_push_notices_transitions_total", channel="sms", status="sent") == 1
    finally:
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=30) == 0
