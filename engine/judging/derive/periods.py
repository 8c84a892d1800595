"""Parsing of the profile's dates, periods and numbers (see docs/profile.md)."""

from __future__ import annotations

import calendar
import datetime as dt
import functools
import re
from collections.abc import Mapping
from typing import Any

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_QUARTER = re.compile(r"^(\d{4})Q([1-4])$")


def as_date(value: Any) -> dt.date | None:
    """A date from a date, datetime or ISO string ("2022-03-15", "2022-03-15T08:00:00+08:00")."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str) and len(value) >= 10:
        try:
            return dt.date.fromisoformat(value[:10])
        except ValueError:
            return None
    return None


def as_number(value: Any) -> float | None:
    """A float from an int/float (or a numeric string), None otherwise; booleans are not numbers."""
    if type(value) is float:  # the common case, first: profiles hold millions of amounts
        return value
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def as_count(value: Any) -> int | None:
    """A whole count (headcount, hires); fractional or non-numeric values are not counts."""
    number = as_number(value)
    if number is None or number != int(number):
        return None
    return int(number)


def as_year(key: Any) -> int | None:
    """The year of a `cit`/`credit_rating` key ("2021" or 2021)."""
    if isinstance(key, int) and not isinstance(key, bool):
        return key
    if isinstance(key, str) and key.strip().isdigit() and len(key.strip()) == 4:
        return int(key.strip())
    return None


# Period keys repeat across firms (a few hundred months and quarters): parse each once.
@functools.lru_cache(maxsize=4096)
def month_key(key: Any) -> tuple[int, int] | None:
    """(year, month) of a `social_insurance` key "YYYY-MM"."""
    m = _MONTH.match(key) if isinstance(key, str) else None
    if not m or not 1 <= int(m.group(2)) <= 12:
        return None
    return int(m.group(1)), int(m.group(2))


@functools.lru_cache(maxsize=4096)
def tax_period(key: Any) -> tuple[dt.date, int] | None:
    """(last day, length in months) of a VAT period key "YYYY-MM" or "YYYYQn"."""
    month = month_key(key)
    if month:
        year, mon = month
        return dt.date(year, mon, calendar.monthrange(year, mon)[1]), 1
    m = _QUARTER.match(key) if isinstance(key, str) else None
    if not m:
        return None
    year, last = int(m.group(1)), int(m.group(2)) * 3
    return dt.date(year, last, calendar.monthrange(year, last)[1]), 3


def items(value: Any) -> list[tuple[Any, Mapping[str, Any]]]:
    """(key, record) pairs of a keyed section, skipping records that are not objects."""
    if not isinstance(value, Mapping):
        return []
    # `type(v) is dict` first: the ABC check alone costs more than the rest of the loop.
    return [(k, v) for k, v in value.items() if type(v) is dict or isinstance(v, Mapping)]


def whole_years(start: dt.date, end: dt.date) -> int:
    """Completed years from ``start`` to ``end`` (anniversary reached counts as a full year)."""
    return end.year - start.year - ((end.month, end.day) < (start.month, start.day))
