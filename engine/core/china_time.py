"""China time: the zone every date the engine judges as of is read in."""

from __future__ import annotations

import datetime

#: China Standard Time; no daylight saving since 1991, so a fixed offset is exact.
CHINA_TZ = datetime.timezone(datetime.timedelta(hours=8), "Asia/Shanghai")


def today_in_china() -> datetime.date:
    """Today's date in China: what commands judge as of unless told otherwise."""
    return datetime.datetime.now(CHINA_TZ).date()


def as_of_date(occurred_at: datetime.datetime) -> datetime.date:
    """The calendar date (in China) on which an event occurred: the date its decisions are judged as of."""
    return occurred_at.astimezone(CHINA_TZ).date()


def day_start_utc(day: datetime.date) -> datetime.datetime:
    """The UTC moment a day began in China time (its midnight, UTC+8)."""
    return datetime.datetime.combine(day, datetime.time(), CHINA_TZ).astimezone(datetime.UTC)
