"""Issue 15, item 9: the console clicked through in Debian's chromium as a county officer and as an admin.

The county officer (城东区办事员, a viewer limited to 西宁市城东区 630102) and the admin (all regions) each
follow the main navigation by clicking it, then open every other console page the router serves. Each page
is asserted on what that officer must and must not see: the county officer sees his county's firm and
never another county's firm, by name or by USCC, on any page (lists, counts, charts, forms); the admin sees
every county's. Screenshots of every page are kept under ``var/screenshots/walk-<role>-<page>.png``.
"""

from __future__ import annotations

import re

from tests.browser import test_access as access
from tests.browser import test_console_browser as console_browser
from tests.browser.test_access import served  # noqa: F401  (the seeded service, a fixture)
from tests.firm_page import seed as firm_page_seed

#: The main navigation as each officer sees it, in order (审计 only for an all-region account).
COUNTY_NAV = ["首页", "匹配记录", "企业", "条款", "待审批", "企业异议", "统计"]
ADMIN_NAV = COUNTY_NAV + ["审计"]
#: The county officer's own firm, and the firms of other counties (西宁市城西区; 昆明市五华区).
OWN_NAME = "西宁市城东区示例商贸有限公司"
OTHER_NAME = "西宁市城西区邻县商贸有限公司"
OTHERS = (console_browser.WEST, firm_page_seed.RENTER, OTHER_NAME)


async def _open(browser, base: str, username: str):
    context = await browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai", viewport=access.DESK)
    await access.log_in(context, base, username)
    return context, await context.new_page()


async def _shot(page, role: str, name: str) -> None:
    console_browser.SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    slug = re.sub(r"[^\w.-]+", "_", name.strip("/")) or "root"
    await page.screenshot(path=str(console_browser.SCREENSHOTS / f"walk-{role}-{slug}.png"), full_page=True)


async def _walk(browser, base: str, app, samples: dict[str, str], username: str, role: str, nav: list[str]) -> dict[str, str]:
    """Click through the navigation, then open every other page; return each page's HTML by name."""
    context, page = await _open(browser, base, username)
    seen: dict[str, str] = {}
    try:
        await page.goto(f"{base}/console/")
        assert [label.strip() for label in await page.locator("nav.main a").all_inner_texts()] == nav
        for label in nav:
            await page.locator("nav.main").get_by_role("link", name=label, exact=True).click()
            await page.wait_for_load_state()
            assert await page.locator("nav.main a.active").inner_text() == label
            seen[label] = await page.content()
            await _shot(page, role, f"nav-{label}")
        for route, path in access.console_pages(app, samples).items():
            response = await page.goto(base + path)
            status = 403 if route.startswith("/console/audit") and role == "county" else 200
            assert response is not None and response.status == status, (role, route, response and response.status)
            seen[route] = await page.content()
            await _shot(page, role, route)
    finally:
        await context.close()
    return seen


async def test_a_county_officer_and_an_admin_click_through_the_console(served):  # noqa: F811
    base, app, samples = served
    async with console_browser.playwright_api.async_playwright() as driver:
        browser = await driver.chromium.launch(executable_path=console_browser.CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        try:
            county = await _walk(browser, base, app, samples, "chengdong", "county", COUNTY_NAV)
            admin = await _walk(browser, base, app, samples, "guanli", "admin", ADMIN_NAV)
        finally:
            await browser.close()

    # The county officer: never another county's firm, on any page; his own where firms are listed.
    leaks = {name: [other for other in OTHERS if other in html] for name, html in county.items()}
    assert not {name: found for name, found in leaks.items() if found}
    for name in ("匹配记录", "企业", "待审批", "/console/firms/{uscc}"):
        assert OWN_NAME in county[name], name
    assert "西宁市城东区" in county["首页"] and "西宁市城东区" in county["/console/account"]
    assert "审计" not in re.sub(r"<[^>]+>", " ", county["首页"]).split("政策直达 · 运营控制台", 1)[1].split("退出", 1)[0]
    assert "仅限可查看全部地区的账号查看" in county["/console/audit"] and "data-seq=" not in county["/console/audit"]

    # The admin: every county's firms, the audit trail, and the objection of the 昆明 firm.
    for other in (OWN_NAME, OTHER_NAME, console_browser.WEST):
        assert other in admin["企业"], other
    assert firm_page_seed.RENTER in admin["企业"]
    assert "我单位并非小微企业" in admin["企业异议"] and "我单位并非小微企业" not in county["企业异议"]
    assert "哈希链校验通过" in admin["审计"] and "data-seq=" in admin["审计"]
