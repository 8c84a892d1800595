"""Console addresses that people type or links that break: /console and /console/ both lead in, and a
page number that is not a whole number from 1 to MAX_PAGE is a 400 page naming it — never a 500, never
a silent page 1 — on every paginated route; nor is an edited count in the address the approvals page
returns to after a POST."""

from __future__ import annotations

import ast
import inspect
import pathlib

import pytest
from aiohttp import web

import engine.console
from engine import constants
from engine.console import read_model
from tests.console import conftest as console_conftest

#: Every console route with pages (the completeness test below holds this list to the code).
PAGINATED = ("/console/decisions", "/console/firms", "/console/audit", "/console/approvals")
BAD = ["99999999999999999999", "99999999999999999999999999", str(constants.MAX_PAGE + 1), "-1", "0", "x", "1.5", "%2B2", "1e3",
       "%EF%BC%95", "2%000"]


@console_conftest.SQL_ONLY
def test_the_paginated_routes_are_exactly_the_handlers_reading_a_page_number(console_client):
    readers = set()
    for path in pathlib.Path(engine.console.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.AsyncFunctionDef) and any(
                    isinstance(call, ast.Call) and ast.unparse(call.func) == "page_number" for call in ast.walk(node)):
                readers.add(node.name)
    handlers = {inspect.unwrap(route.handler).__name__ for route in console_client.app.router.routes()
                if route.method == "GET" and route.resource.canonical in PAGINATED}
    assert readers == handlers and len(handlers) == len(PAGINATED)


@console_conftest.SQL_ONLY
@pytest.mark.parametrize("path", PAGINATED)
async def test_a_bad_page_number_is_a_400_page_naming_it(console_client, login, path):
    await login(console_client, "wang", "viewer")
    for number in BAD:
        response = await console_client.get(f"{path}?page={number}")
        html = await response.text()
        assert response.status == 400, (path, number, response.status)
        assert 'lang="zh-CN"' in html and "页码" in html, (path, number)
    for number in ("", "1", "2", str(constants.MAX_PAGE)):
        response = await console_client.get(f"{path}?page={number}")
        assert response.status == 200, (path, number, response.status)


def test_page_number_rules():
    assert read_model.page_number({}) == 1 and read_model.page_number({"page": " 3 "}) == 3
    with pytest.raises(web.HTTPBadRequest) as refused:
        read_model.page_number({"page": "-1"})
    assert "而不是“-1”" in refused.value.text
    with pytest.raises(web.HTTPBadRequest) as refused:
        read_model.page_number({"page": "9" * 40})
    assert "而不是“999999999999999999999999999999…”" in refused.value.text


@console_conftest.SQL_ONLY
@pytest.mark.parametrize("path", ["/console", "/console/"])
async def test_console_and_console_slash_both_lead_in(console_client, login, path):
    anonymous = await console_client.get(path)  # to the login page, which brings the visitor back home
    assert anonymous.status == 200 and anonymous.url.path == "/console/login" and anonymous.url.query["next"] == "/console/"
    await login(console_client, "wang", "viewer")
    response = await console_client.get(path)
    assert response.status == 200 and response.url.path == "/console/" and "<h1>首页</h1>" in await response.text()


@console_conftest.SQL_ONLY
@pytest.mark.parametrize("query", ["n=1&stale=%C2%B2", "n=%C2%B2", "n=1&stale=" + "9" * 5000, "n=-1", "n=x"])
async def test_an_edited_approval_count_is_a_400_page_not_a_500(console_client, login, query):
    await login(console_client, "wang", "viewer")
    response = await console_client.get(f"/console/approvals?done=approved&{query}")
    assert response.status == 400 and "处理条数" in await response.text()


@console_conftest.SQL_ONLY
async def test_the_approval_counts_from_the_redirect_are_reported(console_client, login):
    await login(console_client, "wang", "viewer")
    response = await console_client.get("/console/approvals?done=approved&n=2&stale=1")
    html = await response.text()
    assert response.status == 200 and "已批准 2 条判定" in html and "另有 1 条已由他人处理" in html
