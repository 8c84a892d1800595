"""Builders for valid events, signed deliveries and firms, shared by the tests."""

from __future__ import annotations

import datetime
import itertools
import json
import secrets
from typing import Any

import standardwebhooks
from stdnum.cn import uscc as stdnum_uscc

from engine.ingest.event_types import REGISTRY

#: The Standard Webhooks specification's own test secret.
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
OTHER_SECRET = "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo="  # base64 of 26 letters

_serial = itertools.count(1)


def uscc(n: int | None = None, region: str = "140302") -> str:
    """A USCC with a correct check digit: 91 (enterprise) + region + an organisation code."""
    n = next(_serial) if n is None else n
    body = f"91{region}MA{n:07d}"[:17]
    return body + stdnum_uscc.calc_check_digit(body)


def event(kind: str = "firm.registered", *, firm: str | None = None, occurred_at: str = "2022-05-01T09:00:00+08:00", **data: Any) -> dict[str, Any]:
    """A valid event envelope of `kind`, with typical data that `data` overrides."""
    defaults: dict[str, dict[str, Any]] = {
        "firm.registered": {
            "name": "阳泉市城区示例商贸有限公司",
            "region": "140302",
            "industry": "F5211",
            "legal_form": "enterprise",
            "registered_on": "2020-03-15",
        },
        "firm.updated": {"name": "阳泉市城区示例商贸有限公司（更名）"},
        "tax.vat_declared": {"period": "2022-04", "taxpayer_type": "small_scale", "sales": 150000},
        "tax.cit_filed": {"year": 2021, "taxable_income": 800000, "revenue": 6000000, "assets": 4000000, "employees": 35},
        "tax.credit_rated": {"year": 2021, "grade": "A"},
        "social_insurance.reported": {
            "period": "2022-04",
            "insured": 35,
            "unemployment_insurance_paid": True,
            "layoffs": 0,
            "hires": {"college_graduates": 2, "veterans": 1},
        },
        "certification.granted": {"kind": "specialized_sme", "level": "province", "granted_on": "2021-11-02"},
        "certification.revoked": {"kind": "specialized_sme", "revoked_on": "2022-08-01"},
        "lease.reported": {
            "lease_id": "L-2022-001",
            "landlord_type": "state_owned_enterprise",
            "monthly_rent": 8000,
            "start": "2021-07-01",
            "end": "2024-06-30",
        },
        "loan.issued": {"loan_id": "LN-77", "kind": "agricultural", "principal": 2000000, "annual_rate": 4.35, "issued_on": "2022-03-01"},
        "ip.transaction": {"transaction_id": "IP-9", "role": "buyer", "amount": 500000, "date": "2022-06-01"},
        "region.risk_designated": {"county": "140302", "year": 2022, "level": "medium"},
        "region.demo_county_designated": {"county": "141181", "year": 2022},
        "contact.updated": {"mobile": "13800138000", "email": "Finance@Example.cn", "consent": {"sms": True, "email": True}},
        "customs.registered": {"registered_on": "2019-06-18", "customs_code": "1402960123"},
        "statistics.scale_listed": {"year": 2022, "listed": True},
    }
    envelope: dict[str, Any] = {"type": kind, "occurred_at": occurred_at, "data": {**defaults[kind], **data}}
    if REGISTRY.get(kind).scope == "firm":
        envelope["uscc"] = firm or uscc(1)
    return envelope


def message_id() -> str:
    return "msg_" + secrets.token_hex(12)


def signed(
    body: str | bytes | Any,
    *,
    msg_id: str | None = None,
    secret: str = SECRET,
    timestamp: datetime.datetime | None = None,
) -> tuple[bytes, dict[str, str]]:
    """A delivery as a Standard Webhooks sender makes it, signed by the reference library."""
    if not isinstance(body, (str, bytes)):
        body = json.dumps(body, ensure_ascii=False)
    text = body.decode() if isinstance(body, bytes) else body
    msg_id = msg_id or message_id()
    timestamp = timestamp or datetime.datetime.now(datetime.UTC)
    signature = standardwebhooks.Webhook(secret).sign(msg_id, timestamp, text)
    headers = {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": signature,
        "content-type": "application/json",
    }
    return text.encode(), headers
