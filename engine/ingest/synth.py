"""Synthetic firms and their events for demos, tests and benchmarks (`policy-push synth`).

Each firm is a pure function of (seed, index): its own random stream is seeded from both, so the
first N firms of a seed are the same whatever N is, firms can be generated in any order or in
parallel, and event ids (`synth-<seed>-<index>-<n>`) repeat exactly on a rerun, which the
service then recognises as duplicates.

What a firm looks like (see engine/synth_data.py for the code lists and weights):

* a valid USCC (GB 32100-2015) whose region part is the firm's county, with an organisation code
  (GB 11714) that is unique per index;
* a current county code under one of the five measures' jurisdictions, a GB/T 4754-2017 class,
  enterprise or 个体工商户, a registration date (most firms a few years old);
* a size class per 工信部联企业〔2011〕300号 drawn first, then employees, revenue and assets inside
  that class's bands for the firm's industry row, so the figures and the class agree;
* events mostly in 2022, when four of the measures apply, and in 2023 for 阳泉市城区 (its measure
  starts 2023-02-10): CIT filings and credit grades for the previous year, VAT returns (monthly or
  quarterly; small-scale sales spread around the 150,000 yuan monthly threshold), social-insurance
  reports with hires, contact details with consent, and for some firms leases (some from
  state-owned landlords), loans (agricultural ones for farms), certifications and IP trades;
* a few `region.risk_designated` events for 2022, independent of the number of firms.

A firm's events are emitted in the order they occurred, as a data-sharing platform would
forward them. Mobile numbers are random but valid, so they may belong to real people; emails use
the reserved example.com/.net/.org domains. Never load synthetic firms where notices really go out.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import functools
import json
import math
import random
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import aiohttp
import phonenumbers
import sqlalchemy as sa
import standardwebhooks
from stdnum.cn import uscc as stdnum_uscc

from engine.core import industry_codes
from connectors import sql_models as models
from engine import storage
from engine.ingest import synth_data, validation, webhooks
from engine.core import regions
from engine.judging.derive import size_class

#: Prefix of every synthetic event id; ids are `synth-<seed>-<firm index>-<n>`.
ID_PREFIX = "synth"

#: Events per stored transaction or webhook delivery unless told otherwise.
DEFAULT_BATCH = 500

#: Attempts per webhook delivery before giving up (connection errors and 5xx are retried; a
#: resent batch is idempotent: its events are then reported as duplicates).
POST_ATTEMPTS = 3
POST_RETRY_SECONDS = 1.0
POST_TIMEOUT_SECONDS = 120.0

#: USCC alphabet (GB 32100-2015): digits and capitals without I, O, S, V, Z.
_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
#: GB 11714 organisation-code check weights.
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
#: New-style organisation codes are "MA" + 6 characters; older (pre-2015) firms have 8 digits.
_NEW_CODES = len(_USCC_ALPHABET) ** 6
_OLD_CODES = 10**8
#: Organisation codes were replaced by USCCs with "MA…" bodies from 2015-10-01 (国发〔2015〕33号).
_USCC_REFORM = dt.date(2015, 10, 1)

_WAN = 10_000  # yuan per 万元
_SMALL_SCALE_LIMIT = 5_000_000  # annual sales above which a firm must register as a general VAT payer
_VAT_THRESHOLD = 150_000  # monthly sales up to which small-scale payers were exempt from VAT
_NEAR_THRESHOLD_SHARE = 0.45  # firms whose revenue is steered towards that threshold


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


def _weighted(rng: random.Random, weights: dict[str, float]) -> str:
    keys = list(weights)
    return rng.choices(keys, weights=[weights[k] for k in keys])[0]


def _day(rng: random.Random, first: dt.date, last: dt.date) -> dt.date:
    """A uniformly drawn day in [first, last] (first if the range is empty)."""
    span = (last - first).days
    return first if span <= 0 else first + dt.timedelta(days=rng.randint(0, span))


def _stamp(rng: random.Random, day: dt.date) -> str:
    """An office-hours moment on `day`, China time, as the sources write it."""
    seconds = rng.randint(8 * 3600 + 1800, 17 * 3600 + 1800)
    return f"{day.isoformat()}T{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}+08:00"


def _log_uniform(rng: random.Random, low: float, high: float) -> float:
    return math.exp(rng.uniform(math.log(low), math.log(high)))


# Code lists ---------------------------------------------------------------------------------------


@functools.cache
def _industry_pools() -> dict[str, tuple[str, ...]]:
    """Pool name → GB/T 4754-2017 class codes (letter + 4 digits) whose 300号 row is known."""
    pools: dict[str, list[str]] = {name: [] for name in synth_data.INDUSTRY_POOLS}
    sections = industry_codes.section_of_division()
    for digits in industry_codes.names():
        if len(digits) != 4 or not digits.isdigit():
            continue
        code = sections[digits[:2]] + digits
        if size_class.industry_row(code) is None:
            continue  # 金融、铁路、教育… have no 300号 row: their size could not be judged
        pools[_pool_of(code)].append(code)
    return {name: tuple(codes) for name, codes in pools.items()}


def _pool_of(code: str) -> str:
    section, division = code[0], code[1:3]
    by_division = {"52": "retail", "51": "wholesale", "62": "catering", "65": "software", "80": "household", "81": "household"}
    if division in by_division:
        return by_division[division]
    return {"C": "manufacturing", "A": "agriculture"}.get(section, "other")


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


# Identity -----------------------------------------------------------------------------------------


@functools.cache
def _code_permutation(seed: int) -> tuple[int, int, int, int]:
    """Per-seed affine maps index → organisation-code number, bijective for each code style."""
    rng = random.Random(f"policy-push-synth:{seed}:codes")
    new_a = rng.randrange(1, _NEW_CODES)
    while new_a % 31 == 0:
        new_a = rng.randrange(1, _NEW_CODES)
    old_a = rng.randrange(1, _OLD_CODES)
    while math.gcd(old_a, _OLD_CODES) != 1:
        old_a = rng.randrange(1, _OLD_CODES)
    return new_a, rng.randrange(_NEW_CODES), old_a, rng.randrange(_OLD_CODES)


def organisation_code(seed: int, index: int, *, new_style: bool) -> str:
    """A GB 11714 organisation code (8 characters + check), unique per (seed, index, style)."""
    new_a, new_b, old_a, old_b = _code_permutation(seed)
    if new_style:
        n = (new_a * index + new_b) % _NEW_CODES
        digits = []
        for _ in range(6):
            n, r = divmod(n, len(_USCC_ALPHABET))
            digits.append(_USCC_ALPHABET[r])
        body = "MA" + "".join(reversed(digits))
    else:
        body = f"{(old_a * index + old_b) % _OLD_CODES:08d}"
    return body + organisation_check(body)


def organisation_check(body: str) -> str:
    """The GB 11714 check character of an 8-character organisation-code body (letters count 10–35)."""
    total = sum(w * (int(c) if c.isdigit() else ord(c) - 55) for w, c in zip(_ORG_WEIGHTS, body, strict=True))
    check = 11 - total % 11
    return {10: "X", 11: "0"}.get(check, str(check))


def make_uscc(region: str, org_code: str, *, individual: bool) -> str:
    """A USCC: 9 (market regulation) + 1 enterprise / 2 个体工商户 + region + organisation code + check."""
    body = f"9{2 if individual else 1}{region}{org_code}"
    return body + stdnum_uscc.calc_check_digit(body)


def _name(rng: random.Random, region: str, industry: str, individual: bool) -> str:
    city, county = _place(region)
    if individual:
        shop = rng.choice(_words(synth_data.SHOP_WORDS, industry) or ("经营部",))
        owner = rng.choice(synth_data.SURNAMES) + rng.choice(("记", "氏", "家"))
        return f"{county}{owner}{shop}"
    trade = rng.choice(synth_data.TRADE_CHARS) + rng.choice(synth_data.TRADE_CHARS)
    word = rng.choice(_words(synth_data.ENTERPRISE_WORDS, industry) or ("实业",))
    suffix = rng.choices(("有限公司", "有限责任公司", "股份有限公司"), weights=(80, 17, 3))[0]
    return f"{city}{trade}{word}{suffix}"


# Size and figures ----------------------------------------------------------------------------------


def _band(indicator: size_class.Indicator, tier: str) -> tuple[int, int]:
    """[low, high) of one 300号 indicator for a size class, in yuan or persons."""
    scale = 1 if indicator.field == size_class.EMPLOYEES else _WAN
    floor = 1 if indicator.field == size_class.EMPLOYEES else max(1, indicator.small * scale // 20)
    low, high = {
        size_class.LARGE: (indicator.large * scale, indicator.large * scale * 3),
        size_class.MEDIUM: (indicator.medium * scale, indicator.large * scale),
        size_class.SMALL: (indicator.small * scale, indicator.medium * scale),
        size_class.MICRO: (floor, indicator.small * scale),
    }[tier]
    return low, max(high, low + 1)


def _figures(
    rng: random.Random, industry: str, tier: str, previous: Figures | None = None, revenue_hint: float | None = None
) -> Figures:
    """Figures inside `tier`'s bands of the industry's 300号 row (drifting from `previous` if given).

    `revenue_hint` steers the revenue towards a value where the class's band allows it.
    """
    row = size_class.ROWS[size_class.industry_row(industry)]
    values: dict[str, int] = {}
    for indicator in row:
        low, high = _band(indicator, tier)
        if previous is not None:
            value = getattr(previous, indicator.field) * rng.uniform(0.85, 1.2)
        elif indicator.field == size_class.REVENUE and revenue_hint is not None and low <= revenue_hint < high:
            value = revenue_hint
        else:
            value = _log_uniform(rng, low, high)
        values[indicator.field] = min(max(int(value), low), high - 1)
    if size_class.EMPLOYEES not in values:
        values[size_class.EMPLOYEES] = max(1, round(values[size_class.REVENUE] / rng.uniform(200_000, 800_000)))
    if size_class.REVENUE not in values:
        if previous is not None:
            values[size_class.REVENUE] = int(previous.revenue * rng.uniform(0.85, 1.2))
        elif revenue_hint is not None:
            values[size_class.REVENUE] = int(revenue_hint)
        else:
            values[size_class.REVENUE] = int(values[size_class.EMPLOYEES] * rng.uniform(100_000, 400_000))
    if size_class.ASSETS not in values:
        values[size_class.ASSETS] = int(values[size_class.REVENUE] * rng.uniform(0.3, 1.6))
    margin = max(0.0, rng.uniform(-0.05, 0.14))  # a loss-making year files zero taxable income
    return Figures(
        employees=values[size_class.EMPLOYEES],
        revenue=values[size_class.REVENUE],
        assets=values[size_class.ASSETS],
        taxable_income=int(values[size_class.REVENUE] * margin),
    )


# Firms ------------------------------------------------------------------------------------------


def make_firm(seed: int, index: int, rng: random.Random | None = None) -> Firm:
    """Firm `index` of `seed` (pass the firm's own `rng` to continue drawing its events from it)."""
    rng = rng or _firm_rng(seed, index)
    shares = {slug: share for slug, (share, _) in synth_data.JURISDICTIONS.items()}
    jurisdiction = _weighted(rng, shares)
    region = _weighted(rng, synth_data.JURISDICTIONS[jurisdiction][1])
    individual = rng.random() < synth_data.INDIVIDUAL_SHARE
    pools = _industry_pools()
    pool = _weighted(rng, {name: w[1 if individual else 0] for name, w in synth_data.INDUSTRY_POOLS.items() if w[1 if individual else 0]})
    industry = rng.choice(pools[pool])
    tier = _weighted(rng, synth_data.SIZE_MIX_INDIVIDUAL if individual else synth_data.SIZE_MIX_ENTERPRISE)
    year = synth_data.MEASURE_YEAR[jurisdiction]
    # Most market entities are young: registration years fall off roughly exponentially.
    # Every firm exists by the end of 2022; those of a 2022 measure by September, so that they
    # have a few months of activity while it applies.
    registered_year = max(2003, min(2022, year - int(rng.expovariate(1 / 5))))
    last_day = dt.date(2022, 12, 20) if year > 2022 else dt.date(2022, 9, 30)
    registered_on = _day(rng, dt.date(registered_year, 1, 1), min(dt.date(registered_year, 12, 31), last_day))
    # Many small-scale VAT payers sell close to the 150,000 yuan monthly exemption threshold
    # (财政部 税务总局公告2021年第11号): steer a good share's revenue there where their class allows.
    hint = 12 * _VAT_THRESHOLD * rng.uniform(0.75, 1.3) if rng.random() < _NEAR_THRESHOLD_SHARE else None
    figures = _figures(rng, industry, tier, revenue_hint=hint)
    general = figures.revenue >= _SMALL_SCALE_LIMIT or (not individual and rng.random() < 0.08)
    org = organisation_code(seed, index, new_style=individual or registered_on >= _USCC_REFORM)
    return Firm(
        index=index,
        uscc=make_uscc(region, org, individual=individual),
        name=_name(rng, region, industry, individual),
        jurisdiction=jurisdiction,
        region=region,
        industry=industry,
        legal_form="individual_business" if individual else "enterprise",
        registered_on=registered_on,
        size_class=tier,
        taxpayer_type="general" if general else "small_scale",
        figures=figures,
    )


def _firm_rng(seed: int, index: int) -> random.Random:
    # A string seed is hashed with SHA-512 by `random`, so streams are stable across processes.
    return random.Random(f"policy-push-synth:{seed}:{index}")


class _Timeline:
    """A firm's events as they are drawn, later sorted by when they occurred and numbered."""

    def __init__(self, rng: random.Random, firm: Firm) -> None:
        self.rng = rng
        self.firm = firm
        self.items: list[dict[str, Any]] = []

    def add(self, kind: str, day: dt.date, data: dict[str, Any]) -> None:
        day = max(day, self.firm.registered_on + dt.timedelta(days=1))  # nothing happens before registration
        self.items.append({"type": kind, "occurred_at": _stamp(self.rng, day), "uscc": self.firm.uscc, "data": data})

    def events(self, seed: int) -> list[dict[str, Any]]:
        ordered = sorted(self.items, key=lambda e: e["occurred_at"])  # same offset everywhere: text order is time order
        return [{"id": f"{ID_PREFIX}-{seed}-{self.firm.index}-{n}", **item} for n, item in enumerate(ordered)]


def firm_events(seed: int, index: int) -> tuple[Firm, list[dict[str, Any]]]:
    """Firm `index` of `seed` and its events (envelopes with ids), in the order they occurred."""
    rng = _firm_rng(seed, index)
    firm = make_firm(seed, index, rng)
    line = _Timeline(rng, firm)
    line.items.append({
        "type": "firm.registered",
        "occurred_at": _stamp(rng, firm.registered_on),
        "uscc": firm.uscc,
        "data": {"name": firm.name, "region": firm.region, "industry": firm.industry,
                 "legal_form": firm.legal_form, "registered_on": firm.registered_on.isoformat()},
    })
    years = [2022, 2023] if firm.year > 2022 else [2022]
    figures = firm.figures
    for year in years:
        if year > years[0]:
            figures = _figures(rng, firm.industry, firm.size_class, previous=figures)
        main = year == firm.year
        _annual_filings(line, year, figures)
        _vat_returns(line, year, figures, main)
        _social_insurance(line, year, figures, main)
    _contact(line, years[0])
    _leases(line, firm.year)
    _loans(line, firm.year)
    _certifications(line, firm.year)
    _ip_transactions(line, firm.year)
    if firm.legal_form == "enterprise" and rng.random() < 0.03:  # a change of name (名称变更)
        new_name = _name(rng, firm.region, firm.industry, individual=False)
        line.add("firm.updated", _day(rng, dt.date(firm.year, 2, 1), dt.date(firm.year, 10, 31)), {"name": new_name})
    return firm, line.events(seed)


def _annual_filings(line: _Timeline, year: int, figures: Figures) -> None:
    """The previous year's CIT annual filing (汇算清缴, March–May) and credit grade (April)."""
    firm, rng = line.firm, line.rng
    if firm.legal_form != "enterprise" or firm.registered_on.year >= year:
        return  # 个体工商户 pay individual income tax; a firm new this year has no previous year
    line.add("tax.cit_filed", _day(rng, dt.date(year, 3, 1), dt.date(year, 5, 31)), {
        "year": year - 1, "taxable_income": figures.taxable_income, "revenue": figures.revenue,
        "assets": figures.assets, "employees": figures.employees,
    })
    if rng.random() < 0.8:
        grade = _weighted(rng, synth_data.CREDIT_GRADES)
        line.add("tax.credit_rated", _day(rng, dt.date(year, 4, 10), dt.date(year, 4, 25)), {"year": year - 1, "grade": grade})


def _vat_returns(line: _Timeline, year: int, figures: Figures, main: bool) -> None:
    """VAT returns: small-scale payers mostly quarterly, general payers monthly; filed by the 15th."""
    firm, rng = line.firm, line.rng
    monthly_base = figures.revenue / 12
    quarterly = firm.taxpayer_type == "small_scale" and rng.random() < 0.7
    if quarterly:
        quarters = [1, 2, 3] if year == 2022 and main else ([3] if year == 2022 else [1, 2])
        for q in quarters:
            end = dt.date(year, 3 * q, 1)
            if end.replace(day=28) < firm.registered_on:
                continue
            sales = round(3 * monthly_base * rng.uniform(0.8, 1.25), 2)
            filed = _day(rng, _next_month(end, 1), _next_month(end, 15))
            line.add("tax.vat_declared", filed, {"period": f"{year}Q{q}", "taxpayer_type": firm.taxpayer_type, "sales": sales})
        return
    first = rng.randint(4, 6) if year == 2022 and main else (9 if year == 2022 else 2)
    count = 4 if main else 2
    for month in range(first, first + count):
        start = dt.date(year, month, 1)
        if start.replace(day=28) < firm.registered_on:
            continue
        sales = round(monthly_base * rng.uniform(0.7, 1.35), 2)
        filed = _day(rng, _next_month(start, 1), _next_month(start, 15))
        line.add("tax.vat_declared", filed, {"period": f"{year}-{month:02d}", "taxpayer_type": firm.taxpayer_type, "sales": sales})


def _next_month(day: dt.date, on: int) -> dt.date:
    return dt.date(day.year + day.month // 12, day.month % 12 + 1, on)


def _social_insurance(line: _Timeline, year: int, figures: Figures, main: bool) -> None:
    """A few monthly social-insurance reports, declared within the month; some with hires."""
    firm, rng = line.firm, line.rng
    covered = 0.85 if firm.legal_form == "enterprise" else 0.4
    if rng.random() > covered:
        return
    last = 10 if year == 2022 else 6
    months = sorted(rng.sample(range(2, last + 1), k=rng.randint(2, 3) if main else 1))
    insured = max(1, round(figures.employees * rng.uniform(0.55, 1.0)))
    for month in months:
        start = dt.date(year, month, 1)
        if start.replace(day=28) < firm.registered_on:
            continue
        insured = max(1, insured + rng.choice((-1, 0, 0, 0, 1)))
        data: dict[str, Any] = {"period": f"{year}-{month:02d}", "insured": insured,
                                "unemployment_insurance_paid": rng.random() < 0.9}
        if rng.random() < 0.25:
            kinds = rng.sample(("college_graduates", "hard_to_employ", "veterans", "poverty_alleviated"), k=rng.randint(1, 2))
            data["hires"] = {kind: rng.randint(1, 3) for kind in kinds}
        if rng.random() < 0.3:
            data["layoffs"] = 0 if rng.random() < 0.8 else rng.randint(1, max(1, insured // 10))
        line.add("social_insurance.reported", _day(rng, start.replace(day=5), start.replace(day=25)), data)


def _contact(line: _Timeline, year: int) -> None:
    """Contact details with consent, for most firms, early in the first year."""
    firm, rng = line.firm, line.rng
    if rng.random() > 0.85:
        return
    data: dict[str, Any] = {"mobile": _mobile(rng)}
    consent = {"sms": rng.random() < 0.9}
    if rng.random() < 0.7:
        role = rng.choice(("finance", "admin", "office", "contact", "boss"))
        data["email"] = f"{role}{firm.index}@{rng.choice(synth_data.EMAIL_DOMAINS)}"
        consent["email"] = rng.random() < 0.85
    data["consent"] = consent
    line.add("contact.updated", _day(rng, dt.date(year, 1, 5), dt.date(year, 6, 30)), data)


def _mobile(rng: random.Random) -> str:
    """A mainland mobile number that phonenumbers accepts, as written at the source."""
    while True:
        number = rng.choice(synth_data.MOBILE_PREFIXES) + f"{rng.randrange(10**8):08d}"
        if phonenumbers.is_valid_number(phonenumbers.parse(number, "CN")):
            return "+86" + number if rng.random() < 0.1 else number


def _leases(line: _Timeline, year: int) -> None:
    """Premises leases (more often for service firms); some from state-owned landlords."""
    firm, rng = line.firm, line.rng
    if firm.industry.startswith(("F", "H", "O", "L", "M", "I")):
        share = 0.45
    else:
        share = 0.12
    if rng.random() > share:
        return
    reported = _day(rng, dt.date(year, 3, 1), dt.date(year, 9, 30))
    start = _day(rng, max(firm.registered_on, dt.date(year - 4, 1, 1)), reported)
    end = dt.date(start.year + rng.randint(1, 5), start.month, min(start.day, 28)) - dt.timedelta(days=1)
    landlord = _weighted(rng, {"state_owned_enterprise": 0.28, "government_agency": 0.12, "private": 0.60})
    base = {size_class.MICRO: (1_500, 15_000), size_class.SMALL: (8_000, 40_000)}.get(firm.size_class, (30_000, 150_000))
    data = {"lease_id": f"L{firm.index}-{year}", "landlord_type": landlord,
            "monthly_rent": round(_log_uniform(rng, *base), -2), "start": start.isoformat()}
    if rng.random() < 0.9:
        data["end"] = end.isoformat()
    line.add("lease.reported", reported, data)


def _loans(line: _Timeline, year: int) -> None:
    """Agricultural loans for farms; 创业担保 and 普惠小微 loans for some small and micro firms."""
    firm, rng = line.firm, line.rng
    small = firm.size_class in (size_class.SMALL, size_class.MICRO)
    if firm.industry.startswith("A") and rng.random() < 0.55:
        kind, principal, rate = "agricultural", _log_uniform(rng, 100_000, 3_000_000), rng.uniform(3.85, 6.5)
    elif small and rng.random() < 0.08:
        kind, principal, rate = "business_guarantee", _log_uniform(rng, 100_000, 3_000_000), rng.choice((3.65, 3.7, 4.3))
    elif small and rng.random() < 0.10:
        kind, principal, rate = "inclusive_small_micro", _log_uniform(rng, 200_000, 5_000_000), rng.uniform(3.9, 6.0)
    elif rng.random() < 0.03:
        kind, principal, rate = "other", _log_uniform(rng, 500_000, 20_000_000), rng.uniform(3.65, 7.5)
    else:
        return
    issued = _day(rng, dt.date(year, 2, 1), dt.date(year, 10, 31))
    data: dict[str, Any] = {"loan_id": f"LN{firm.index}-{year}", "kind": kind, "principal": round(principal, -3),
                            "annual_rate": round(rate, 2), "issued_on": max(issued, firm.registered_on).isoformat()}
    if kind in synth_data.GUARANTORS:
        data["guarantor"] = synth_data.GUARANTORS[kind]
    line.add("loan.issued", issued, data)


def _certifications(line: _Timeline, year: int) -> None:
    """A few certified firms: 专精特新 and the like; 农业产业化龙头企业 among farms."""
    firm, rng = line.firm, line.rng
    if firm.legal_form != "enterprise":
        return
    if firm.industry.startswith("A"):
        if rng.random() > 0.15:
            return
        kind = "agri_leading"
    else:
        if rng.random() > (0.03 if firm.size_class == size_class.MICRO else 0.12):
            return
        kind = _weighted(rng, synth_data.CERT_KINDS)
    level = "national" if kind == "little_giant" else rng.choice(("province", "province", "city"))
    earliest = max(dt.date(2019, 1, 1), firm.registered_on + dt.timedelta(days=365))
    latest = dt.date(year, 10, 31)
    if earliest > latest:
        return
    granted = _day(rng, dt.date(year, 1, 1), latest) if rng.random() < 0.5 else _day(rng, earliest, latest)
    granted = max(granted, earliest)
    data = {"kind": kind, "level": level, "granted_on": granted.isoformat(),
            "certificate_no": f"{kind.upper().replace('_', '')[:6]}-{granted.year}-{firm.index:06d}"}
    line.add("certification.granted", granted, data)


def _ip_transactions(line: _Timeline, year: int) -> None:
    """Patent or know-how trades, for a few manufacturers and technology firms."""
    firm, rng = line.firm, line.rng
    if firm.legal_form != "enterprise" or not firm.industry.startswith(("C", "I65", "M")) or rng.random() > 0.06:
        return
    for n in range(rng.randint(1, 2)):
        day = _day(rng, dt.date(year, 2, 1), dt.date(year, 11, 30))
        role = "buyer" if rng.random() < 0.7 else "seller"
        data = {"transaction_id": f"IP{firm.index}-{year}-{n}", "role": role,
                "amount": round(_log_uniform(rng, 50_000, 2_000_000), -3), "date": max(day, firm.registered_on).isoformat()}
        line.add("ip.transaction", day, data)


def region_events(seed: int) -> list[dict[str, Any]]:
    """A few counties designated medium/high-risk areas in 2022: one per 2022 measure, two in 云南."""
    rng = random.Random(f"policy-push-synth:{seed}:regions")
    picks = []
    for slug in ("datong-2022", "lvliang-2022", "qinghai-2022", "yunnan-2022", "yunnan-2022"):
        counties = [c for c in synth_data.JURISDICTIONS[slug][1] if c not in picks]
        picks.append(rng.choice(sorted(counties)))
    events = []
    for county in picks:
        day = _day(rng, dt.date(2022, 3, 1), dt.date(2022, 11, 30))
        events.append({
            "id": f"{ID_PREFIX}-{seed}-risk-{county}-2022",
            "type": "region.risk_designated",
            "occurred_at": _stamp(rng, day),
            "data": {"county": county, "year": 2022, "level": "high" if rng.random() < 0.3 else "medium"},
        })
    return sorted(events, key=lambda e: e["occurred_at"])


def generate(firms: int, seed: int, start: int = 0) -> Iterator[tuple[Firm | None, list[dict[str, Any]]]]:
    """The region events (firm None), then firms start … firms-1 with their events, lazily."""
    if start == 0:
        yield None, region_events(seed)
    for index in range(start, firms):
        yield firm_events(seed, index)


# Loading --------------------------------------------------------------------------------------


@dataclasses.dataclass
class LoadReport:
    """What the receiving side said about the events offered."""

    accepted: int = 0
    duplicate: int = 0
    rejected: int = 0
    conflict: int = 0
    #: (event id, problems) of the first few rejected or conflicting events.
    problems: list[tuple[str | None, list[dict[str, str]]]] = dataclasses.field(default_factory=list)

    def add(self, status: str, event_id: str | None = None, problems: Sequence[dict[str, str]] = ()) -> None:
        setattr(self, status, getattr(self, status) + 1)
        if status in ("rejected", "conflict") and len(self.problems) < 10:
            self.problems.append((event_id, list(problems)))


class LoadError(Exception):
    """The events could not be delivered (the receiver refused the delivery as a whole)."""


def chunks(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    """Consecutive lists of at most `size` items."""
    chunk: list[Any] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


async def has_events(store: Any) -> bool:
    """Whether the SQL store holds any event at all."""
    table = models.Event.__table__
    async with store.read() as connection:
        return (await connection.execute(sa.select(table.c.seq).limit(1))).first() is not None


async def store_events(store: storage.Storage, events: Iterable[dict[str, Any]], *, batch: int = DEFAULT_BATCH, agent: str = "policy-push synth") -> LoadReport:
    """Validate and store events exactly as the webhook does (one transaction per batch)."""
    report = LoadReport()
    for chunk in chunks(events, batch):
        new = []
        for position, item in enumerate(chunk):
            try:
                envelope = validation.validate(item)
            except validation.Invalid as exc:
                report.add("rejected", item.get("id"), [p.as_dict() for p in exc.problems])
                continue
            new.append(webhooks._new_event(envelope, item, {"user-agent": agent, "batch-index": str(position)}))
        for result in await store.add_events(new):
            if result.created:
                report.add("accepted")
            elif result.body_differs:
                report.add("conflict", result.event_id, [{"path": "", "reason": "already received with a different body"}])
            else:
                report.add("duplicate")
    return report


async def post_events(
    url: str, secret: str, events: Iterable[dict[str, Any]], *, batch: int = DEFAULT_BATCH, seed: int = 0,
) -> LoadReport:
    """POST events as signed Standard Webhooks batches to `url`/webhooks/events; tally the answers."""
    endpoint = url.rstrip("/") + "/webhooks/events"
    signer = standardwebhooks.Webhook(secret)
    report = LoadReport()
    timeout = aiohttp.ClientTimeout(total=POST_TIMEOUT_SECONDS)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        for number, chunk in enumerate(chunks(events, batch)):
            body = json.dumps(chunk, ensure_ascii=False, separators=(",", ":"))
            # One message id per batch content: a resend of the same batch is the same message.
            msg_id = f"msg_{ID_PREFIX}_{seed}_{number}_{chunk[0]['id']}"
            payload = await _deliver(session, signer, endpoint, msg_id, body)
            for result in payload.get("results", []):
                report.add(result["status"], result.get("event_id"), result.get("problems", ()))
    return report


async def _deliver(session: aiohttp.ClientSession, signer: standardwebhooks.Webhook, endpoint: str, msg_id: str, body: str) -> dict[str, Any]:
    for attempt in range(1, POST_ATTEMPTS + 1):
        now = dt.datetime.now(dt.UTC)
        headers = {
            "webhook-id": msg_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": signer.sign(msg_id, now, body),
            "content-type": "application/json",
            "user-agent": "policy-push synth",
        }
        try:
            async with session.post(endpoint, data=body.encode(), headers=headers) as response:
                text = await response.text()
                if response.status in (200, 422):
                    return json.loads(text)
                if response.status < 500 or attempt == POST_ATTEMPTS:
                    raise LoadError(f"{endpoint} answered {response.status}: {text[:500]}")
        except (aiohttp.ClientConnectionError, asyncio.TimeoutError) as exc:
            if attempt == POST_ATTEMPTS:
                raise LoadError(f"{endpoint}: {type(exc).__name__}: {exc}") from None
        await asyncio.sleep(POST_RETRY_SECONDS * attempt)
    raise AssertionError("unreachable")


def count_types(events: Iterable[dict[str, Any]]) -> Counter[str]:
    """Events per type."""
    return Counter(e["type"] for e in events)
