"""The match log as CSV, streamed: rows go out as each batch comes from the database.

Excel opens a UTF-8 CSV correctly only with a byte order mark, so the file starts with one;
headers are the glossary's Chinese (a region is given by code and by name); times are Beijing time.
Contact details are masked unless the operator may see PII; mobile numbers are written in national
form (13800138000), which spreadsheets keep intact. Cells that a spreadsheet would run as a formula
(=, +, -, @ …) are quoted with a leading apostrophe, except plain numbers.
"""

from __future__ import annotations

import contextlib
import csv
import datetime
import io
import re
from collections.abc import AsyncGenerator, Iterable, Sequence
from typing import Any

from aiohttp import web

from engine.console import labels, security
from engine.console.read_model import DecisionRow
from engine.core import glossary
from engine.core.china_time import CHINA_TZ

#: Column headers, from the glossary (engine/core/data/glossary.yaml, `csv.decisions`).
HEADERS = glossary.load().csv["decisions"]
_FORMULA = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"^[+-]?\d+(\.\d+)?$")


def china_time(value: datetime.datetime | None) -> str:
    """A UTC timestamp as Beijing time, "YYYY-MM-DD HH:MM"."""
    return value.astimezone(CHINA_TZ).strftime("%Y-%m-%d %H:%M") if value else ""


def cell(value: Any) -> str:
    """A value as a CSV cell that no spreadsheet will evaluate."""
    text = "" if value is None else str(value)
    if text.startswith(_FORMULA) and not _NUMBER.match(text):
        return "'" + text
    return text


def national(mobile: str | None) -> str:
    """A stored (E.164) Chinese mobile number as people and spreadsheets write it: 13800138000."""
    return mobile[3:] if mobile and mobile.startswith("+86") else (mobile or "")


def _line(row: DecisionRow, catalogue: Any, unmasked: bool) -> list[str]:
    clause = catalogue.by_id.get(row.clause_id) if catalogue is not None else None
    mobile = national(row.mobile)
    contact = [mobile, row.email or ""] if unmasked else [
        security.mask(mobile, "mobile") if mobile else "", security.mask(row.email, "email") if row.email else ""]
    values = [
        row.id, china_time(row.created_at), row.as_of.isoformat(), row.uscc, row.firm_name,
        row.region, labels.region_name(row.region), *contact,
        row.clause_id, row.cite, clause.display_title if clause else "", labels.label(labels.MODE, clause.mode) if clause else "",
        labels.label(labels.VERDICT, row.status), "" if row.amount is None else f"{row.amount:.2f}",
        labels.label(labels.APPROVAL, row.approval) if row.approval else labels.APPROVAL_FILTER["none"],
    ]
    return [cell(v) for v in values]


async def stream(request: web.Request, batches: AsyncGenerator[list[DecisionRow], None], catalogue: Any, *, unmasked: bool) -> web.StreamResponse:
    """Write the CSV to the client batch by batch; only one batch is ever in memory."""
    today = datetime.datetime.now(CHINA_TZ).strftime("%Y%m%d")
    response = web.StreamResponse(headers={
        "Content-Disposition": f"attachment; filename=\"decisions-{today}.csv\"; filename*=UTF-8''%E5%8C%B9%E9%85%8D%E8%AE%B0%E5%BD%95-{today}.csv",
        "Cache-Control": "no-store",
    })
    response.content_type = "text/csv"
    response.charset = "utf-8"
    await response.prepare(request)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    buffer.write("\ufeff")
    writer.writerow(HEADERS)
    await response.write(buffer.getvalue().encode("utf-8"))
    async with contextlib.aclosing(batches) as rows:  # closed even when the client goes away mid-file
        async for batch in rows:
            buffer.seek(0)
            buffer.truncate()
            writer.writerows(_line(row, catalogue, unmasked) for row in batch)
            await response.write(buffer.getvalue().encode("utf-8"))
    await response.write_eof()
    return response


def table(name: str, headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> web.Response:
    """A small table (a statistics table: aggregates, a few hundred lines at most) as a CSV download
    named `<name>-<date>.csv`, with a byte order mark and every cell made safe."""
    today = datetime.datetime.now(CHINA_TZ).strftime("%Y%m%d")
    buffer = io.StringIO()
    buffer.write("\ufeff")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(headers)
    writer.writerows([cell(value) for value in row] for row in rows)
    response = web.Response(body=buffer.getvalue().encode("utf-8"), headers={
        "Content-Disposition": f'attachment; filename="{name}-{today}.csv"', "Cache-Control": "no-store",
    })
    response.content_type = "text/csv"
    response.charset = "utf-8"
    return response
