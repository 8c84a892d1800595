"""Structured logs: one valid JSON object per line, with the ids of the event or notice a record
is about; the text format shows the same ids; `--log-format json` selects JSON from the CLI."""

from __future__ import annotations

import asyncio
import io
import json
import logging

import pytest
from click.testing import CliRunner
from pythonjsonlogger import json as json_logger

from engine import cli
from engine.ingest import webhooks
from engine.telemetry import logs
from tests import factories
from tests.notices import helpers


@pytest.fixture(autouse=True)
def restore_logging():
    """`configure` changes the root logger for the whole process: put it back after each test."""
    root = logging.getLogger()
    handlers, level, installed = root.handlers[:], root.level, logs._installed
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    logs._installed = installed


def json_lines(stream: io.StringIO) -> list[dict]:
    """Every line of the captured output, each of which must be one JSON object."""
    records = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert all(isinstance(record, dict) for record in records)
    return records


def test_json_records_carry_timestamp_level_logger_message_and_extra_ids():
    stream = io.StringIO()
    logs.configure("info", "json", stream=stream)
    log = logging.getLogger("engine.test")
    log.debug("below the level")
    log.info("event %s folded", "evt-1", extra={"event_id": "evt-1", "uscc": factories.uscc(1), "clause_id": "qinghai-2022-2"})
    try:
        raise ValueError("bad input")
    except ValueError:
        log.exception("notice failed: 阳泉", extra={"notice_id": "ntc-1"})
    first, second = json_lines(stream)
    assert first["message"] == "event evt-1 folded" and first["level"] == "INFO" and first["logger"] == "engine.test"
    assert (first["event_id"], first["uscc"], first["clause_id"]) == ("evt-1", factories.uscc(1), "qinghai-2022-2")
    assert first["timestamp"].endswith("+00:00") and "T" in first["timestamp"]
    assert second["level"] == "ERROR" and second["notice_id"] == "ntc-1" and second["message"] == "notice failed: 阳泉"
    assert "ValueError: bad input" in second["exc_info"]


def test_text_format_appends_the_ids_and_configure_replaces_its_own_handler():
    stream = io.StringIO()
    logs.configure("info", "text", stream=stream)
    logs.configure("info", "text", stream=stream)  # a second call must not double every line
    log = logging.getLogger("engine.test")
    log.info("plain")
    log.info("folded", extra={"event_id": "evt-2", "uscc": factories.uscc(2)})
    plain, with_ids = stream.getvalue().splitlines()
    assert plain.endswith("INFO engine.test plain")
    assert with_ids.endswith(f"INFO engine.test folded [event_id=evt-2 uscc={factories.uscc(2)}]")
    with pytest.raises(ValueError):
        logs.configure("info", "xml")


async def test_bound_ids_reach_every_record_of_their_own_task_only_and_extra_wins():
    stream = io.StringIO()
    logs.configure("info", "json", stream=stream)
    log = logging.getLogger("engine.test")

    async def work(notice_id: str, ready: asyncio.Event, other: asyncio.Event) -> None:
        with logs.bound(notice_id=notice_id, channel="sms"):
            ready.set()
            await other.wait()  # both tasks are inside their blocks at once
            log.info("sending")
            log.info("override", extra={"channel": "email"})
        log.info("after")

    a, b = asyncio.Event(), asyncio.Event()
    await asyncio.gather(work("ntc-a", a, b), work("ntc-b", b, a))
    records = json_lines(stream)
    assert sorted(r["notice_id"] for r in records if r["message"] == "sending") == ["ntc-a", "ntc-b"]
    assert {r["channel"] for r in records if r["message"] == "override"} == {"email"}
    assert all("notice_id" not in r for r in records if r["message"] == "after")


@pytest.mark.parametrize("store", ["memory"], indirect=True)
async def test_the_pipeline_and_the_worker_log_event_and_notice_ids(make_client, store):
    stream = io.StringIO()
    logs.configure("debug", "json", stream=stream)  # a line per event and per notice is at DEBUG (INFO: per group)
    client = await make_client(matcher=helpers.GrantingMatcher())
    for body, event_id in helpers.eligible_firm_events():
        data, headers = factories.signed(body, msg_id=event_id)
        assert (await client.post("/webhooks/events", data=data, headers=headers)).status == 202
    await client.app[webhooks.PIPELINE].drained()
    delivery, _sms, _email = helpers.make_worker(store)
    assert await delivery.run_once() == 2

    records = json_lines(stream)
    folded = [r for r in records if r["logger"] == "engine.ingest.pipeline" and "event_id" in r]
    assert {r["event_id"] for r in folded} == {event_id for _, event_id in helpers.eligible_firm_events()}
    assert {r["uscc"] for r in folded} == {helpers.FIRM}
    notice_ids = {n.notice_id for n in await store.firm_notices(helpers.FIRM)}
    sent = [r for r in records if r["logger"] == "engine.notices.worker" and "notice_id" in r]
    assert {r["notice_id"] for r in sent} == notice_ids
    assert all(r["clause_id"] == helpers.CLAUSE and r["channel"] in ("sms", "email") for r in sent)


def test_cli_log_format_option_selects_json():
    runner = CliRunner()
    result = runner.invoke(cli.main, ["--log-format", "json", "db", "--help"])
    assert result.exit_code == 0, result.output
    assert isinstance(logs._installed.formatter, json_logger.JsonFormatter)
    assert logging.getLogger().level == logging.INFO
    result = runner.invoke(cli.main, ["--log-format", "xml", "db", "--help"])
    assert result.exit_code == 2 and "xml" in result.output
