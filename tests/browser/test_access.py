"""Every page on a phone and for everyone: Playwright driving Debian's chromium, with axe-core.

Each console page (listed from the app's router, so a new page is walked without anyone adding it
here), its error pages (400, 403, 404), the login page (also after a wrong password), and the firm's
own page 我的政策 (also refusing an objection without a reason) with its refusal page are opened at
375×812 (a phone) and at 1400×900 (a desk). On the phone no page may scroll sideways — a wide table
scrolls inside its own box instead — and at both widths axe-core may find nothing of "serious" or
"critical" impact (contrast under 4.5:1, links told apart by colour alone, controls without a name, …).
Screenshots of every page at both widths are kept under var/screenshots/.
"""

from __future__ import annotations

import asyncio
import collections
import datetime
import re

import pytest
from aiohttp import test_utils

from connectors import sql_accounts, sql_storage
from connectors import sql_migrate as migrate
from engine import console
from engine.console import accounts
from engine.firm_page import store as firm_page_store
from engine.web import app as app_module
from tests import conftest
from tests.browser import test_console_browser as console_browser
from tests.console import seed as console_seed
from tests.firm_page import conftest as firm_page_conftest
from tests.firm_page import seed as firm_page_seed

try:
    from axe_playwright_python.async_playwright import Axe
except ImportError:
    Axe = None

pytestmark = pytest.mark.process

PASSWORD = console_browser.PASSWORD
PHONE = {"width": 375, "height": 812}
DESK = {"width": 1400, "height": 900}
#: The impacts that fail a page (axe-core's four are minor, moderate, serious, critical).
FAILING = ("serious", "critical")
#: The clause the seeded firm meets, behind 二次确认 (so 待审批 has a row).
CLAUSE = "qinghai-2022-2"
#: Console GETs that are not pages (the CSV exports), and the two start addresses, visited on their own.
NOT_PAGES = {"/console/decisions.csv", "/console/stats.csv", "/console", "/console/"}
config = firm_page_conftest.config  # the signing key the firm-page link below is made with


@pytest.fixture(autouse=True)
def browser_present() -> None:
    """Skip without a browser or axe, or fail on CI (conftest.missing), as the other browser tests do."""
    if console_browser.BROWSER_MISSING:
        conftest.missing(console_browser.BROWSER_MISSING)
    if Axe is None:
        conftest.missing("axe-playwright-python is not installed (it comes with the test extras)")


@pytest.fixture
async def served(tmp_path, config, production_matcher):
    """The service over a seeded SQLite database: a 青海 firm held for approval, a 昆明 firm with its page
    and an objection, an admin and a county-scoped viewer. Yields (base URL, app, samples) where samples
    fill the router's placeholders."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'access.sqlite3'}"
    await asyncio.to_thread(migrate.upgrade, url)
    store = sql_storage.SqlStorage(url)
    await store.open()
    try:
        await console_browser.seed(store, production_matcher)
        await console_seed.feed_with(store, production_matcher, *firm_page_seed.renter_events())
        objected = await firm_page_seed.decision_id(store, firm_page_seed.APPLY)
        await store.record_response(firm_page_seed.RENTER, firm_page_seed.APPLY, objected, firm_page_store.OBJECT,
                                    "我单位并非小微企业，不应享受此项政策", datetime.datetime.now(datetime.UTC))
        await accounts.create(sql_accounts.SqlAccounts(store), store, "guanli", PASSWORD, "admin",
                              display_name="管理员甲", actor="test")
        held = await firm_page_seed.decision_id(store, CLAUSE, console_browser.FIRM)
        app = app_module.create_app(config, store=store, matcher=production_matcher, run_pipeline=False)
        console.setup(app)
        server = test_utils.TestServer(app, host="127.0.0.1")
        await server.start_server()
        try:
            yield str(server.make_url("")).rstrip("/"), app, {"id": str(held), "uscc": console_browser.FIRM, "clause_id": CLAUSE}
        finally:
            await server.close()
    finally:
        await store.close()


def console_pages(app, samples: dict[str, str]) -> dict[str, str]:
    """Every console page a GET route serves, by name: its path with the router's placeholders filled
    from `samples` (a new placeholder fails here, so that its page gets a sample rather than no visit)."""
    pages = {}
    for route in app.router.routes():
        path = route.resource.canonical if route.resource else ""
        if route.method != "GET" or not path.startswith("/console") or path in NOT_PAGES:
            continue
        names = re.findall(r"\{(\w+)", path)
        missing = [name for name in names if name not in samples]
        assert not missing, f"{path}: no sample value for {missing}; add one to the `served` fixture"
        pages[path] = re.sub(r"\{(\w+)(:[^}]*)?\}", lambda m: samples[m.group(1)], path)
    return pages


async def problems(page, width: int) -> list[str]:
    """What fails on the page now open: sideways scrolling (on a phone) and axe's serious or critical findings."""
    found = []
    if width < DESK["width"]:
        scroll_width = await page.evaluate("document.documentElement.scrollWidth")
        if scroll_width > width:
            found.append(f"the page is {scroll_width}px wide at a {width}px viewport")
    results = await Axe().run(page)
    for violation in results.response["violations"]:
        if violation["impact"] in FAILING:
            targets = [" ".join(map(str, node["target"])) for node in violation["nodes"]]
            found.append(f"axe {violation['impact']} {violation['id']} ×{len(targets)}: {targets[:3]}")
    return found


