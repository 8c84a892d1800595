"""The firm's page (我的政策) on a phone: Playwright driving Debian's chromium at 375×667.

A firm owner opens the link from the email, reads the items, presses 确认 on the rent waiver, objects to
another item with a reason, and changes which SMS it takes; the page never scrolls sideways. Then a
viewer finds the objection in the console's queue. Screenshots are kept under var/screenshots/.
"""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import test_utils

from connectors import sql_accounts, sql_storage
from connectors import sql_migrate as migrate
from engine import console
from engine.console import accounts
from engine.notices import outbox
from engine.web import app as app_module
from tests import conftest
from tests.browser import test_console_browser as console_browser
from tests.firm_page import conftest as firm_page_conftest
from tests.firm_page import seed

pytestmark = pytest.mark.process

CHROMIUM = console_browser.CHROMIUM
PASSWORD = console_browser.PASSWORD
REASON = "我单位并非小微企业，不应享受此项政策"
config = firm_page_conftest.config  # the signing key the links below are made with


@pytest.fixture(autouse=True)
def browser_present() -> None:
    """Skip without a browser, or fail on CI (conftest.missing), as the console's browser test does."""
    if console_browser.BROWSER_MISSING:
        conftest.missing(console_browser.BROWSER_MISSING)


@pytest.fixture
async def served(tmp_path, config, production_matcher):
    url = f"sqlite+aiosqlite:///{tmp_path / 'browser.sqlite3'}"
    await asyncio.to_thread(migrate.upgrade, url)
    store = sql_storage.SqlStorage(url)
    await store.open()
    await seed.two_firms(store, production_matcher)
    await accounts.create(sql_accounts.SqlAccounts(store), store, "wang", PASSWORD, "viewer", display_name="王五", actor="test")
    app = app_module.create_app(config, store=store, matcher=production_matcher, run_pipeline=False)
    console.setup(app)
    server = test_utils.TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/"), store
    finally:
        await server.close()
        await store.close()


@pytest.fixture
async def phone():
    async with console_browser.playwright_api.async_playwright() as driver:
        browser = await driver.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"],
        )
        context = await browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai", viewport={"width": 375, "height": 667},
                                            device_scale_factor=2, is_mobile=True, has_touch=True)
        try:
            yield await context.new_page()
        finally:
            await context.close()
            await browser.close()


async def no_sideways_scroll(page) -> None:
    width = await page.evaluate("document.scrollingElement.scrollWidth")
    assert width <= 375, f"the page is {width}px wide at a 375px viewport"


async def test_a_firm_owner_answers_on_a_phone_and_a_viewer_sees_the_objection(served, phone):
    base, store = served
    page = phone
    await page.goto(base + seed.link())
    assert "我的政策" in await page.title()
    body = await page.inner_text("body")
    assert seed.RENTER_NAME in body and "已为您办理" in body and "可申请" in body and "需补充数据" in body
    assert f"金额：{seed.GRANT_AMOUNT}" in body
    await no_sideways_scroll(page)
    console_browser.SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(console_browser.SCREENSHOTS / "firm-page-00-first-screen.png"))  # what a phone shows first
    await console_browser.shot(page, "firm-page-01-opened")

    grant = page.locator(f"#item-{seed.GRANT}")
    await grant.get_by_role("button", name="确认").click()
    await page.wait_for_load_state()
    assert "确认本项内容" in await page.locator(f"#item-{seed.GRANT}").inner_text()
    await no_sideways_scroll(page)

    apply = page.locator(f"#item-{seed.APPLY}")
    await apply.get_by_role("button", name="有异议").click()  # no reason: refused, naming the field
    await page.wait_for_load_state()
    assert "请填写“异议理由”" in await page.locator(f"#item-{seed.APPLY}").inner_text()
    await page.locator(f"#item-{seed.APPLY}").get_by_label("异议理由（必填，最多500字）").fill(REASON)
    await page.locator(f"#item-{seed.APPLY}").get_by_role("button", name="有异议").click()
    await page.wait_for_load_state()
    assert REASON in await page.locator(f"#item-{seed.APPLY}").inner_text()
    await no_sideways_scroll(page)
    await console_browser.shot(page, "firm-page-02-answered")

    await page.get_by_label("只接收“已为您办理”（免申即享）的政策短信").check()
    await page.locator("#preferences").get_by_role("button", name="保存").click()
    await page.wait_for_load_state()
    assert "已保存短信接收方式" in await page.locator("#preferences").inner_text()
    assert await page.get_by_label("只接收“已为您办理”（免申即享）的政策短信（当前）").is_checked()
    await no_sideways_scroll(page)
    await console_browser.shot(page, "firm-page-03-preferences")

    assert [r.action for r in await store.firm_responses(seed.RENTER)] == ["confirm", "object"]
    assert await store.sms_preference(seed.RENTER) == outbox.SMS_GRANTS_ONLY

    # A viewer finds the objection in the console's queue.
    await page.goto(f"{base}/console/objections")
    await page.fill("input[name=username]", "wang")
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button:has-text('登录')")
    await page.wait_for_url("**/console/objections")
    queue = await page.inner_text("main")
    assert seed.RENTER_NAME in queue and REASON in queue and "融资便利专项行动" in queue
