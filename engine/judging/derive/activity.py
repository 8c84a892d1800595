"""Attributes from the firm's dated records: social insurance, certifications, leases, loans, IP.

Each function takes one profile section and returns the attributes it yields as of a date;
an attribute is left out when the data cannot settle it (docs/profile.md: absent = unknown).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from engine.judging.derive.periods import as_count, as_date, as_number, items, month_key

#: Certification kinds of docs/profile.md, in its order: certifications proper, then the lists a
#: government puts firms on (培育企业名单, 重点企业, 双创基地) and awards (中国质量奖), which the
#: measures treat alike: a firm is on it from a date until taken off.
CERT_KINDS = (
    "specialized_sme", "little_giant", "innovative_sme", "high_tech", "tech_sme",
    "single_champion", "agri_leading", "tech_innovation_center", "gazelle",
    "key_sme", "scale_up_cultivation", "little_giant_cultivation", "restructuring_cultivation",
    "startup_base", "china_quality_award",
)
CERT_LEVELS = ("national", "province", "city", "county")
HIRE_KINDS = ("college_graduates", "hard_to_employ", "veterans", "poverty_alleviated")
LANDLORD_TYPES = ("state_owned_enterprise", "government_agency", "private")
_STATE_LANDLORDS = {"state_owned_enterprise", "government_agency"}
LOAN_KINDS = ("business_guarantee", "agricultural", "inclusive_small_micro", "other")
#: Cap on the rate used for 涉农贷款 interest (percent): the interest is computed at min(rate, 5%).
AGRI_RATE_CAP = 5.0


def social_insurance(section: Any, as_of: dt.date) -> dict[str, Any]:
    """Headcount, hires, layoffs and unemployment insurance from monthly social-insurance reports.

    A month counts once it has begun by ``as_of``: contributions are declared and paid within the
    month itself, so the month's report is what the firm has on record then. "The year" is
    ``as_of``'s year: hires and layoffs are summed over its months up to ``as_of``.
    """
    now = (as_of.year, as_of.month)
    months = sorted(
        ((key, rec) for key, rec in ((month_key(k), r) for k, r in items(section))
         if key is not None and key <= now),
        key=lambda pair: pair[0],
    )
    out: dict[str, Any] = {}
    headcounts = [as_count(r.get("insured")) for _, r in months]
    headcounts = [h for h in headcounts if h is not None]
    if headcounts:
        out["insured_headcount"] = headcounts[-1]
    paid = [r["unemployment_insurance_paid"] for _, r in months
            if isinstance(r.get("unemployment_insurance_paid"), bool)]
    if paid:
        out["unemployment_insurance_paid"] = paid[-1]
    this_year = [r for key, r in months if key[0] == as_of.year]
    hires = [r["hires"] for r in this_year if isinstance(r.get("hires"), Mapping)]
    if hires:
        # A month's hires report that omits a kind hired none of it.
        for kind in HIRE_KINDS:
            counts = [as_count(h.get(kind, 0)) for h in hires]
            if None not in counts:
                out[f"hires_{kind}"] = sum(counts)
    layoffs = [as_count(r.get("layoffs")) for r in this_year if "layoffs" in r]
    if layoffs and None not in layoffs:
        out["layoffs_year"] = sum(layoffs)
        if out.get("insured_headcount"):
            out["layoff_rate"] = out["layoffs_year"] / out["insured_headcount"] * 100.0
    return out


def certifications(section: Any, as_of: dt.date) -> dict[str, Any]:
    """``cert_<kind>`` for every kind, with ``_level``, ``_year`` and ``_date`` for those held on ``as_of``.

    Certifications are granted by registries (工信部门、科技部门…) whose published lists are
    authoritative, and every grant reaches the profile as an event, so a kind with no record —
    or no certifications section at all — means not certified: False, not unknown.
    Held = granted on or before ``as_of`` and not revoked on or before it. A record whose grant
    date is unreadable leaves that kind unknown unless a revocation already settles it.
    No expiry is applied: the profile carries none, and the registries revoke by event.
    """
    records = dict(items(section))
    out: dict[str, Any] = {}
    for kind in CERT_KINDS:
        rec = records.get(kind)
        if rec is None:
            out[f"cert_{kind}"] = False
            continue
        granted, revoked = as_date(rec.get("granted_on")), as_date(rec.get("revoked_on"))
        if revoked is not None and revoked <= as_of:
            out[f"cert_{kind}"] = False
        elif granted is None:
            continue
        elif granted > as_of:
            out[f"cert_{kind}"] = False
        else:
            out[f"cert_{kind}"] = True
            out[f"cert_{kind}_year"] = granted.year
            # The grant date as the number YYYYMMDD: conditions compare numbers (qinghai-2022#(十二)
            # rewards certifications first granted once its measures took effect, 2022-02-27).
            out[f"cert_{kind}_date"] = granted.year * 10000 + granted.month * 100 + granted.day
            if rec.get("level") in CERT_LEVELS:
                out[f"cert_{kind}_level"] = rec["level"]
    return out


def leases(section: Any, as_of: dt.date) -> dict[str, Any]:
    """``state_owned_lease`` / ``state_owned_monthly_rent`` / ``state_owned_lease_full_months``
    from the leases in force in the year.

    A lease counts if its term overlaps ``as_of``'s year (a missing start or end leaves that
    side open). State-owned = landlord a 国有企业 or 行政事业单位 (government_agency).
    No leases section = unknown (absent); a section without such leases = False and rent 0.
    A lease of unknown landlord type makes a False answer unknown.
    ``state_owned_lease_full_months`` is the fewest whole calendar months of the year that any of
    those leases covers: a waiver of "3 months' rent" cannot exceed the months rented, and with
    several leases the shortest keeps the amount from being overstated.
    """
    if not isinstance(section, Mapping):
        return {}
    first, last = dt.date(as_of.year, 1, 1), dt.date(as_of.year, 12, 31)
    state, unsure = [], False
    for _, lease in items(section):
        start, end = as_date(lease.get("start")), as_date(lease.get("end"))
        if (start and start > last) or (end and end < first):
            continue
        kind = lease.get("landlord_type")
        if kind in _STATE_LANDLORDS:
            state.append(lease)
        elif kind not in LANDLORD_TYPES:
            unsure = True
    if not state:
        return {} if unsure else {"state_owned_lease": False, "state_owned_monthly_rent": 0.0}
    out: dict[str, Any] = {"state_owned_lease": True}
    out["state_owned_lease_full_months"] = min(
        full_months(as_date(lease.get("start")), as_date(lease.get("end")), as_of.year) for lease in state
    )
    rents = [as_number(lease.get("monthly_rent")) for lease in state]
    if None not in rents:
        out["state_owned_monthly_rent"] = sum(rents)
    return out


def full_months(start: dt.date | None, end: dt.date | None, year: int) -> int:
    """Calendar months of ``year`` a term [start, end] covers on every day (None: open on that side)."""
    count = 0
    for month in range(1, 13):
        first = dt.date(year, month, 1)
        last = (dt.date(year + 1, 1, 1) if month == 12 else dt.date(year, month + 1, 1)) - dt.timedelta(days=1)
        if (start is None or start <= first) and (end is None or end >= last):
            count += 1
    return count


def _in_year(records: list[Mapping[str, Any]], field: str, as_of: dt.date) -> list | None:
    """Records dated (``field``) in ``as_of``'s year up to ``as_of``; None if a date is unreadable."""
    out = []
    for rec in records:
        when = as_date(rec.get(field))
        if when is None:
            return None
        if when.year == as_of.year and when <= as_of:
            out.append(rec)
    return out


