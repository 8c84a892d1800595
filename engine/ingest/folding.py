"""What each event type says about a firm: a pure mapping from a validated event to field assignments.

The paths written here are the profile's shape (docs/profile.md). Keeping this a pure function of
one event is what makes the profile a pure function of the firm's events.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


from engine.ingest import validation
from engine.core import records

Assignments = dict[str, Any]


def _prefixed(prefix: str, data: dict[str, Any], keys: tuple[str, ...]) -> Assignments:
    return {f"{prefix}.{key}": data[key] for key in keys if key in data}


def _firm_registered(data: dict[str, Any]) -> Assignments:
    fields = {key: data[key] for key in ("name", "region", "industry", "legal_form", "registered_on")}
    fields["deregistered_on"] = None  # a (re-)registration clears an earlier deregistration
    return fields


def _firm_updated(data: dict[str, Any]) -> Assignments:
    return dict(data)


def _vat(data: dict[str, Any]) -> Assignments:
    period = data["period"]
    return {
        "tax.taxpayer_type": data["taxpayer_type"],
        f"tax.vat.{period}.sales": data["sales"],
        f"tax.vat.{period}.months": 3 if "Q" in period else 1,
    }


def _year(data: dict[str, Any]) -> int:
    # JSON Schema's "integer" admits 2021.0; as a path part it must read 2021, or the profile
    # gets a tax.cit.2021.0 branch that no rule reads (and beside tax.cit.2021, cannot be nested).
    return int(data["year"])


def _cit(data: dict[str, Any]) -> Assignments:
    return _prefixed(f"tax.cit.{_year(data)}", data, ("taxable_income", "revenue", "assets", "employees"))


def _credit(data: dict[str, Any]) -> Assignments:
    return {f"tax.credit_rating.{_year(data)}": data["grade"]}


def _social_insurance(data: dict[str, Any]) -> Assignments:
    prefix = f"social_insurance.{data['period']}"
    fields = _prefixed(prefix, data, ("insured", "unemployment_insurance_paid", "layoffs"))
    fields.update({f"{prefix}.hires.{kind}": n for kind, n in data.get("hires", {}).items()})
    return fields


def _certification_granted(data: dict[str, Any]) -> Assignments:
    prefix = f"certifications.{data['kind']}"
    fields = _prefixed(prefix, data, ("level", "granted_on", "certificate_no"))
    fields[f"{prefix}.revoked_on"] = None  # a new grant supersedes an earlier revocation
    return fields


def _certification_revoked(data: dict[str, Any]) -> Assignments:
    return {f"certifications.{data['kind']}.revoked_on": data["revoked_on"]}


def _lease(data: dict[str, Any]) -> Assignments:
    fields = _prefixed(f"leases.{data['lease_id']}", data, ("landlord_type", "monthly_rent", "start", "end"))
    fields.setdefault(f"leases.{data['lease_id']}.end", None)
    return fields


def _loan(data: dict[str, Any]) -> Assignments:
    return _prefixed(f"loans.{data['loan_id']}", data, ("kind", "principal", "annual_rate", "issued_on", "guarantor"))


def _ip(data: dict[str, Any]) -> Assignments:
    return _prefixed(f"ip_transactions.{data['transaction_id']}", data, ("role", "amount", "date"))


def _contact(data: dict[str, Any]) -> Assignments:
    fields: Assignments = {}
    if "mobile" in data:
        fields["contact.mobile"] = validation.normalise_mobile(data["mobile"])
    if "email" in data:
        fields["contact.email"] = data["email"].lower()
    fields.update({f"contact.consent.{channel}": given for channel, given in data.get("consent", {}).items()})
    return fields


FIRM_FOLDS: dict[str, Callable[[dict[str, Any]], Assignments]] = {
    "firm.registered": _firm_registered,
    "firm.updated": _firm_updated,
    "tax.vat_declared": _vat,
    "tax.cit_filed": _cit,
    "tax.credit_rated": _credit,
    "social_insurance.reported": _social_insurance,
    "certification.granted": _certification_granted,
    "certification.revoked": _certification_revoked,
    "lease.reported": _lease,
    "loan.issued": _loan,
    "ip.transaction": _ip,
    "contact.updated": _contact,
}


def assignments(envelope: validation.Envelope) -> Assignments:
    """The profile fields a firm event sets."""
    return FIRM_FOLDS[envelope.type](envelope.data)


def risk_designation(envelope: validation.Envelope) -> records.RiskDesignation:
    """The designation a `region.risk_designated` event records."""
    data = envelope.data
    return records.RiskDesignation(county=data["county"], year=_year(data), level=data["level"])
