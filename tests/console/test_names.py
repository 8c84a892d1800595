"""Codes by name on the console's pages: regions (GB/T 2260) and industries (GB/T 4754) by their
Chinese names with the code in small type, large numbers with thousands separators."""

from __future__ import annotations

import pytest

from engine.console import labels, view
from tests.console import conftest as console_conftest
from tests.console import seed
from tests.notices import helpers

EAST = '<span class="region-name">西宁市城东区</span> <small class="code muted">630102</small>'


@pytest.mark.parametrize(("code", "name"), [
    ("63", "青海省"), ("6301", "西宁市"), ("630100", "西宁市"), ("630102", "西宁市城东区"), ("110101", "北京市东城区"),
    ("429004", "湖北省仙桃市"), ("441900", "东莞市"), ("999999", ""), ("6", ""), (None, ""), ("630102x", ""),
])
def test_region_names(code, name):
    assert labels.region_name(code) == name


def test_industry_names_and_numbers():
    assert labels.industry_name("F5211") == "百货零售" and labels.industry_name("F") == "批发和零售业"
    assert labels.industry_name("Z99") == "" and labels.industry_name(None) == ""
    assert [view.fmt(v) for v in (150000, 2022, 0.05, 1234567.5)] == ["150,000", "2022", "0.05", "1,234,567.5"]
    assert view.money(1234567) == "1,234,567.00"


@console_conftest.SQL_ONLY
async def test_pages_show_regions_and_industries_by_name(console_client, login, store):
    await seed.two_firms(store)
    await login(console_client, "wang", "viewer")
    firm = await (await console_client.get(f"/console/firms/{helpers.FIRM}")).text()
    assert EAST in firm  # the header and the profile's region field
    assert '<span class="industry-name">百货零售</span> <small class="code muted">F5211</small>' in firm
    firms = await (await console_client.get("/console/firms")).text()
    assert EAST in firms and '<span class="region-name">西宁市城西区</span>' in firms
    [met] = [d for d in await store.decisions(helpers.FIRM) if d.decision.status.value == "met"]
    decision = await (await console_client.get(f"/console/decisions/{met.id}")).text()
    assert EAST in decision
    stats = await (await console_client.get("/console/stats")).text()
    assert '<tr data-key="630100"><td><span class="region-name">西宁市</span> <small class="code muted">630100</small>' in stats
