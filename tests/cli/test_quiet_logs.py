"""Quiet, useful logs (issue 17, item 4): at INFO one line per group of events and a periodic summary;
a line per event and per notice only at DEBUG."""

from __future__ import annotations

import json
import logging
import math

import pytest
from aiohttp import test_utils

from connectors import sms
from engine import constants
from engine.ingest import admission, pipeline, validation
from engine.notices import channels
from engine.telemetry import summary
from engine.testing import memory_storage
from tests import factories
from tests.channels import fake_aliyun, test_sms
from tests.notices import helpers

GROUP = 8


def events(count: int) -> list:
    return [
        admission.new_event(validation.validate(body, webhook_id=event_id), json.dumps(body, ensure_ascii=False), {})
        for body, event_id in (
            (factories.event("tax.vat_declared", firm=factories.uscc(1000 + n), period="2022-04"), f"quiet-{n}") for n in range(count)
        )
    ]


def records(caplog: pytest.LogCaptureFixture, logger: str, level: int) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == logger and r.levelno == level]


@pytest.mark.parametrize("count", [1, GROUP, 5 * GROUP + 3])
async def test_the_pipeline_logs_one_info_line_per_group_and_one_debug_line_per_event(caplog, count):
    store = memory_storage.InMemoryStorage()
    await store.add_events(events(count))
    caplog.set_level(logging.DEBUG)
    assert await pipeline.Pipeline(store, helpers.GrantingMatcher(), group_size=GROUP).run_once() == count

    groups = records(caplog, "engine.ingest.pipeline", logging.INFO)
    assert len(groups) == math.ceil(count / GROUP)  # nothing contends here, so every group but the last is full
    assert sum(int(r.getMessage().split("group of ")[1].split()[0]) for r in groups) == count
    assert groups[-1].getMessage().startswith("pipeline: group of ")
    assert all(" folded, 0 failed, " in r.getMessage() and "decision(s) stored" in r.getMessage() for r in groups)
    per_event = records(caplog, "engine.ingest.pipeline", logging.DEBUG)
    assert sorted(r.event_id for r in per_event) == sorted(f"quiet-{n}" for n in range(count))


async def test_a_large_batch_at_info_is_a_handful_of_lines(caplog):
    store = memory_storage.InMemoryStorage()
    await store.add_events(events(400))
    caplog.set_level(logging.INFO)
    await pipeline.Pipeline(store, helpers.GrantingMatcher(), group_size=100).run_once()
    ours = [r for r in caplog.records if r.name.startswith("engine.")]
    assert len(ours) == 4  # 400 events in groups of 100
    assert not [r for r in ours if getattr(r, "event_id", None)]


async def test_the_worker_logs_each_notice_only_at_debug_and_the_summary_counts_them(caplog):
    store = memory_storage.InMemoryStorage()
    summary.TALLY.take()  # counts of earlier tests in this process
    caplog.set_level(logging.INFO)
    assert await helpers.feed(store, *helpers.eligible_firm_events()) == 3
    delivery, sms, email = helpers.make_worker(store)
    assert await delivery.run_once() == 2
    assert len(sms.sent) == len(email.sent) == 1
    assert records(caplog, "engine.notices.worker", logging.INFO) == []

    caplog.clear()
    text = summary.report(constants.LOG_SUMMARY_SECONDS)
    assert text == "last 60s: 3 event(s) folded, 0 failed, 2 decision(s) stored, notices sent 2 (sms 1, email 1)"
    [line] = [r for r in caplog.records if r.name == "engine.telemetry.summary"]
    assert line.levelno == logging.INFO and line.getMessage() == text
    assert summary.report(constants.LOG_SUMMARY_SECONDS) is None  # nothing since: no line
    assert len([r for r in caplog.records if r.name == "engine.telemetry.summary"]) == 1


async def test_at_debug_the_worker_names_each_notice(caplog):
    store = memory_storage.InMemoryStorage()
    caplog.set_level(logging.DEBUG, logger="engine.notices.worker")
    await helpers.feed(store, *helpers.eligible_firm_events())
    delivery, _sms, _email = helpers.make_worker(store)
    await delivery.run_once()
    notices = {n.notice_id for n in await store.firm_notices(helpers.FIRM)}
    assert {r.notice_id for r in records(caplog, "engine.notices.worker", logging.DEBUG)} == notices


def test_the_summary_line_names_failures_and_channels():
    tally = summary.Tally()
    tally.event(["met", "unknown"])
    tally.event_failed()
    for channel, status in [("sms", "sent"), ("email", "sent"), ("email", "failed"), ("sms", "deferred"), ("sms", "sending")]:
        tally.notice(channel, status)
    assert summary.line(tally.take(), 60) == (
        "last 60s: 1 event(s) folded, 1 failed, 2 decision(s) stored, "
        "notices sent 2 (sms 1, email 1); failed 1 (email 1); deferred 1 (sms 1)"
    )
    assert summary.line(tally.take(), 60) is None



async def test_the_aliyun_sender_logs_each_sms_only_at_debug(caplog):
    fake = fake_aliyun.FakeAliyunSms()
    server = test_utils.TestServer(fake.app)
    await server.start_server()
    sender = sms.AliyunSmsSender(sms.AliyunSmsSettings(
        access_key_id=fake_aliyun.KEY_ID, access_key_secret=fake_aliyun.KEY_SECRET, endpoint=str(server.make_url("/")), timeout=5.0,
    ))
    await sender.open()
    caplog.set_level(logging.DEBUG, logger="connectors.sms")
    try:
        result = await sender.send(test_sms.notice())
    finally:
        await sender.close()
        fake.release()
        await server.close()
    assert result.outcome is channels.Outcome.SENT
    mine = [r for r in caplog.records if r.name == "connectors.sms"]
    assert [r.levelno for r in mine] == [logging.DEBUG] and mine[0].getMessage().startswith("sms notice-0001: sent")