async def log_in(context, base: str, username: str) -> None:
    page = await context.new_page()
    await page.goto(f"{base}/console/login")
    await page.fill("input[name=username]", username)
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button:has-text('登录')")
    await page.wait_for_url("**/console/")  # the home page
    await page.close()


async def walk(base: str, app, samples: dict[str, str], viewport: dict[str, int]) -> dict[str, list[str]]:
    """Open every page at `viewport`; return the problems found, by page (only pages with some)."""
    width = viewport["width"]
    phone = width < DESK["width"]
    failures: dict[str, list[str]] = collections.defaultdict(list)
    async with console_browser.playwright_api.async_playwright() as driver:
        browser = await driver.chromium.launch(
            executable_path=console_browser.CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"],
        )

        async def check(page, name: str) -> None:
            failures[name].extend(await problems(page, width))
            console_browser.SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            slug = re.sub(r"[^\w.-]+", "_", name.strip("/")) or "root"
            await page.screenshot(path=str(console_browser.SCREENSHOTS / f"access-{width}-{slug}.png"), full_page=True)
            if phone:  # what a phone shows first
                await page.screenshot(path=str(console_browser.SCREENSHOTS / f"access-{width}-{slug}-first-screen.png"))

        async def visit(context, name: str, path: str, status: int) -> None:
            page = await context.new_page()
            response = await page.goto(base + path)
            assert response is not None and response.status == status, (name, path, response and response.status)
            await check(page, name)
            await page.close()

        async def refused_states(context) -> None:
            """The login form after a wrong password, and the firm page refusing an objection without a reason."""
            page = await context.new_page()
            await page.goto(f"{base}/console/login")
            await page.fill("input[name=username]", "guanli")
            await page.fill("input[name=password]", "not the password")
            async with page.expect_response(lambda r: r.request.method == "POST") as answer:
                await page.click("button:has-text('登录')")
            assert (await answer.value).status == 401
            await check(page, "login refused")
            await page.goto(base + firm_page_seed.link())
            async with page.expect_response(lambda r: r.request.method == "POST") as answer:
                await page.locator(f"#item-{firm_page_seed.MISSING}").get_by_role("button", name="有异议").click()
            assert (await answer.value).status == 422
            await check(page, "firm page objection without a reason")
            await page.close()

        options = {"locale": "zh-CN", "timezone_id": "Asia/Shanghai", "viewport": viewport}
        if phone:
            options.update(device_scale_factor=2, is_mobile=True, has_touch=True)
        try:
            pages = console_pages(app, samples)
            anonymous = await browser.new_context(**options)
            await visit(anonymous, "/console/login", pages.pop("/console/login"), 200)  # logged in, it only redirects
            await visit(anonymous, "firm page 我的政策", firm_page_seed.link(), 200)
            await visit(anonymous, "firm page refused", "/my/not-a-link", 404)
            await refused_states(anonymous)
            county = await browser.new_context(**options)
            await log_in(county, base, "chengdong")
            await visit(county, "403 audit for a county account", "/console/audit", 403)
            admin = await browser.new_context(**options)
            await log_in(admin, base, "guanli")
            for start in ("/console", "/console/"):  # both lead to the start page
                await visit(admin, f"{start} (start page)", start, 200)
            for route, path in pages.items():
                await visit(admin, route, path, 200)
            await visit(admin, "404", "/console/no-such-page", 404)
            await visit(admin, "400 bad page number", "/console/decisions?page=x", 400)
        finally:
            await browser.close()
    return {name: found for name, found in failures.items() if found}


def report(failures: dict[str, list[str]]) -> str:
    return "\n".join(f"{name}:\n  " + "\n  ".join(found) for name, found in failures.items())


async def test_every_page_fits_a_phone_and_passes_axe(served):
    base, app, samples = served
    failures = await walk(base, app, samples, PHONE)
    assert not failures, "\n" + report(failures)


async def test_every_page_passes_axe_at_desk_width(served):
    base, app, samples = served
    failures = await walk(base, app, samples, DESK)
    assert not failures, "\n" + report(failures)