def _total(records: list[Mapping[str, Any]], field: str) -> float | None:
    values = [as_number(r.get(field)) for r in records]
    return None if None in values else float(sum(values))


def loans(section: Any, as_of: dt.date) -> dict[str, Any]:
    """Agricultural (涉农) and 创业担保 loans issued in ``as_of``'s year, up to ``as_of``.

    ``agri_loan_interest_year`` is one year's interest on each agricultural loan at
    min(annual rate, 5%). No loans section = unknown; a section without such loans = 0
    (``agri_loan_max_rate`` is then absent: there is no rate to report).
    ``loan_new_year`` is the principal of every loan of the year, whatever its kind, and
    ``loan_interest_rest_of_year`` the interest those loans bear in the year, from the day each was
    issued to 31 December, at min(annual rate, 5%) (yunnan-2022#一(一) subsidises the 2022 new loans
    of key agricultural firms at a rate of at most 5%: a loan issued in November bears two months).
    """
    if not isinstance(section, Mapping):
        return {}
    year = _in_year([r for _, r in items(section)], "issued_on", as_of)
    if year is None or any(r.get("kind") not in LOAN_KINDS for r in year):
        return {}  # a loan we cannot place or classify could be any of them
    agri = [r for r in year if r["kind"] == "agricultural"]
    guarantee = [r for r in year if r["kind"] == "business_guarantee"]
    out: dict[str, Any] = {}
    if (total := _total(agri, "principal")) is not None:
        out["agri_loan_new_year"] = total
    rates = [as_number(r.get("annual_rate")) for r in agri]
    if rates and None not in rates:
        out["agri_loan_max_rate"] = max(rates)
    if None not in rates and "agri_loan_new_year" in out:
        out["agri_loan_interest_year"] = float(sum(
            as_number(r["principal"]) * min(rate, AGRI_RATE_CAP) / 100.0
            for r, rate in zip(agri, rates)
        ))
    if (total := _total(guarantee, "principal")) is not None:
        out["guarantee_loan_new_year"] = total
    if (total := _total(year, "principal")) is not None:
        out["loan_new_year"] = total
    every_rate = [as_number(r.get("annual_rate")) for r in year]
    if "loan_new_year" in out and None not in every_rate:
        out["loan_interest_rest_of_year"] = float(sum(
            as_number(r["principal"]) * min(rate, AGRI_RATE_CAP) / 100.0 * _rest_of_year(as_date(r["issued_on"]))
            for r, rate in zip(year, every_rate)
        ))
    return out


def _rest_of_year(issued: dt.date) -> float:
    """The share of its year from ``issued`` to 31 December, both included."""
    days = (dt.date(issued.year, 12, 31) - issued).days + 1
    return days / (dt.date(issued.year + 1, 1, 1) - dt.date(issued.year, 1, 1)).days


def ip_transactions(section: Any, as_of: dt.date) -> dict[str, Any]:
    """Amounts of IP bought and sold in ``as_of``'s year, up to ``as_of``; no section = unknown."""
    if not isinstance(section, Mapping):
        return {}
    year = _in_year([r for _, r in items(section)], "date", as_of)
    if year is None or any(r.get("role") not in ("buyer", "seller") for r in year):
        return {}
    out: dict[str, Any] = {}
    for role, attr in (("buyer", "ip_buy_amount_year"), ("seller", "ip_sell_amount_year")):
        total = _total([r for r in year if r["role"] == role], "amount")
        if total is not None:
            out[attr] = total
    return out
