"""What a synthetic event generator works with: the firm, its random stream and its timeline.

Each event type's generator (its module in engine/ingest/event_types) draws that type's events
through a `FirmDraw` (or, for region events, a `RegionDraw`); engine/ingest/synth.py makes the
firms and calls the generators in the order the registry gives. Kept apart from synth.py so that
the event-type modules import only this and the code lists, not the loading machinery.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import random
from typing import Any

from engine.core import regions
from engine.ingest import synth_data

#: Prefix of every synthetic event id; ids are `synth-<seed>-<firm index>-<n>`.
ID_PREFIX = "synth"


@dataclasses.dataclass(frozen=True)
class Figures:
    """One year's CIT annual-filing figures (yuan; employees a head count)."""

    employees: int
    revenue: int
    assets: int
    taxable_income: int


@dataclasses.dataclass(frozen=True)
class Firm:
    """A synthetic firm: identity, place, trade, size and the figures its events report."""

    index: int
    uscc: str
    name: str
    jurisdiction: str  # the measure's slug
    region: str
    industry: str
    legal_form: str
    registered_on: dt.date
    size_class: str
    taxpayer_type: str
    figures: Figures  # for the year before the measure's year

    @property
    def year(self) -> int:
        """The year the firm's measure applies in (most of its events fall in it)."""
        return synth_data.MEASURE_YEAR[self.jurisdiction]


# Random helpers ----------------------------------------------------------------------------------


def weighted(rng: random.Random, weights: dict[str, float]) -> str:
    """A key of `weights` drawn in proportion to its weight."""
    keys = list(weights)
    return rng.choices(keys, weights=[weights[k] for k in keys])[0]


def day(rng: random.Random, first: dt.date, last: dt.date) -> dt.date:
    """A uniformly drawn day in [first, last] (first if the range is empty)."""
    span = (last - first).days
    return first if span <= 0 else first + dt.timedelta(days=rng.randint(0, span))


def stamp(rng: random.Random, on: dt.date) -> str:
    """An office-hours moment on `on`, China time, as the sources write it."""
    seconds = rng.randint(8 * 3600 + 1800, 17 * 3600 + 1800)
    return f"{on.isoformat()}T{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}+08:00"


def log_uniform(rng: random.Random, low: float, high: float) -> float:
    """A value in [low, high] whose logarithm is uniform: amounts spread over magnitudes."""
    return math.exp(rng.uniform(math.log(low), math.log(high)))


def next_month(on: dt.date, day_of_month: int) -> dt.date:
    """Day `day_of_month` of the month after `on`'s."""
    return dt.date(on.year + on.month // 12, on.month % 12 + 1, day_of_month)


# Names ------------------------------------------------------------------------------------------


def _words(table: dict[str, tuple[str, ...]], industry: str) -> tuple[str, ...] | None:
    return table.get(industry[1:3])


def _place(region: str) -> tuple[str, str]:
    """Name prefixes: (for an enterprise, for a 个体工商户), e.g. ("大同", "大同市平城区").

    Enterprises carry the city's short name (a county's where the city is a prefecture); shops the
    county's, after the city's where the county is a district (阳泉市城区, not a bare 城区).
    """
    county = regions.region_name(region) or ""
    city = regions.region_name(region[:4] + "00") or ""
    enterprise = city.removesuffix("市") if city.endswith("市") and len(city) <= 4 else county[:2]
    return enterprise, (city + county if county.endswith("区") else county)


def firm_name(rng: random.Random, region: str, industry: str, individual: bool) -> str:
    """A plausible registered name: 大同鑫恒商贸有限公司, or 平城区王记面馆 for a 个体工商户."""
    city, county = _place(region)
    if individual:
        shop = rng.choice(_words(synth_data.SHOP_WORDS, industry) or ("经营部",))
        owner = rng.choice(synth_data.SURNAMES) + rng.choice(("记", "氏", "家"))
        return f"{county}{owner}{shop}"
    trade = rng.choice(synth_data.TRADE_CHARS) + rng.choice(synth_data.TRADE_CHARS)
    word = rng.choice(_words(synth_data.ENTERPRISE_WORDS, industry) or ("实业",))
    suffix = rng.choices(("有限公司", "有限责任公司", "股份有限公司"), weights=(80, 17, 3))[0]
    return f"{city}{trade}{word}{suffix}"


# Drawing contexts ---------------------------------------------------------------------------------


@dataclasses.dataclass
class FirmDraw:
    """A firm's events as its generators draw them, later sorted by when they occurred and numbered.

    `year`, `figures` and `main` describe the year a "yearly" generator is called for (for the
    other stages: the firm's measure year, its figures, True); `first_year` is the first year
    the firm is active in.
    """

    rng: random.Random
    firm: Firm
    first_year: int
    year: int = 0
    figures: Figures | None = None
    main: bool = True
    items: list[dict[str, Any]] = dataclasses.field(default_factory=list)

    def add(self, kind: str, on: dt.date, data: dict[str, Any], *, registration: bool = False) -> None:
        """An event of `kind` on day `on` (moved after the registration unless it is the registration)."""
        if not registration:
            on = max(on, self.firm.registered_on + dt.timedelta(days=1))  # nothing happens before registration
        self.items.append({"type": kind, "occurred_at": stamp(self.rng, on), "uscc": self.firm.uscc, "data": data})

    def events(self, seed: int) -> list[dict[str, Any]]:
        """The events drawn, in the order they occurred, with their ids."""
        ordered = sorted(self.items, key=lambda e: e["occurred_at"])  # same offset everywhere: text order is time order
        return [{"id": f"{ID_PREFIX}-{seed}-{self.firm.index}-{n}", **item} for n, item in enumerate(ordered)]


@dataclasses.dataclass
class RegionDraw:
    """Region events of a seed as their generators draw them; each names its own id's tail."""

    rng: random.Random
    seed: int
    items: list[dict[str, Any]] = dataclasses.field(default_factory=list)

    def add(self, kind: str, occurred_at: str, data: dict[str, Any], key: str) -> None:
        """An event of `kind` at `occurred_at`, with id `synth-<seed>-<key>`."""
        self.items.append({"id": f"{ID_PREFIX}-{self.seed}-{key}", "type": kind, "occurred_at": occurred_at, "data": data})
