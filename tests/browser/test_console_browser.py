"""The console in a real browser: Playwright driving Debian's chromium (installed by `make test`).

An operator logs in, filters the match log, opens a decision and reads its explanation, approves a
pending decision, finds the approval in the audit view and exports the CSV. Screenshots of the
main pages are kept under var/screenshots/ as test artifacts.
"""

from __future__ import annotations

import asyncio
import csv
import json
import pathlib
import shutil

import pytest
from aiohttp import test_utils

from connectors import sql_accounts, sql_storage
from connectors import sql_migrate as migrate
from engine import console, constants
from engine.console import accounts
from engine.core import scopes
from engine.ingest import admission, pipeline, validation
from engine.web import app as app_module
from tests import conftest, factories

pytestmark = pytest.mark.process

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOTS = pathlib.Path(__file__).resolve().parents[2] / "var" / "screenshots"
FIRM = factories.uscc(812, region="630102")
#: A firm of the neighbouring county (城西区), registered only: a county-scoped officer of 城东区 must not see it.
WEST = factories.uscc(813, region="630104")
PASSWORD = "correct horse battery staple"

try:
    from playwright import async_api as playwright_api
except ImportError:
    playwright_api = None
#: Why the browser cannot be driven here, or None.
BROWSER_MISSING = (
    "playwright is not installed (it comes with the test extras)" if playwright_api is None
    else None if pathlib.Path(CHROMIUM).exists()
    else "Debian chromium is not installed (make test installs it where it can)"
)


@pytest.fixture(autouse=True)
def browser_present() -> None:
    """Skip each test without a browser, or fail it on CI (conftest.missing); failing per test rather
    than at import keeps the rest of a CI run going and reporting."""
    if BROWSER_MISSING:
        conftest.missing(BROWSER_MISSING)


async def seed(store, matcher) -> None:
    """A 青海 firm whose VAT return at the 150,000 threshold meets a gated clause."""
    await store.set_clause_approval("qinghai-2022-2", True, "admin (setup)")
    events = [
        (factories.event(firm=FIRM, region="630102", name="西宁市城东区示例商贸有限公司", occurred_at="2022-03-01T09:00:00+08:00"), "b-reg"),
        (factories.event("contact.updated", firm=FIRM, occurred_at="2022-03-02T09:00:00+08:00"), "b-contact"),
        (factories.event("tax.vat_declared", firm=FIRM, occurred_at="2022-04-15T09:00:00+08:00", period="2022-03", sales=150000), "b-vat"),
        (factories.event(firm=WEST, region="630104", name="西宁市城西区邻县商贸有限公司", occurred_at="2022-03-01T09:00:00+08:00"), "w-reg"),
    ]
    await store.add_events(
        [admission.new_event(validation.validate(body, webhook_id=i), json.dumps(body, ensure_ascii=False), {}) for body, i in events]
    )
    await pipeline.Pipeline(store, matcher).run_once()
    await accounts.create(sql_accounts.SqlAccounts(store), store, "zhangsan", PASSWORD, "operator", display_name="张三", actor="test")
    await accounts.create(sql_accounts.SqlAccounts(store), store, "chengdong", PASSWORD, "viewer", display_name="城东区办事员", actor="test",
                          scope=scopes.parse(["630102"]))


#: (firm, county, name) of the approval queue: three firms of 城东区 and two of 城西区, each met on the gated clause.
QUEUE = [(factories.uscc(820 + n, region=county), county, f"{place}待审商贸有限公司{n}")
         for n, (county, place) in enumerate([("630102", "城东")] * 3 + [("630104", "城西")] * 2)]


async def seed_queue(store, matcher) -> None:
    """`seed`, and five more decisions waiting for 二次确认 across two counties."""
    await seed(store, matcher)
    events = []
    for firm, county, name in QUEUE:
        events += [
            (factories.event(firm=firm, region=county, name=name, occurred_at="2022-03-01T09:00:00+08:00"), f"{firm}-reg"),
            (factories.event("tax.vat_declared", firm=firm, occurred_at="2022-04-15T09:00:00+08:00", period="2022-03", sales=150000),
             f"{firm}-vat"),
        ]
    await store.add_events(
        [admission.new_event(validation.validate(body, webhook_id=i), json.dumps(body, ensure_ascii=False), {}) for body, i in events]
    )
    await pipeline.Pipeline(store, matcher).run_once()


@pytest.fixture
async def console_url(tmp_path, config, production_matcher):
    async for url in serve(tmp_path, config, production_matcher, seed):
        yield url


@pytest.fixture
async def queue_url(tmp_path, config, production_matcher):
    async for url in serve(tmp_path, config, production_matcher, seed_queue):
        yield url


