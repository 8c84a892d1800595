"""Attributes from registers a government keeps of firms: customs filing and the "四上" directory.

Like certifications, these registers are authoritative and reach the profile as events, so a firm
with no record in one is not in it: False, not unknown (docs/profile.md).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from engine.judging.derive.periods import as_date, as_year, items


def customs(section: Any, as_of: dt.date) -> dict[str, Any]:
    """``customs_registered``: filed with customs as a consignor or consignee of imports and exports.

    Held = filed on or before ``as_of`` and not cancelled on or before it. A record whose filing
    date is unreadable leaves it unknown unless a cancellation already settles it.
    """
    if not isinstance(section, Mapping):
        return {"customs_registered": False}
    registered, cancelled = as_date(section.get("registered_on")), as_date(section.get("cancelled_on"))
    if cancelled is not None and cancelled <= as_of:
        return {"customs_registered": False}
    if registered is None:
        return {}
    return {"customs_registered": registered <= as_of}


def scale_directory(section: Any, as_of: dt.date) -> dict[str, Any]:
    """``above_scale``: in the "四上" directory in the latest year on record up to ``as_of``'s year.

    The directory is kept by year; a year whose record says neither in nor out leaves it unknown.
    """
    years = {as_year(k): rec for k, rec in items(section)}
    known = [y for y in years if y is not None and y <= as_of.year]
    if not known:
        return {"above_scale": False}
    listed = years[max(known)].get("listed")
    return {"above_scale": listed} if isinstance(listed, bool) else {}
