"""The signed-in operator's home page (/console/): today's and this month's notices by outcome, the
amounts granted, what waits for him (二次确认, firms' objections) and the problems that need someone
(notices given up or held, events the pipeline parked). Everything within his regions."""

from __future__ import annotations

import dataclasses
import datetime

from aiohttp import web

from engine.console import security, sessions, stats, view
from engine.console.read_model import READ_MODEL
from engine.core.china_time import CHINA_TZ


@dataclasses.dataclass(frozen=True)
class Period:
    """Notices recorded in a period, by the statistics' columns."""

    label: str
    notices: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.notices.values())


def starts(now: datetime.datetime) -> tuple[datetime.datetime, datetime.datetime]:
    """The UTC moments today and this month began in China time."""
    local = now.astimezone(CHINA_TZ)
    day = local.replace(hour=0, minute=0, second=0, microsecond=0)
    return day.astimezone(datetime.UTC), day.replace(day=1).astimezone(datetime.UTC)


@security.require("viewer")
async def home_page(request: web.Request) -> web.Response:
    """GET /console/: the operator's day at a glance."""
    now = sessions.now(request)
    day_start, month_start = starts(now)
    counts = await request.app[READ_MODEL].home_counts(day_start, month_start, scope=view.scope(request))
    today, month = {c: 0 for c, _ in stats.NOTICE_COLUMNS}, {c: 0 for c, _ in stats.NOTICE_COLUMNS}
    for status, n_today, n_month in counts.notices:
        today[stats.notice_column(status)] += n_today
        month[stats.notice_column(status)] += n_month
    local = now.astimezone(CHINA_TZ)
    return view.render(request, "home.html", {
        "counts": counts, "columns": stats.NOTICE_COLUMNS,
        "periods": [Period(f"今日（{local.month}月{local.day}日）", today), Period(f"本月（{local.year}年{local.month}月）", month)],
        "granted": [("今日", *counts.granted_today), ("本月", *counts.granted_month), ("累计", *counts.granted_ever)],
        "problems": counts.dead_notices + counts.held_notices + counts.parked_events,
    })
