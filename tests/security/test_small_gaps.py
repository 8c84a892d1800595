"""Finding 8's small gaps: 405 without Allow, 401 without WWW-Authenticate, a CSP without
script-src, an unsubscribe page that could be framed, and cookies marked Secure only when aiohttp
itself sees TLS (never behind a TLS-terminating proxy)."""

from __future__ import annotations

import dataclasses

import pytest
from aiohttp import test_utils

from engine import settings
from engine.console import login as login_module
from engine.notices import unsubscribe
from engine.web import app as app_module
from tests.console.conftest import SQL_ONLY, csrf_token

pytestmark = SQL_ONLY


@pytest.mark.parametrize(("method", "path", "allow"), [
    ("DELETE", "/webhooks/events", "POST"), ("PUT", "/api/openapi.json", "GET,HEAD"), ("DELETE", "/console/approvals", "GET,HEAD,POST"),
])
async def test_405_names_the_allowed_methods(console_client, method, path, allow):
    response = await console_client.request(method, path, allow_redirects=False)
    assert response.status == 405
    assert set(response.headers["Allow"].replace(" ", "").split(",")) == set(allow.split(","))


async def test_401_carries_a_bearer_challenge(console_client):
    missing = await console_client.get("/api/firms/91140302MA0000001X")
    assert missing.status == 401 and missing.headers["WWW-Authenticate"].startswith("Bearer ")
    wrong = await console_client.get("/api/firms/91140302MA0000001X", headers={"Authorization": "Bearer pp_nope"})
    assert wrong.status == 401 and 'error="invalid_token"' in wrong.headers["WWW-Authenticate"]


async def test_the_console_csp_forbids_scripts(console_client):
    page = await console_client.get("/console/login")
    directives = dict(part.strip().split(" ", 1) for part in page.headers["Content-Security-Policy"].split(";"))
    assert directives["script-src"] == "'none'" and directives["frame-ancestors"] == "'none'"


async def test_the_unsubscribe_page_cannot_be_framed(console_client, config):
    token = unsubscribe.make_token(config.notices.signing_key(), "91140302MA0000001X", "email")
    for path in (f"/unsubscribe/{token}", "/unsubscribe/not-a-token"):
        response = await console_client.get(path)
        assert response.headers["X-Frame-Options"] == "DENY", path
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"], path


@pytest.mark.parametrize(("mode", "forwarded", "secure"), [
    ("auto", "https", False), ("always", None, True), ("forwarded", "https", True), ("forwarded", None, False),
])
async def test_cookies_are_secure_behind_a_tls_proxy_when_configured(config, store, production_matcher, mode, forwarded, secure):
    app = app_module.create_app(dataclasses.replace(config, cookie_secure=mode), store=store, matcher=production_matcher, run_pipeline=False)
    async with test_utils.TestClient(test_utils.TestServer(app)) as client:
        headers = {"X-Forwarded-Proto": forwarded} if forwarded else {}
        form = await client.get("/console/login", headers=headers)
        assert bool(form.cookies[login_module.LOGIN_CSRF_COOKIE]["secure"]) is secure
        assert csrf_token(await form.text())


def test_the_cookie_setting_is_read_from_the_environment(store):
    assert settings.Settings.from_env({}).cookie_secure == "auto"
    assert settings.Settings.from_env({settings.COOKIE_SECURE_VAR: "always"}).cookie_secure == "always"
    with pytest.raises(settings.SettingsError, match=settings.COOKIE_SECURE_VAR):
        settings.Settings.from_env({settings.COOKIE_SECURE_VAR: "yes please"})
