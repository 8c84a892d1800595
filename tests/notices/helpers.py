"""Shared pieces for the notice tests: a matcher that grants one benefit, a composer, a worker."""

from __future__ import annotations

import datetime
import json

from engine.core import china_time, matching
from engine.ingest import admission, pipeline, validation
from engine.notices import channels, pacing, worker
from engine.testing import memory_channels
from tests import factories

FIRM = factories.uscc(88)
CLAUSE = "qinghai-2022-2"


class GrantingMatcher:
    """Met for qinghai-2022#(二) once the firm has declared VAT; unknown before."""

    def match(self, firm_profile, as_of, context):
        met = bool(firm_profile.get("tax", {}).get("vat"))
        verdict = matching.Verdict.MET if met else matching.Verdict.UNKNOWN
        return [matching.Decision(CLAUSE, "qinghai-2022#(二)", "v1", verdict, None, {"why": "test"}, {}, period=str(as_of.year) if met else None)]


def compose(notices, firm_profile, decisions):
    """One message per digest, named after it (as the real composer's Message-ID and OutId are)."""
    digest_id = notices[0].digest_id or notices[0].notice_id
    if notices[0].channel == "sms":
        return channels.SmsMessage(
            notice_id=digest_id, phone=firm_profile["contact"]["mobile"], sign_name="政策直达",
            template_code="SMS_TEST", params={"firm": firm_profile["name"], "count": str(len(notices))},
            text=f"【政策直达】{firm_profile['name']}…回T退订", out_id=digest_id,
        )
    return channels.EmailMessage(
        notice_id=digest_id, to=firm_profile["contact"]["email"], subject="免申即享", text="正文", html="<p>正文</p>",
        headers={"X-Notice-Id": digest_id}, message_id=f"{digest_id}@policy-push",
    )


def soon() -> datetime.datetime:
    """A moment just after now: notices are due from the moment they are created."""
    return datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=1)


def next_china_time(hour: int, minute: int) -> datetime.datetime:
    """The next moment after now at which it is hour:minute in China (UTC+8)."""
    local = datetime.datetime.now(china_time.CHINA_TZ).replace(second=0, microsecond=0) + datetime.timedelta(minutes=1)
    target = local.replace(hour=hour, minute=minute)
    if target <= local:
        target += datetime.timedelta(days=1)
    return target.astimezone(datetime.UTC)


class Clock:
    """A settable clock for the worker (UTC)."""

    def __init__(self, at: datetime.datetime) -> None:
        self.at = at

    def __call__(self) -> datetime.datetime:
        return self.at


def make_worker(store, *, clock=None, quiet=None, limit=8, auto_grants=frozenset({CLAUSE})):
    sms, email = memory_channels.MemorySmsSender(), memory_channels.MemoryEmailSender()
    delivery = worker.DeliveryWorker(
        store,
        compose,
        {
            "sms": worker.Channel(sms, pacing.RateLimiter(1000), quiet),
            "email": worker.Channel(email, pacing.RateLimiter(1000)),
        },
        backoff=pacing.Backoff(30, 3600, limit),
        clock=clock or Clock(soon()),
        auto_grants=auto_grants,
    )
    return delivery, sms, email


async def feed(store, *events):
    """Store events (body, id) and fold them with the granting matcher."""
    await store.add_events(
        [
            admission.new_event(validation.validate(body, webhook_id=event_id), json.dumps(body, ensure_ascii=False), {})
            for body, event_id in events
        ]
    )
    return await pipeline.Pipeline(store, GrantingMatcher()).run_once()


def eligible_firm_events(firm=FIRM, *, consent=True, mobile="13800138000", email="cfo@example.cn"):
    contact = {"consent": {"sms": consent, "email": consent}}
    if mobile:
        contact["mobile"] = mobile
    if email:
        contact["email"] = email
    contact_event = factories.event("contact.updated", firm=firm, occurred_at="2022-04-02T09:00:00+08:00")
    contact_event["data"] = contact  # exactly these fields, none of the factory's defaults
    return [
        (factories.event(firm=firm, region="630102", occurred_at="2022-04-01T09:00:00+08:00"), f"{firm}-reg"),
        (contact_event, f"{firm}-contact"),
        (factories.event("tax.vat_declared", firm=firm, occurred_at="2022-05-01T09:00:00+08:00"), f"{firm}-vat"),
    ]
