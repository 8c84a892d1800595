"""The flat attributes the rules see, derived from a firm profile as of a date.

The attribute set is the table "Attributes the rules see" in docs/profile.md; every name and
its Python type is in :data:`ATTRIBUTE_TYPES`. An attribute whose inputs are missing is left
out of the result, so a rule condition on it evaluates to `unknown`, never `not_met`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping
from typing import Any

from engine.core import matching, regions
from engine.judging.derive import activity, registries, sectors
from engine.judging.derive.periods import as_count, as_date, as_number, as_year, items, tax_period, whole_years
from engine.judging.derive.size_class import LARGE, MICRO, SMALL, size_class
from engine.judging.derive.small_low_profit import is_small_low_profit

_CERT_TYPES: dict[str, type] = {}
for _kind in activity.CERT_KINDS:
    _CERT_TYPES.update({f"cert_{_kind}": bool, f"cert_{_kind}_level": str, f"cert_{_kind}_year": int,
                        f"cert_{_kind}_date": int})

#: Every attribute of docs/profile.md and its Python type; amounts, rates and 从业人员 (a
#: quarterly average in the CIT filing, so possibly fractional) are float, counts and years int.
ATTRIBUTE_TYPES: dict[str, type] = {
    "region": str, "city": str, "province": str,
    "legal_form": str, "industry": str, "industry_section": str, "industry_division": str,
    "tertiary": bool, "manufacturing": bool,
    "size_class": str, "sme": bool, "small_micro": bool, "small_low_profit": bool,
    "employees": float, "revenue": float, "assets": float, "taxable_income": float,
    "taxpayer_type": str, "vat_monthly_sales": float, "vat_credit_balance": float, "credit_rating": str,
    "insured_headcount": int,
    **{f"hires_{kind}": int for kind in activity.HIRE_KINDS},
    "unemployment_insurance_paid": bool, "layoffs_year": int, "layoff_rate": float,
    **_CERT_TYPES,
    "state_owned_lease": bool, "state_owned_monthly_rent": float, "state_owned_lease_full_months": int,
    "county_risk_2022": bool, "county_sme_demo": bool, "customs_registered": bool, "above_scale": bool,
    "agri_loan_new_year": float, "agri_loan_max_rate": float, "agri_loan_interest_year": float,
    "guarantee_loan_new_year": float, "loan_new_year": float, "loan_interest_rest_of_year": float,
    "ip_buy_amount_year": float, "ip_sell_amount_year": float,
    "registered_year": int, "firm_age_years": int,
}


def _firm(profile: Mapping[str, Any], as_of: dt.date) -> dict[str, Any]:
    """Region, legal form, industry and registration attributes."""
    out: dict[str, Any] = {}
    region = profile.get("region")
    if isinstance(region, str) and region:
        out["region"] = region
        found = regions.ancestry(region)
        if found:
            _, city, province = found
            out["province"] = province
            if city:
                out["city"] = city
    if isinstance(profile.get("legal_form"), str):
        out["legal_form"] = profile["legal_form"]
    parsed = sectors.parse_industry(profile.get("industry"))
    if parsed:
        # Normalised (letter added, case folded) so `prefix` conditions see one spelling.
        industry = out["industry"] = parsed[0] + parsed[1]
        out["industry_section"] = parsed[0]
        derived = {
            "industry_division": sectors.industry_division(industry),
            "tertiary": sectors.is_tertiary(industry),
            "manufacturing": sectors.is_manufacturing(industry),
        }
        out.update({k: v for k, v in derived.items() if v is not None})
    registered = as_date(profile.get("registered_on"))
    if registered:
        out["registered_year"] = registered.year
        if registered <= as_of:
            out["firm_age_years"] = whole_years(registered, as_of)
    return out


def _cit_filing(cit: Any, as_of: dt.date) -> Mapping[str, Any] | None:
    """The CIT annual filing to use: the latest year before ``as_of``'s, else ``as_of``'s own.

    An annual filing describes a finished year, so the year before is the normal source; a
    filing for the current year (e.g. a pre-filled estimate) is only used when nothing older is.
    """
    filings = {as_year(k): v for k, v in items(cit)}
    past = [y for y in filings if y is not None and y < as_of.year]
    if past:
        return filings[max(past)]
    return filings.get(as_of.year)


def _latest_vat(vat: Any, as_of: dt.date) -> tuple[float, Mapping[str, Any]] | None:
    """Monthly sales of the latest VAT period ending on or before ``as_of`` (quarters ÷ months), and its record.

    When a month and a quarter end on the same day the month is preferred: it describes the
    sales closest to that day, not an average over the quarter.
    """
    best: tuple[dt.date, int, float, Mapping[str, Any]] | None = None
    for key, rec in items(vat):
        period = tax_period(key)
        sales = as_number(rec.get("sales"))
        if period is None or sales is None or period[0] > as_of:
            continue
        months = as_count(rec.get("months")) or period[1]
        candidate = (period[0], -months, sales / months, rec)
        if best is None or candidate[:2] > best[:2]:
            best = candidate
    return None if best is None else (best[2], best[3])


def _tax(profile: Mapping[str, Any], as_of: dt.date) -> dict[str, Any]:
    """CIT figures, size class, 小型微利, taxpayer type, VAT sales and credit rating."""
    tax = profile.get("tax") if isinstance(profile.get("tax"), Mapping) else {}
    out: dict[str, Any] = {}
    filing = _cit_filing(tax.get("cit"), as_of) or {}
    for field in ("employees", "revenue", "assets", "taxable_income"):
        value = as_number(filing.get(field))
        if value is not None:
            out[field] = value
    if isinstance(tax.get("taxpayer_type"), str):
        out["taxpayer_type"] = tax["taxpayer_type"]
    latest = _latest_vat(tax.get("vat"), as_of)
    if latest is not None:
        out["vat_monthly_sales"] = latest[0]
        # The balance at the end of that period only: an older period's balance may since have
        # been used up or refunded, so a return that does not report one leaves it unknown.
        balance = as_number(latest[1].get("credit_balance"))
        if balance is not None:
            out["vat_credit_balance"] = balance
    rating_map = tax.get("credit_rating")
    ratings = {as_year(k): v for k, v in rating_map.items() if isinstance(v, str)} \
        if isinstance(rating_map, Mapping) else {}
    years = [y for y in ratings if y is not None and y <= as_of.year]
    if years:
        out["credit_rating"] = ratings[max(years)]
    return out


def _size(out: dict[str, Any], profile: Mapping[str, Any]) -> None:
    """size_class, sme, small_micro and small_low_profit from the attributes gathered so far."""
    cls = size_class(out.get("industry"), out.get("employees"), out.get("revenue"), out.get("assets"))
    if cls is not None:
        out["size_class"] = cls
        out["sme"] = cls != LARGE
        out["small_micro"] = cls in (SMALL, MICRO)
    if profile.get("legal_form") == "individual_business":
        # 小型微利企业 is an enterprise-income-tax status; 个体工商户 pay individual income tax.
        out["small_low_profit"] = False
        return
    slp = is_small_low_profit(out.get("taxable_income"), out.get("employees"), out.get("assets"))
    if slp is not None:
        out["small_low_profit"] = slp


def attributes(
    profile: Mapping[str, Any],
    as_of: dt.date,
    *,
    designations: Collection[matching.Designation] = (),
) -> dict[str, Any]:
    """Flatten a firm profile (docs/profile.md) into the attributes the rules see, as of a date.

    Only records dated on or before ``as_of`` count; "the year" is ``as_of``'s year.
    ``designations``: those of the firm's county (from outside the profile): a medium/high epidemic
    risk area in a year feeds ``county_risk_2022``; a 示范县 创建县 named in a year up to ``as_of``'s
    feeds ``county_sme_demo`` (the city's list is authoritative: False when the county is not on it). What a clause with a cap already granted is not an attribute:
    the catalogue gives it per clause (engine.judging.catalogue.inputs). Sources, per attribute:

    * employees/revenue/assets/taxable_income: the CIT filing of the latest year before
      ``as_of``'s (else ``as_of``'s year); employees falls back to the social-insurance headcount.
    * size_class: 工信部联企业〔2011〕300号 (see :mod:`engine.derive.size_class`).
    * small_low_profit: 财税〔2019〕13号; the "non-restricted industry" condition is taken as met
      (no per-firm data), and 个体工商户 are never 小型微利企业.
    * tertiary: 国家统计局《三次产业划分规定》(2018); manufacturing: GB/T 4754-2017 门类 C.
    * cert_*, customs_registered, above_scale: False when the firm has no record (registries are
      authoritative).
    * vat_credit_balance: 期末留抵税额 of the latest VAT period, when that return reports it.
    * leases/loans/IP: absent when the profile has no such section, zero/False when it has one.
    """
    if isinstance(as_of, dt.datetime):
        as_of = as_of.date()
    out = _firm(profile, as_of)
    out.update(_tax(profile, as_of))
    out.update(activity.social_insurance(profile.get("social_insurance"), as_of))
    if "employees" not in out and "insured_headcount" in out:
        out["employees"] = float(out["insured_headcount"])
    _size(out, profile)
    out.update(activity.certifications(profile.get("certifications"), as_of))
    out.update(activity.leases(profile.get("leases"), as_of))
    out.update(activity.loans(profile.get("loans"), as_of))
    out.update(activity.ip_transactions(profile.get("ip_transactions"), as_of))
    out.update(registries.customs(profile.get("customs"), as_of))
    out.update(registries.scale_directory(profile.get("scale_directory"), as_of))
    out["county_risk_2022"] = matching.Designation(matching.EPIDEMIC_RISK, 2022) in designations
    out["county_sme_demo"] = any(d.kind == matching.SME_DEMO_COUNTY and d.year <= as_of.year for d in designations)
    return out
