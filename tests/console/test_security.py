"""Roles, CSRF, PII masking and auditing, on test routes added to the real console app."""

from __future__ import annotations

import datetime
import pathlib
import re

import aiohttp_jinja2
import pytest
from aiohttp import test_utils, web

from engine import console
from engine.console import security, sessions
from engine.http import auth, responses
from tests import conftest
from tests.console import conftest as console_conftest

CONTACT = {"mobile": "13812348000", "email": "finance@example.cn", "name": "张三丰"}

routes = web.RouteTableDef()


@routes.get("/console/test/read")
@security.require("viewer")
async def read_page(request: web.Request) -> web.Response:
    """A viewer page showing contact data the way console pages do."""
    env = aiohttp_jinja2.get_env(request.app)
    html = env.from_string(
        "{{ c.mobile | pii('mobile') }}|{{ c.email | pii('email') }}|{{ c.name | pii('name') }}|{{ csrf_token }}"
    ).render(request=request, c=CONTACT, csrf_token=request[security.SESSION].csrf_token)
    if security.can_see_pii(request):
        await security.record_unmasked_view(request, "firm", "91140302MA0000001X", ["contact.mobile", "contact.email"])
    return web.Response(text=html)


@routes.get("/console/test/operate")
@security.require("operator")
async def operator_page(request: web.Request) -> web.Response:
    return web.Response(text=f"hello {security.current_operator(request).username}")


@routes.post("/console/test/change")
@security.require("operator")
async def change(request: web.Request) -> web.Response:
    """A state-changing action: it must check CSRF before it does anything."""
    data = await security.form(request)
    await security.audit_action(request, "test.changed", "thing", "1", {"value": data.get("value")})
    return web.Response(text="changed")


@routes.get("/console/test/admin")
@security.require("admin")
async def admin_page(request: web.Request) -> web.Response:
    return web.Response(text="admin")


@routes.get("/console/test/boom")
@security.require("viewer")
async def boom(request: web.Request) -> web.Response:
    raise RuntimeError("a bug")


@pytest.fixture
async def app_client(make_console_client):
    return await make_console_client(routes=routes)


async def actions(store) -> list:
    return [e async for e in store.audit_entries()]


# Pure functions --------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("value", "kind", "masked"),
    [
        ("13812348000", "mobile", "138****8000"),
        ("+8613812348000", "mobile", "138****8000"),
        ("12345", "mobile", "****"),
        ("finance@example.cn", "email", "f***@example.cn"),
        ("f@example.cn", "email", "f***@example.cn"),
        ("not-an-email", "email", "***"),
        ("张三", "name", "张*"),
        ("欧阳娜娜", "name", "欧***"),
        ("张", "name", "张*"),
        (None, "name", ""),
        ("", "mobile", ""),
    ],
)
def test_mask(value, kind, masked):
    assert security.mask(value, kind) == masked


def test_mask_rejects_unknown_kinds_and_require_unknown_roles():
    with pytest.raises(ValueError, match="PII kind"):
        security.mask("x", "address")
    with pytest.raises(ValueError, match="role"):
        security.require("root")


def test_china_time():
    moment = datetime.datetime(2022, 5, 31, 16, 30, tzinfo=datetime.UTC)
    assert console.china_time(moment) == "2022-06-01 00:30"
    assert console.china_time(moment.replace(tzinfo=None)) == "2022-06-01 00:30"  # naive = UTC (SQLite)
    assert console.china_time("2022-05-31T16:30:00Z") == "2022-06-01 00:30"
    assert console.china_time(datetime.date(2022, 5, 31)) == "2022-05-31"
    assert console.china_time(None) == ""


def test_session_cookie_is_secure_over_https():
    request = test_utils.make_mocked_request("POST", "/console/login").clone(scheme="https")
    response = web.Response()
    sessions.set_cookie(response, request, "token")
    cookie = response.cookies[sessions.COOKIE_NAME]
    assert cookie["secure"] and cookie["httponly"] and cookie["samesite"] == "Lax"


# Roles ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("store", conftest.SQL_BACKENDS, indirect=True)
async def test_anonymous_is_sent_to_login_with_next(app_client):
    response = await app_client.get("/console/test/operate?x=1", allow_redirects=False)
    assert response.status == 302
    assert response.headers["Location"] == "/console/login?next=/console/test/operate?x%3D1"
    posted = await app_client.post("/console/test/change", data={"value": "1"}, allow_redirects=False)
    assert posted.status == 302 and posted.headers["Location"] == "/console/login"


