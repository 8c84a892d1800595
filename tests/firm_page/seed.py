"""Two firms for the firm page tests, judged by the production matcher from the events the service receives.

RENTER: a small retailer in 昆明市五华区 renting from a state-owned enterprise — an automatic rent waiver
(yunnan-2022#二(一)) with its amount, benefits it may apply for, and items waiting for data.
OTHER: a 青海 firm whose VAT return meets qinghai-2022#(二); its page must never show RENTER's data.
"""

from __future__ import annotations

import datetime
import re

from engine.firm_page import rules
from engine.notices import firm_links
from tests import factories
from tests.console import seed as console_seed
from tests.firm_page import conftest
from tests.web import calculator_firms

RENTER = calculator_firms.RENTER
RENTER_NAME = "昆明五华示例商贸有限公司"
GRANT = calculator_firms.RENT_CLAUSE
#: 3 months of 11,300 yuan (五华区 not yet a risk area in these events).
GRANT_AMOUNT = "33,900.00元"
APPLY = "yunnan-2022-1-3"
MISSING = "yunnan-2022-1-4"
OTHER = console_seed.REAL

_FORM = re.compile(r'name="form_token" value="([^"]+)"')


def renter_events() -> list:
    registration, cit, lease = calculator_firms.renter_in_a_risk_county()[:3]
    registration[0]["data"]["name"] = RENTER_NAME
    contact = factories.event("contact.updated", firm=RENTER, occurred_at="2022-06-06T09:00:00+08:00",
                              mobile="13912345678", email="boss@wuhua.example.cn")
    return [registration, cit, lease, (contact, f"{RENTER}-contact")]


async def two_firms(store, matcher) -> None:
    await console_seed.feed_with(store, matcher, *renter_events())
    await console_seed.real_firm(store, matcher)


def link(uscc: str = RENTER, *, at: datetime.datetime | None = None, secret: str = conftest.SECRET) -> str:
    """The path of a firm's page, as an email carries it."""
    return f"/my/{firm_links.make_token(secret, uscc, at)}"


def form_token(html: str) -> str:
    found = _FORM.search(html)
    assert found, "no form token on the page"
    return found.group(1)


async def decision_id(store, clause_id: str, uscc: str = RENTER) -> int:
    return rules.current(await store.decisions(uscc))[clause_id].id
