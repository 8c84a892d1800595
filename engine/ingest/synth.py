"""Synthetic firms and their events for demos, tests and benchmarks (`policy-push synth`).

Each firm is a pure function of (seed, index): its own random stream is seeded from both, so the
first N firms of a seed are the same whatever N is, firms can be generated in any order or in
parallel, and event ids (`synth-<seed>-<index>-<n>`) repeat exactly on a rerun, which the
service then recognises as duplicates.

What a firm looks like (see engine/ingest/synth_data.py for the code lists and weights):

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

Each event type draws its own events: its module in engine/ingest/event_types holds the
generator, and this module calls the registry's generators in their stated order (registration,
then each active year's, then the once-per-firm ones), all from the firm's one random stream.
Loading the events (SQL store or signed webhook batches) is engine/ingest/synth_load.py.

A firm's events are emitted in the order they occurred, as a data-sharing platform would
forward them. Mobile numbers are random but valid, so they may belong to real people; emails use
the reserved example.com/.net/.org domains. Never load synthetic firms where notices really go out.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import random
from collections.abc import Iterator
from typing import Any

from stdnum.cn import uscc as stdnum_uscc

from engine.core import industry_codes
from engine.ingest import synth_data
from engine.ingest.event_types import REGISTRY, Registry
from engine.ingest.synth_draw import (
    ID_PREFIX,
    Figures,
    Firm,
    FirmDraw,
    RegionDraw,
    day,
    firm_name,
    log_uniform,
    weighted,
)
from engine.ingest.synth_load import (
    DEFAULT_BATCH,
    LoadError,
    LoadReport,
    chunks,
    count_types,
    post_events,
    store_events,
)
from engine.judging.derive import size_class

__all__ = [
    "DEFAULT_BATCH", "ID_PREFIX", "Figures", "Firm", "LoadError", "LoadReport", "chunks", "count_types",
    "firm_events", "generate", "make_firm", "make_uscc", "organisation_check", "organisation_code",
    "post_events", "region_events", "store_events",
]

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
            value = log_uniform(rng, low, high)
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
    jurisdiction = weighted(rng, shares)
    region = weighted(rng, synth_data.JURISDICTIONS[jurisdiction][1])
    individual = rng.random() < synth_data.INDIVIDUAL_SHARE
    pools = _industry_pools()
    pool = weighted(rng, {name: w[1 if individual else 0] for name, w in synth_data.INDUSTRY_POOLS.items() if w[1 if individual else 0]})
    industry = rng.choice(pools[pool])
    tier = weighted(rng, synth_data.SIZE_MIX_INDIVIDUAL if individual else synth_data.SIZE_MIX_ENTERPRISE)
    year = synth_data.MEASURE_YEAR[jurisdiction]
    # Most market entities are young: registration years fall off roughly exponentially.
    # Every firm exists by the end of 2022; those of a 2022 measure by September, so that they
    # have a few months of activity while it applies.
    registered_year = max(2003, min(2022, year - int(rng.expovariate(1 / 5))))
    last_day = dt.date(2022, 12, 20) if year > 2022 else dt.date(2022, 9, 30)
    registered_on = day(rng, dt.date(registered_year, 1, 1), min(dt.date(registered_year, 12, 31), last_day))
    # Many small-scale VAT payers sell close to the 150,000 yuan monthly exemption threshold
    # (财政部 税务总局公告2021年第11号): steer a good share's revenue there where their class allows.
    hint = 12 * _VAT_THRESHOLD * rng.uniform(0.75, 1.3) if rng.random() < _NEAR_THRESHOLD_SHARE else None
    figures = _figures(rng, industry, tier, revenue_hint=hint)
    general = figures.revenue >= _SMALL_SCALE_LIMIT or (not individual and rng.random() < 0.08)
    org = organisation_code(seed, index, new_style=individual or registered_on >= _USCC_REFORM)
    return Firm(
        index=index,
        uscc=make_uscc(region, org, individual=individual),
        name=firm_name(rng, region, industry, individual),
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


def firm_events(seed: int, index: int, registry: Registry = REGISTRY) -> tuple[Firm, list[dict[str, Any]]]:
    """Firm `index` of `seed` and its events (envelopes with ids), in the order they occurred."""
    rng = _firm_rng(seed, index)
    firm = make_firm(seed, index, rng)
    years = [2022, 2023] if firm.year > 2022 else [2022]
    draw = FirmDraw(rng=rng, firm=firm, first_year=years[0], year=firm.year, figures=firm.figures)
    for hook in registry.generators("registration"):
        hook.draw(draw)
    figures = firm.figures
    for year in years:
        if year > years[0]:
            figures = _figures(rng, firm.industry, firm.size_class, previous=figures)
        draw.year, draw.figures, draw.main = year, figures, year == firm.year
        for hook in registry.generators("yearly"):
            hook.draw(draw)
    draw.year, draw.figures, draw.main = firm.year, figures, True
    for hook in registry.generators("once"):
        hook.draw(draw)
    return firm, draw.events(seed)


def region_events(seed: int, registry: Registry = REGISTRY) -> list[dict[str, Any]]:
    """The seed's region events (a few counties designated risk areas in 2022), in the order they occurred."""
    draw = RegionDraw(rng=random.Random(f"policy-push-synth:{seed}:regions"), seed=seed)
    for hook in registry.generators("region"):
        hook.draw(draw)
    return sorted(draw.items, key=lambda e: e["occurred_at"])


def generate(firms: int, seed: int, start: int = 0) -> Iterator[tuple[Firm | None, list[dict[str, Any]]]]:
    """The region events (firm None), then firms start … firms-1 with their events, lazily."""
    if start == 0:
        yield None, region_events(seed)
    for index in range(start, firms):
        yield firm_events(seed, index)
