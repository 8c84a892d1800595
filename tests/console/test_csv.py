"""The match log's CSV export: streamed batch by batch, UTF-8 with a BOM, Chinese headers, the same
filters as the page, contact data masked for viewers (and audited when shown), formulas defused."""

from __future__ import annotations

import csv
import io

from engine import console
from engine.console import csv_export, read_model
from tests import factories
from tests.console import conftest as console_conftest
from tests.console import seed
from tests.notices import helpers

pytestmark = console_conftest.SQL_ONLY


async def export(client, query: str = "") -> tuple[object, bytes]:
    response = await client.get(f"/console/decisions.csv{query}")
    body = await response.read()
    assert response.status == 200, body
    return response, body


def rows(body: bytes) -> list[dict[str, str]]:
    assert body.startswith(b"\xef\xbb\xbf"), "no UTF-8 byte order mark for Excel"
    return list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"), newline="")))


async def test_export_is_streamed_in_batches_with_the_pages_filters(console_client, login, store, monkeypatch):
    await seed.two_firms(store)
    await login(console_client, "wang", "viewer")
    batches: list[int] = []
    reads = console_client.app[console.READ_MODEL]
    original = reads.decision_batches

    async def counting(*args, **kwargs):
        async for batch in original(*args, **kwargs):
            batches.append(len(batch))
            yield batch

    monkeypatch.setattr(read_model, "CSV_BATCH", 3)
    monkeypatch.setattr(reads, "decision_batches", counting)
    response, body = await export(console_client)
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.headers.get("Transfer-Encoding") == "chunked" and "Content-Length" not in response.headers
    assert "attachment" in response.headers["Content-Disposition"]
    lines = rows(body)
    assert tuple(lines[0]) == csv_export.HEADERS and "统一社会信用代码" in lines[0] and "判定结果" in lines[0]
    stored = sorted([d.id for firm in (helpers.FIRM, seed.OTHER) for d in await store.decisions(firm)], reverse=True)
    assert [int(line["记录编号"]) for line in lines] == stored  # newest first, every one, none twice
    assert batches == [3, 1]  # read from the database a batch at a time, not all at once

    _, body = await export(console_client, "?firm=高原&status=met")
    [only] = rows(body)
    assert (only["统一社会信用代码"], only["企业名称"], only["判定结果"]) == (seed.OTHER, seed.OTHER_NAME, "符合")
    assert (only["地区代码"], only["地区"]) == ("630104", "西宁市城西区")  # the code for spreadsheets, the name for people
    assert (only["条款编号"], only["条款标题"], only["办理方式"], only["审批状态"]) == ("qinghai-2022-2", "小规模纳税人免征增值税", "免申即享", "无需审批")
    _, body = await export(console_client, "?region=9999")
    assert rows(body) == []


async def test_contact_data_is_masked_for_viewers_and_audited_when_shown(console_client, login, store):
    await seed.two_firms(store)
    await login(console_client, "wang", "viewer")
    _, body = await export(console_client, f"?firm={helpers.FIRM}")
    lines = rows(body)
    assert {(line["联系手机"], line["联系邮箱"]) for line in lines} == {("138****8000", "c***@example.cn")}
    assert b"13800138000" not in body and b"cfo@example.cn" not in body
    assert not [e async for e in store.audit_entries() if e.action == "pii.viewed"]

    await login(console_client, "li", "operator")
    _, body = await export(console_client, f"?firm={helpers.FIRM}")
    assert {(line["联系手机"], line["联系邮箱"]) for line in rows(body)} == {("13800138000", "cfo@example.cn")}
    [viewed] = [e async for e in store.audit_entries() if e.action == "pii.viewed"]
    assert (viewed.actor, viewed.subject_id, viewed.payload["path"]) == ("li (operator)", "decisions.csv", f"/console/decisions.csv?firm={helpers.FIRM}")


async def test_cells_a_spreadsheet_would_run_as_formulas_are_defused(console_client, login, store):
    firm = factories.uscc(93, region="630102")
    await helpers.feed(store, *seed.firm_events(firm, region="630102", name='=HYPERLINK("http://evil.example","点我")'))
    await login(console_client, "wang", "viewer")
    _, body = await export(console_client, f"?firm={firm}")
    assert {line["企业名称"] for line in rows(body)} == {'\'=HYPERLINK("http://evil.example","点我")'}
    assert csv_export.cell("-12.5") == "-12.5" and csv_export.cell("@SUM(A1)") == "'@SUM(A1)" and csv_export.cell(None) == ""


async def test_anonymous_export_goes_to_login(console_client):
    response = await console_client.get("/console/decisions.csv", allow_redirects=False)
    assert response.status == 302 and response.headers["Location"].startswith("/console/login")
