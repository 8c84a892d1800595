"""The console shows officers the clause's words as printed, not as the PDF extraction broke them."""

from __future__ import annotations

from engine.judging.catalogue import loader
from tests.console import conftest as console_conftest

pytestmark = console_conftest.SQL_ONLY


async def page(client, path: str) -> str:
    response = await client.get(path, allow_redirects=False)
    text = await response.text()
    assert response.status == 200, text
    return text


async def test_the_clause_page_shows_the_clause_as_printed(console_client, login):
    clause = loader.load(verify_texts=False).by_id["yunnan-2022-2-1"]
    broken = ["机关事 业单位", "租 金", "２０２２", "６个月", "租金.鼓励"]
    assert all(b in clause.text for b in broken)  # the rule file really carries each artefact
    await login(console_client, "wang", "viewer")
    html = await page(console_client, "/console/clauses/yunnan-2022-2-1")
    assert not [b for b in broken if b in html]
    for printed in ("机关事业单位", "减免3个月租金", "2022年对省内", "减免6个月租金。鼓励各"):
        assert printed in html


async def test_the_clause_list_shows_and_finds_titles_as_printed(console_client, login):
    await login(console_client, "wang", "viewer")
    html = await page(console_client, "/console/clauses?document=lvliang-2022")
    assert "开展“政策找企业服务到企业”系列活动" in html
    assert "政策找企业 服务到企业" not in html
    # An officer searches for what the page shows.
    found = await page(console_client, "/console/clauses?q=政策找企业服务到企业")
    assert "lvliang-2022-23" in found and "lvliang-2022-22" not in found
