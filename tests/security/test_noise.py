"""Finding 6: unauthenticated noise. Clients dropping mid-upload were logged as ERRORs with a
traceback and answered 500; a gzip Content-Encoding on a body that is not gzip was a 500; huge
page numbers and ids were 500s; slow bodies and slow headers held connections without limit; and
(finding 8) duplicate JSON keys were taken silently, the last one winning."""

from __future__ import annotations

import asyncio
import json
import logging
import re

import pytest
from engine import constants
from engine.web import app as app_module
from tests import conftest, factories
from tests.console.conftest import SQL_ONLY

pytestmark = SQL_ONLY

#: A bound on waiting for the server, so a regression fails instead of hanging (not a race dodge).
PATIENCE = 10.0


async def _raw(service, request: bytes, *, then_close: bool, until: bytes | None = None) -> bytes:
    """Send raw bytes to the service; close at once, or read the answer up to `until` (or until the
    server closes)."""
    reader, writer = await asyncio.open_connection(service.host, service.port)
    writer.write(request)
    await writer.drain()
    if then_close:
        writer.close()
        await writer.wait_closed()
        return b""
    try:
        async with asyncio.timeout(PATIENCE):
            return await (reader.readuntil(until) if until else reader.read())
    finally:
        writer.close()


def _post(path: str, length: int, sent: bytes, *, content_type: str = "application/json") -> bytes:
    head = f"POST {path} HTTP/1.1\r\nHost: test\r\nContent-Type: {content_type}\r\nContent-Length: {length}\r\n\r\n"
    return head.encode() + sent


@pytest.mark.parametrize("path", ["/webhooks/events", "/console/login", "/webhooks/sms-report?token=t"])
async def test_a_client_dropping_mid_upload_is_no_error(serve, caplog, path):
    caplog.set_level(logging.DEBUG)
    await _raw(await serve(), _post(path, 100_000, b'{"id": "evt_'), then_close=True)

    def handled() -> bool:  # the server has finished with the request: it logged how
        return any("went away" in r.getMessage() or r.levelno >= logging.ERROR or r.name == "aiohttp.access" for r in caplog.records)

    async with asyncio.timeout(PATIENCE):
        while not handled():
            await asyncio.sleep(0.01)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info], [r.getMessage() for r in caplog.records]
    assert not [r for r in caplog.records if r.name == "aiohttp.access" and '" 500 ' in r.getMessage()]
    [gone] = [r for r in caplog.records if "went away" in r.getMessage()]
    assert gone.levelno == logging.DEBUG


async def test_a_body_that_is_not_its_content_encoding_is_a_400(console_client, store):
    headers = {"Content-Encoding": "gzip", "Content-Type": "application/json"}
    bearer = await conftest.bearer(store, "operator")
    body, signed = factories.signed(factories.event())
    for path, extra in [("/webhooks/events", signed), ("/api/match", bearer), ("/webhooks/sms-report?token=t", {}),
                        ("/console/login", {"Content-Type": "application/x-www-form-urlencoded"})]:
        response = await console_client.post(path, data=b"this is not gzip at all", headers={**headers, **extra})
        assert response.status == 400, (path, response.status, await response.text())


@pytest.mark.parametrize("path", [
    "/console/decisions?page=9223372036854775807", "/console/firms?page=9223372036854775807",
    "/console/audit?page=99999999999999999999999", "/console/decisions.csv?page=9223372036854775807",
])
async def test_huge_page_numbers_are_400(console_client, login, path):
    await login(console_client, "wang", "viewer")
    response = await console_client.get(path)
    assert response.status in (200, 400), (path, response.status)  # the CSV has no pages: it is all of them
    if "csv" not in path:
        assert response.status == 400


@pytest.mark.parametrize("number", ["2147483648", "9223372036854775807", "99999999999999999999999999"])
async def test_huge_ids_are_404(console_client, login, number):
    await login(console_client, "wang", "operator")
    response = await console_client.get(f"/console/decisions/{number}")
    assert response.status == 404
    page = await console_client.get("/console/approvals")
    token = re.search(r'name="csrf_token" value="([^"]*)"', await page.text()).group(1)
    resolved = await console_client.post("/console/approvals", data={"csrf_token": token, "action": "approve", "ids": number})
    assert resolved.status < 500


async def test_a_slow_body_is_refused_with_408(serve, monkeypatch):
    monkeypatch.setattr(constants, "BODY_READ_TIMEOUT_SECONDS", 0.3)
    answer = await _raw(await serve(), _post("/webhooks/events", 1000, b'{"id": '), then_close=False, until=b"\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]


async def test_slow_headers_are_cut_off(serve):
    assert app_module.SERVER_OPTIONS["keepalive_timeout"] == constants.HEADER_READ_TIMEOUT_SECONDS
    service = await serve(keepalive_timeout=0.3)  # the service's options, the timeout shortened
    answer = await _raw(service, b"POST /webhooks/events HTTP/1.1\r\nHost: test\r\nContent-Ty", then_close=False)
    assert answer == b""  # closed by the server, before PATIENCE ran out


async def test_duplicate_json_keys_are_refused_naming_the_key(console_client, store):
    event = factories.event()
    text = json.dumps(event)[:-1] + ', "type": "firm.updated"}'  # "type" twice: which one is meant?
    body, headers = factories.signed(text)
    response = await console_client.post("/webhooks/events", data=body, headers=headers)
    assert response.status == 422
    answer = await response.json()
    assert answer["error"] == "duplicate_key" and "'type'" in answer["message"] and answer["problems"][0]["key"] == "type"
    assert await store.get_event(headers["webhook-id"]) is None
    bearer = await conftest.bearer(store, "viewer")
    match = await console_client.post("/api/match", data='{"profile": {}, "profile": {"uscc": "x"}}', headers={**bearer, "Content-Type": "application/json"})
    assert match.status == 422 and (await match.json())["problems"][0]["key"] == "profile"
