"""The access log `serve` writes keeps the route of a keyed link but never its token."""

from __future__ import annotations

import dataclasses
import logging

import pytest
from aiohttp import test_utils

from engine.notices import firm_links
from engine.web import access_log
from engine.web import app as app_module


def test_keyed_paths_lose_their_token_and_others_are_kept():
    assert access_log.redact("/my/WyI5MSJd.abc.def/items/x-1/confirm") == "/my/…/items/x-1/confirm"
    assert access_log.redact("/m/91530102MA0000751N0bcdeABCDEFGHIJ") == "/m/…"  # the short link an SMS carries
    assert access_log.redact("/unsubscribe/abc.def") == "/unsubscribe/…"
    assert access_log.redact("/console/firms/91530102MA0000751N") == "/console/firms/91530102MA0000751N"


@pytest.mark.parametrize("store", ["memory"], indirect=True)
async def test_a_request_for_a_firms_page_is_logged_without_the_key(config, store, caplog, tmp_path):
    notices = dataclasses.replace(config.notices, outbox_dir=tmp_path / "outbox", secret_key="k" * 32)
    token = firm_links.make_token("k" * 32, "91530102MA0000751N")
    app = app_module.create_app(dataclasses.replace(config, notices=notices), store=store, run_pipeline=False)
    server = test_utils.TestServer(app)
    await server.start_server(access_log_class=access_log.AccessLogger)  # as `serve` runs the app
    async with test_utils.TestClient(server) as client:
        with caplog.at_level(logging.INFO, logger="aiohttp.access"):
            await client.get(f"/my/{token}")
    lines = [r.getMessage() for r in caplog.records if r.name == "aiohttp.access"]
    assert any('"GET /my/… HTTP/1.1" 404' in line for line in lines), lines
    assert not any(token in line for line in lines)