async def serve(tmp_path, config, production_matcher, seeder):
    """The service with the console over a fresh SQLite file seeded by `seeder`, on a local port."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'browser.sqlite3'}"
    await asyncio.to_thread(migrate.upgrade, url)
    store = sql_storage.SqlStorage(url)
    await store.open()
    await seeder(store, production_matcher)
    app = app_module.create_app(config, store=store, matcher=production_matcher, run_pipeline=False)
    console.setup(app)
    server = test_utils.TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/")
    finally:
        await server.close()
        await store.close()


@pytest.fixture
async def page(tmp_path):
    async with playwright_api.async_playwright() as driver:
        browser = await driver.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"],
        )
        context = await browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai", accept_downloads=True,
                                            viewport={"width": 1400, "height": 900})
        try:
            yield await context.new_page()
        finally:
            await context.close()
            await browser.close()


async def shot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


async def test_operator_walks_the_console(console_url, page, tmp_path):
    await page.goto(f"{console_url}/console/decisions")
    assert "/console/login" in page.url  # not logged in: sent to the login page
    await shot(page, "01-login")
    await page.fill("input[name=username]", "zhangsan")
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button:has-text('登录')")
    await page.wait_for_url("**/console/decisions**")
    await shot(page, "02-decisions")

    # Filter the match log by the firm's USCC.
    await page.fill("input[name=firm]", FIRM)
    await page.click("form.filters button:has-text('筛选')")
    await page.wait_for_url(f"**firm={FIRM}**")
    table = await page.inner_text("main")
    assert FIRM in table and "qinghai-2022#(二)" in table

    # Open the gated decision and read its explanation.
    row = page.locator("tr", has_text="qinghai-2022#(二)").filter(has_text="符合").first
    await row.locator("a:has-text('详情')").click()
    await page.wait_for_url("**/console/decisions/*")
    detail = await page.inner_text("main")
    assert "增值税月销售额不超过150,000.00元" in detail and "vat_monthly_sales" not in detail  # the condition in words
    assert "qinghai-2022#(二)" in detail
    await shot(page, "03-decision")

    # Approve it: the decision was held by the 二次确认 gate.
    await page.goto(f"{console_url}/console/approvals")
    await shot(page, "04-approvals")
    await page.locator("input[name=decision_id]").first.check()
    await page.click("button:has-text('批准所选')")
    await page.wait_for_load_state()
    assert await page.locator("input[name=decision_id]").count() == 0

    # The approval is in the audit view, by this operator.
    await page.goto(f"{console_url}/console/audit")
    audit_text = await page.inner_text("main")
    assert "decision.approved" in audit_text and "zhangsan" in audit_text
    await shot(page, "05-audit")

    for name, path in (("06-firm", f"/console/firms/{FIRM}"), ("07-clause", "/console/clauses/qinghai-2022-2"), ("08-stats", "/console/stats")):
        await page.goto(f"{console_url}{path}")
        await shot(page, name)

    # Export the filtered match log as CSV.
    await page.goto(f"{console_url}/console/decisions?firm={FIRM}")
    async with page.expect_download() as download_info:
        await page.click("a:has-text('导出 CSV')")
    download = await download_info.value
    saved = tmp_path / "decisions.csv"
    await download.save_as(str(saved))
    rows = list(csv.reader(saved.read_text(encoding="utf-8-sig").splitlines()))
    assert len(rows) >= 2 and any(FIRM in cell for row in rows[1:] for cell in row)


async def test_a_county_officer_sees_only_the_countys_firms(console_url, page):
    await page.goto(f"{console_url}/console/login")
    await page.fill("input[name=username]", "chengdong")
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button:has-text('登录')")
    await page.wait_for_url("**/console/")  # the home page
    await page.goto(f"{console_url}/console/firms")
    listed = await page.inner_text("main")
    assert FIRM in listed and "西宁市城东区" in listed
    assert WEST not in listed and "城西区邻县" not in listed and "共 1 条" in listed
    assert "西宁市城东区（630102）" in await page.inner_text("header")  # the account's regions, on every page
    await shot(page, "09-county-firms")
    response = await page.goto(f"{console_url}/console/firms/{WEST}")
    assert response.status == 404 and "没有统一社会信用代码" in await page.inner_text("main")
    response = await page.goto(f"{console_url}/console/firms/{FIRM}")
    assert response.status == 200
    await page.goto(f"{console_url}/console/account")
    assert "630102" in await page.inner_text("main")


async def log_in(page, base: str, username: str) -> None:
    await page.goto(f"{base}/console/login")
    await page.fill("input[name=username]", username)
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button:has-text('登录')")
    await page.wait_for_url("**/console/")  # the home page


async def test_an_operator_works_through_the_queue_in_bulk(queue_url, page, monkeypatch):
    monkeypatch.setattr(constants, "APPROVALS_PAGE_SIZE", 2)
    await log_in(page, queue_url, "zhangsan")
    await page.goto(f"{queue_url}/console/approvals")
    main = await page.inner_text("main")
    assert "第 1 / 3 页，共 6 条" in main and "西宁市城西区" in main
    await shot(page, "10-approvals-paged")

    # Filter by county, chosen by its name; the filter stays on the next page.
    await page.select_option("select[name=region]", label="西宁市城东区（4 条）")
    await page.click("form.filters button:has-text('筛选')")
    await page.wait_for_url("**region=630102**")
    assert "共 4 条" in await page.inner_text("main")
    await page.click("a:has-text('下一页')")
    await page.wait_for_url("**region=630102&page=2**")
    assert await page.input_value("select[name=region]") == "630102"

    # Rejecting the whole page without a reason is refused; nothing changes.
    await page.check("input[name=target][value=page]")
    await page.click("button:has-text('驳回所选')")
    assert "驳回必须填写理由" in await page.inner_text("main")
    assert "共 4 条" in await page.inner_text("main")

    # Every decision of the county, across pages, with one reason.
    await page.goto(f"{queue_url}/console/approvals?region=630102&page=2")
    await page.fill("textarea[name=reason]", "名单待复核")
    await page.check("input[name=target][value=all]")
    await page.click("button:has-text('驳回所选')")
    await page.wait_for_url("**done=rejected**")
    assert "已驳回筛选出的全部 4 条判定。" in await page.inner_text("main") and "region=630102" in page.url
    await shot(page, "11-approvals-rejected")

    # The rest, from a decision's own page.
    await page.goto(f"{queue_url}/console/approvals")
    assert "共 2 条" in await page.inner_text("main")
    await page.locator("a:has-text('详情')").first.click()
    await page.wait_for_url("**/console/decisions/*")
    await page.click("form.approval button:has-text('批准')")
    await page.wait_for_url("**done=approved**")
    assert "已批准该判定，相应通知已生成。" in await page.inner_text("main")
    assert await page.locator("form.approval").count() == 0

    await page.goto(f"{queue_url}/console/audit?action=decision.")
    trail = await page.inner_text("main")
    assert trail.count("decision.rejected") == 4 and "名单待复核" in trail and "decision.approved" in trail and "zhangsan" in trail


async def test_a_county_officer_reads_his_home_page_and_statistics(console_url, page):
    await page.goto(f"{console_url}/console")
    await page.fill("input[name=username]", "chengdong")
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button:has-text('登录')")
    await page.wait_for_url("**/console/")
    home = await page.inner_text("main")
    assert "西宁市城东区（630102）" in home and "推送情况" in home and "需要处理的问题" in home
    assert await page.locator("table.home-todo tr[data-key=approvals] td.num").inner_text() == "1"  # the gated match
    assert await page.locator("table.home-granted tr[data-key='3'] td.num").first.inner_text() == "1"
    assert await page.locator("nav.main a.active").inner_text() == "首页"
    await shot(page, "10-county-home")

    await page.click("nav.main a:has-text('统计')")
    await page.wait_for_url("**/console/stats")
    counties = await page.inner_text("table.stats.county")
    assert "西宁市城东区" in counties and "城西区" not in counties and "630104" not in counties
    assert await page.locator("table.stats.funnel tr[data-key='1'] td.num").first.inner_text() == "1"
    labels = await page.eval_on_selector_all(  # what the chart shows: its label's lines, read together
        "section#clause svg text.label", "labels => labels.map(l => [...l.querySelectorAll('tspan')].map(t => t.textContent).join(''))")
    assert set(labels) == {"qinghai-2022#(二) 小规模纳税人免征增值税"}  # the whole title, in each of the three charts
    await shot(page, "11-county-stats")
    for width in (1400, 480):  # the charts fit the page, side by side on a desk and one under another on a phone
        await page.set_viewport_size({"width": width, "height": 900})
        boxes = [await chart.bounding_box() for chart in await page.locator("svg.chart").all()]
        main = await page.locator("main").bounding_box()
        assert len(boxes) == 18 and all(main["x"] <= box["x"] and box["x"] + box["width"] <= main["x"] + main["width"] for box in boxes), width
        assert all(box["width"] > main["width"] * (0.4 if width > 1000 else 0.85) for box in boxes), width
        assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), width  # no sideways scrolling
    async with page.expect_download() as download_info:
        await page.click("section#county a:has-text('下载此表 CSV')")
    download = await download_info.value
    body = pathlib.Path(await download.path()).read_text(encoding="utf-8-sig")
    assert "西宁市城东区" in body and "城西区" not in body