@pytest.mark.parametrize("store", conftest.SQL_BACKENDS, indirect=True)
@pytest.mark.parametrize(
    ("role", "expected"),
    [("viewer", {"read": 200, "operate": 403, "admin": 403}),
     ("operator", {"read": 200, "operate": 200, "admin": 403}),
     ("admin", {"read": 200, "operate": 200, "admin": 200})],
)
async def test_roles_are_ordered(app_client, login, role, expected):
    await login(app_client, f"user-{role}", role)
    for page, status in expected.items():
        response = await app_client.get(f"/console/test/{page}")
        assert response.status == status, (role, page)
        if status == 403:
            html = await response.text()
            assert response.content_type == "text/html" and "403 · 无权访问" in html
            assert "需要" in html and security.ROLE_LABELS[role] in html


@pytest.mark.parametrize("store", conftest.SQL_BACKENDS, indirect=True)
async def test_viewer_cannot_post_an_operator_action(app_client, login, store):
    await login(app_client, "kan", "viewer")
    page = await app_client.get("/console/test/read")
    token = (await page.text()).split("|")[3]
    response = await app_client.post("/console/test/change", data={"csrf_token": token, "value": "x"})
    assert response.status == 403
    assert not [e for e in await actions(store) if e.action == "test.changed"]


# CSRF -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("store", conftest.SQL_BACKENDS, indirect=True)
async def test_a_post_without_or_with_a_wrong_csrf_token_is_refused_and_changes_nothing(app_client, login, store):
    await login(app_client, "zhao", "operator")
    token = (await (await app_client.get("/console/test/read")).text()).split("|")[3]
    for data in ({"value": "a"}, {"value": "b", "csrf_token": ""}, {"value": "c", "csrf_token": token[:-1] + "x"}):
        response = await app_client.post("/console/test/change", data=data)
        assert response.status == 403
        assert "CSRF" in await response.text()
    assert not [e for e in await actions(store) if e.action == "test.changed"]
    response = await app_client.post("/console/test/change", data={"value": "d", "csrf_token": token})
    assert response.status == 200
    [changed] = [e for e in await actions(store) if e.action == "test.changed"]
    assert changed.actor == "zhao (operator)" and changed.payload == {"value": "d"}


@pytest.mark.parametrize("store", conftest.SQL_BACKENDS, indirect=True)
async def test_another_sessions_csrf_token_does_not_work(make_console_client, login, store):
    first = await login(await make_console_client(routes=routes), "qian", "operator")
    second = await login(await make_console_client(routes=routes), "sun", "operator")
    token_of_first = (await (await first.get("/console/test/read")).text()).split("|")[3]
    response = await second.post("/console/test/change", data={"value": "x", "csrf_token": token_of_first})
    assert response.status == 403


# PII --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("store", conftest.SQL_BACKENDS, indirect=True)
async def test_viewer_sees_pii_masked_and_nothing_is_audited(app_client, login, store):
    await login(app_client, "kan", "viewer")
    text = await (await app_client.get("/console/test/read")).text()
    assert text.split("|")[:3] == ["138****8000", "f***@example.cn", "张**"]
    assert not [e for e in await actions(store) if e.action == "pii.viewed"]


@pytest.mark.parametrize("store", conftest.SQL_BACKENDS, indirect=True)
async def test_unmasked_views_by_operators_are_audited(app_client, login, store):
    await login(app_client, "zhou", "operator")
    text = await (await app_client.get("/console/test/read")).text()
    assert text.split("|")[:3] == ["13812348000", "finance@example.cn", "张三丰"]
    [viewed] = [e for e in await actions(store) if e.action == "pii.viewed"]
    assert viewed.actor == "zhou (operator)"
    assert (viewed.subject_type, viewed.subject_id) == ("firm", "91140302MA0000001X")
    assert viewed.payload == {"fields": ["contact.mobile", "contact.email"], "path": "/console/test/read"}


# Error pages and headers -----------------------------------------------------------------------

@pytest.mark.parametrize("store", conftest.SQL_BACKENDS, indirect=True)
async def test_console_errors_are_pages_and_the_api_stays_json(app_client, login):
    await login(app_client, "wu", "viewer")
    missing = await app_client.get("/console/no-such-page")
    assert missing.status == 404 and missing.content_type == "text/html"
    assert "404 · 页面不存在" in await missing.text()
    api = await app_client.get("/api/firms/91140302MA0000001X")
    assert api.status == 401 and api.content_type == "application/json"  # the console cookie is no API credential


@pytest.mark.parametrize("store", conftest.SQL_BACKENDS, indirect=True)
async def test_a_bug_shows_the_error_page_and_is_logged(app_client, login, caplog):
    await login(app_client, "wu", "viewer")
    response = await app_client.get("/console/test/boom")
    assert response.status == 500 and response.content_type == "text/html"
    assert "服务器内部错误" in await response.text() and "a bug" not in await response.text()
    assert any(r.exc_info and "a bug" in str(r.exc_info[1]) for r in caplog.records)


