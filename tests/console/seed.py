"""Data for the console page tests: firms, decisions and notices made the way the service makes them
(events folded by the pipeline, notices sent by the delivery worker), plus small page-reading helpers."""

from __future__ import annotations

import json
import re

from engine.core import matching
from engine.ingest import admission, pipeline, validation
from tests import factories
from tests.notices import helpers

#: A second firm in another city, with a distinctive name; its VAT return makes it `met` too.
OTHER = factories.uscc(91, region="630104")
OTHER_NAME = "西宁高原测试科技有限公司"
#: A firm judged by the production matcher (real explanations with conditions and checks).
REAL = factories.uscc(92, region="630102")

_ROW_ID = re.compile(r'data-decision-id="(\d+)"')


def decision_ids(html: str) -> list[int]:
    """The decision ids listed on a page, in page order."""
    return [int(found) for found in _ROW_ID.findall(html)]


def firm_events(firm: str, *, region: str, name: str, mobile: str = "13800138000", email: str = "cfo@example.cn"):
    """Registration, contact details with consent, and a VAT return (which GrantingMatcher finds `met`)."""
    events = helpers.eligible_firm_events(firm, mobile=mobile, email=email)
    registration = factories.event(firm=firm, region=region, name=name, occurred_at="2022-04-01T09:00:00+08:00")
    return [(registration, f"{firm}-reg"), *events[1:]]


async def feed_with(store, matcher: matching.Matcher, *events):
    """Store events (body, id) and fold them with `matcher` (helpers.feed does it with GrantingMatcher)."""
    await store.add_events([
        admission.new_event(validation.validate(body, webhook_id=event_id), json.dumps(body, ensure_ascii=False), {})
        for body, event_id in events
    ])
    return await pipeline.Pipeline(store, matcher).run_once()


async def two_firms(store):
    """helpers.FIRM (630102, the factory's name) and OTHER (630104), each unknown then met on
    qinghai-2022-2 with an SMS and an email notice, all sent by the worker."""
    await helpers.feed(store, *helpers.eligible_firm_events())
    await helpers.feed(store, *firm_events(OTHER, region="630104", name=OTHER_NAME, mobile="13900139000", email="boss@example.cn"))
    delivery, sms, email = helpers.make_worker(store)
    await delivery.run_once()
    return delivery, sms, email


async def real_firm(store, production_matcher):
    """REAL judged by the production matcher: a VAT return at the 150 000 threshold meets qinghai-2022-2."""
    events = [
        (factories.event(firm=REAL, region="630102", occurred_at="2022-03-01T09:00:00+08:00"), f"{REAL}-reg"),
        (factories.event("contact.updated", firm=REAL, occurred_at="2022-03-02T09:00:00+08:00"), f"{REAL}-contact"),
        (factories.event("tax.vat_declared", firm=REAL, occurred_at="2022-04-15T09:00:00+08:00", period="2022-03", sales=150000), f"{REAL}-vat"),
    ]
    await feed_with(store, production_matcher, *events)