@pytest.mark.parametrize("store", conftest.SQL_BACKENDS, indirect=True)
async def test_console_responses_carry_security_headers(app_client):
    response = await app_client.get("/console/login")
    for name, value in security.SECURITY_HEADERS.items():
        assert response.headers[name] == value
    # Other responses get the baseline (no framing, no scripts), not the console's policy.
    other = (await app_client.get("/healthz")).headers
    assert other["Content-Security-Policy"] == responses.BASELINE_HEADERS["Content-Security-Policy"]


def test_setup_twice_only_replaces_the_clock():
    app = web.Application()
    clock = console_conftest.Clock()
    console.setup(app)
    routes_before = len(app.router.routes())
    console.setup(app, clock=clock)
    assert len(app.router.routes()) == routes_before
    assert app[console.sessions.CLOCK] is clock


# The role matrix in docs/console.md, walked against the running app ----------------------------

DOC = pathlib.Path(__file__).resolve().parents[2] / "docs" / "console.md"
_ROW = re.compile(r"^\| `(GET|POST) (/\S*)` \| [^|]+ \| ([^|]+) \| ([^|]+) \| ([^|]+) \|$")
#: Placeholders filled with values that name nothing: an allowed role then gets 404 (or 400), never 403.
SAMPLE = {
    "id": "999999", "notice_id": "ntc_missing", "uscc": "91140302MA0000001X", "clause_id": "no-such-clause", "event_id": "evt_missing",
}
#: Routes the walk leaves to test_sessions (posting them as a logged-in operator logs in or out).
SESSION_ROUTES = {("POST", "/console/login"), ("POST", "/console/logout")}


def role_matrix() -> dict[tuple[str, str], dict[str, bool]]:
    """(method, route) → {role: allowed} from the docs' table."""
    rows = {}
    for line in DOC.read_text(encoding="utf-8").splitlines():
        if found := _ROW.match(line.strip()):
            method, route, *cells = found.groups()
            rows[(method, route)] = {role: cell.strip().startswith("✓") for role, cell in zip(security.ROLES, cells, strict=True)}
    return rows


def test_the_matrix_lists_every_console_route_with_its_handlers_role():
    app = web.Application()
    console.setup(app)
    matrix = role_matrix()
    routes_in_app = {}
    for route in app.router.routes():
        if route.method in ("GET", "POST"):
            routes_in_app[(route.method, route.resource.canonical)] = getattr(route.handler, "console_role", None)
    assert {key for key in matrix if key[1].startswith("/console")} == set(routes_in_app)
    for key, role in routes_in_app.items():
        allowed = matrix[key]
        if role is not None:  # a role-checked page: exactly the roles from `role` up are ticked
            assert allowed == {r: auth.role_allows(r, role) for r in security.ROLES}, key
        else:  # login, logout and the redirect from /console are for everyone
            assert all(allowed.values()), key


def _path(route: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: SAMPLE[m.group(1)], route)


@pytest.mark.parametrize("store", conftest.SQL_BACKENDS, indirect=True)
async def test_walk_the_role_matrix(make_console_client, login, store):
    matrix = role_matrix()
    assert len(matrix) >= 20
    anonymous = await make_console_client()
    for method, route in matrix:
        path = _path(route)
        if route.startswith("/console") and (method, route) not in SESSION_ROUTES and route not in ("/console/login", "/console", "/console/"):
            response = await anonymous.request(method, path, allow_redirects=False)
            assert response.status == 302 and response.headers["Location"].startswith("/console/login"), (method, route)
        if route.startswith("/api"):
            response = await anonymous.request(method, path, json={})
            assert response.status == 401, (method, route)
    for role in security.ROLES:
        client = await login(await make_console_client(), f"walk-{role}", role)
        token = console_conftest.csrf_token(await (await client.get("/console/decisions")).text())
        headers = await conftest.bearer(store, role)
        for (method, route), allowed in matrix.items():
            if (method, route) in SESSION_ROUTES:
                continue
            path = _path(route)
            if route.startswith("/api"):
                response = await client.request(method, path, json={}, headers=headers)
            elif method == "POST":
                response = await client.post(path, data={"csrf_token": token}, allow_redirects=False)
            else:
                response = await client.get(path, allow_redirects=False)
            if allowed[role]:
                assert response.status != 403, (role, method, route, await response.text())
                assert not response.headers.get("Location", "").startswith("/console/login"), (role, method, route)
            else:
                assert response.status == 403, (role, method, route, response.status)
