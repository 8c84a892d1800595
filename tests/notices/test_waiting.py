"""A notice that cannot go for want of an address or consent waits for them (issue 13, item 1), on
memory, SQLite and PostgreSQL: the contact event that brings them sends it, as long as the benefit
still applies; an opt-out stays final; and the delivery worker is woken when that happens."""

from __future__ import annotations

import datetime
import json

from engine.core import matching, notice_status
from engine.ingest import admission, folding, pipeline, validation
from tests import factories
from tests.notices import helpers

S = notice_status.NoticeStatus


def contact(firm: str, tag: str, *, occurred_at: str = "2022-05-10T09:00:00+08:00", **data) -> tuple[dict, str]:
    """A `contact.updated` for `firm` carrying exactly `data` (mobile, email, consent), as (body, event id)."""
    event = factories.event("contact.updated", firm=firm, occurred_at=occurred_at)
    event["data"] = data
    return event, f"{firm}-contact-{tag}"


def benefit_events(firm: str) -> list[tuple[dict, str]]:
    """Registration and a VAT return: GrantingMatcher finds the firm `met` (so its notices are created),
    before anything of its contact is known."""
    events = helpers.eligible_firm_events(firm)
    return [events[0], events[2]]


def received(sender, address_field: str) -> list[tuple[str, str]]:
    """What the firms got through a channel stand-in: (address, notice id) of each message sent."""
    return sorted((getattr(m, address_field), m.notice_id) for m in sender.sent)


async def statuses(store, *firms: str) -> dict[tuple[str, str], S]:
    return {(n.uscc, n.channel): n.status for firm in firms for n in await store.firm_notices(firm)}


async def test_contact_arriving_after_the_benefit_sends_every_firms_notices(store):
    # The run: 8 firms registered and met, each one's contact sent 0.3·i s later, so the worker
    # had already looked at them all; 7 of the 8 never heard. Here each contact is folded in turn, the
    # worker running before the first and after each.
    firms = [factories.uscc(500 + i) for i in range(8)]
    mobiles = {firm: f"1380013800{i}" for i, firm in enumerate(firms)}
    emails = {firm: f"cfo{i}@example.cn" for i, firm in enumerate(firms)}
    for firm in firms:
        await helpers.feed(store, *benefit_events(firm))
    clock = helpers.Clock(helpers.soon())
    delivery, sms, email = helpers.make_worker(store, clock=clock)
    await delivery.run_once()
    assert sms.sent == [] and email.sent == []
    assert set((await statuses(store, *firms)).values()) == {S.WAITING}

    for firm in firms:
        await helpers.feed(store, contact(firm, "1", mobile=mobiles[firm], email=emails[firm], consent={"sms": True, "email": True}))
        clock.at = helpers.soon()
        await delivery.run_once()

    notices = {(n.uscc, n.channel): n for firm in firms for n in await store.firm_notices(firm)}
    assert received(sms, "phone") == sorted(("+86" + mobiles[f], notices[(f, "sms")].notice_id) for f in firms)
    assert received(email, "to") == sorted((emails[f], notices[(f, "email")].notice_id) for f in firms)
    assert {n.status for n in notices.values()} == {S.SENT}
    assert await delivery.run_once() == 0  # and nothing goes out twice
    timeline = await store.notice_attempts(notices[(firms[3], "sms")].notice_id)
    assert [(a.kind, a.status_after) for a in timeline] == [("wait", S.WAITING), ("contact", S.PENDING), ("send", S.SENT)]
    audited = [e.action for e in [e async for e in store.audit_entries()] if e.subject_id == notices[(firms[3], "sms")].notice_id]
    assert audited == ["notice.created", "notice.sending", "notice.waiting", "notice.pending", "notice.sending", "notice.sent"]


async def test_consent_given_later_sends_each_channel_once_it_is_given(store):
    firm = helpers.FIRM
    await helpers.feed(store, benefit_events(firm)[0], contact(firm, "1", occurred_at="2022-04-02T09:00:00+08:00",
                                                               mobile="13800138000", email="cfo@example.cn",
                                                               consent={"sms": False, "email": False}))
    await helpers.feed(store, benefit_events(firm)[1])
    clock = helpers.Clock(helpers.soon())
    delivery, sms, email = helpers.make_worker(store, clock=clock)
    await delivery.run_once()
    assert sms.sent == [] and email.sent == []
    assert await statuses(store, firm) == {(firm, "sms"): S.WAITING, (firm, "email"): S.WAITING}

    await helpers.feed(store, contact(firm, "2", consent={"sms": True}))
    clock.at = helpers.soon()
    await delivery.run_once()
    assert [m.phone for m in sms.sent] == ["+8613800138000"] and email.sent == []
    assert await statuses(store, firm) == {(firm, "sms"): S.SENT, (firm, "email"): S.WAITING}

    await helpers.feed(store, contact(firm, "3", occurred_at="2022-05-11T09:00:00+08:00", consent={"email": True}))
    clock.at = helpers.soon()
    await delivery.run_once()
    assert [m.phone for m in sms.sent] == ["+8613800138000"] and [m.to for m in email.sent] == ["cfo@example.cn"]
    assert await statuses(store, firm) == {(firm, "sms"): S.SENT, (firm, "email"): S.SENT}


async def test_contact_events_folded_together_wake_each_notice_once(store):
    firm = helpers.FIRM
    await helpers.feed(store, *benefit_events(firm))
    clock = helpers.Clock(helpers.soon())
    delivery, sms, email = helpers.make_worker(store, clock=clock)
    await delivery.run_once()
    # One pipeline round (one fold group on SQL): the number with consent, then the email with consent.
    await helpers.feed(
        store,
        contact(firm, "1", mobile="13800138000", consent={"sms": True}),
        contact(firm, "2", occurred_at="2022-05-11T09:00:00+08:00", email="cfo@example.cn", consent={"sms": True, "email": True}),
    )
    clock.at = helpers.soon()
    await delivery.run_once()
    assert [m.phone for m in sms.sent] == ["+8613800138000"] and [m.to for m in email.sent] == ["cfo@example.cn"]
    for notice in await store.firm_notices(firm):
        timeline = [a.kind for a in await store.notice_attempts(notice.notice_id)]
        assert (notice.status, timeline) == (S.SENT, ["wait", "contact", "send"])


async def test_an_opt_out_stays_skipped_when_a_later_contact_event_renews_no_consent(store):
    firm = helpers.FIRM
    await helpers.feed(store, benefit_events(firm)[0], contact(firm, "1", occurred_at="2022-04-02T09:00:00+08:00",
                                                               mobile="13800138000", consent={"sms": True, "email": True}))
    await store.opt_out(firm, "sms", "sms reply 'T'", datetime.datetime(2022, 4, 20, tzinfo=datetime.UTC))
    await helpers.feed(store, benefit_events(firm)[1])
    clock = helpers.Clock(helpers.soon())
    delivery, sms, email = helpers.make_worker(store, clock=clock)
    await delivery.run_once()
    # The firm refused SMS: final. The email has no address yet: it waits.
    assert await statuses(store, firm) == {(firm, "sms"): S.SKIPPED, (firm, "email"): S.WAITING}

    # A later contact event brings the email address and a new number, but no new SMS consent.
    await helpers.feed(store, contact(firm, "2", mobile="13900139000", email="cfo@example.cn"))
    clock.at = helpers.soon()
    await delivery.run_once()
    assert sms.sent == [] and [m.to for m in email.sent] == ["cfo@example.cn"]
    notices = {n.channel: n for n in await store.firm_notices(firm)}
    assert notices["sms"].status == S.SKIPPED and "opted out of sms" in notices["sms"].reason
    assert notices["email"].status == S.SENT


async def test_a_waiting_notice_whose_benefit_ended_is_skipped_when_the_contact_arrives(store):
    firm = helpers.FIRM
    matcher = SalesMatcher()
    await feed(store, matcher, benefit_events(firm)[0], vat(firm, "2022-04", 150000))
    clock = helpers.Clock(helpers.soon())
    delivery, sms, email = helpers.make_worker(store, clock=clock)
    await delivery.run_once()
    assert set((await statuses(store, firm)).values()) == {S.WAITING}
    # The data changed: the firm no longer qualifies. Then its contact arrives.
    await feed(store, matcher, vat(firm, "2022-05", 900000))
    assert [d.decision.status for d in await store.decisions(firm)][-1] == matching.Verdict.NOT_MET
    await feed(store, matcher, contact(firm, "1", mobile="13800138000", email="cfo@example.cn", consent={"sms": True, "email": True}))
    clock.at = helpers.soon()
    await delivery.run_once()
    assert sms.sent == [] and email.sent == []
    reasons = {n.channel: (n.status, n.reason) for n in await store.firm_notices(firm)}
    assert reasons == {channel: (S.SKIPPED, "the benefit no longer applies to the firm") for channel in ("sms", "email")}


async def test_a_notice_is_not_sent_once_its_benefit_no_longer_applies(store):
    firm = helpers.FIRM
    matcher = SalesMatcher()
    events = helpers.eligible_firm_events(firm)
    await feed(store, matcher, events[0], events[1], vat(firm, "2022-04", 150000))
    assert len(await store.firm_notices(firm)) == 2
    await feed(store, matcher, vat(firm, "2022-05", 900000))  # before the worker got to the notices
    delivery, sms, email = helpers.make_worker(store)
    await delivery.run_once()
    assert sms.sent == [] and email.sent == []
    assert {n.status for n in await store.firm_notices(firm)} == {S.SKIPPED}


async def test_a_contact_folded_while_the_worker_looked_at_the_firm_is_not_missed(store, monkeypatch):
    # The worker reads the firm (no contact yet); the contact is folded before the worker records the
    # notice as waiting, so the fold found nothing waiting to wake. The notice must still go.
    firm = helpers.FIRM
    await helpers.feed(store, *benefit_events(firm))
    before = await store.get_firm(firm)
    await helpers.feed(store, contact(firm, "1", mobile="13800138000", email="cfo@example.cn", consent={"sms": True, "email": True}))
    real, looks = store.get_firm, []

    async def looked_before_the_fold(uscc):
        looks.append(uscc)
        return before if len(looks) <= 2 else await real(uscc)  # the first look for each of the two notices

    monkeypatch.setattr(store, "get_firm", looked_before_the_fold)
    delivery, sms, email = helpers.make_worker(store)
    await delivery.run_once()
    assert [m.phone for m in sms.sent] == ["+8613800138000"] and [m.to for m in email.sent] == ["cfo@example.cn"]
    assert {n.status for n in await store.firm_notices(firm)} == {S.SENT}


async def test_the_delivery_worker_is_woken_when_a_contact_wakes_waiting_notices(store):
    woken: list[str] = []
    firm, other = helpers.FIRM, factories.uscc(89)
    await helpers.feed(store, *benefit_events(firm))
    await helpers.feed(store, helpers.eligible_firm_events(other)[0])
    delivery, _, _ = helpers.make_worker(store)
    await delivery.run_once()
    folding_pipeline = pipeline.Pipeline(store, helpers.GrantingMatcher())
    folding_pipeline.on_decisions.append(lambda: woken.append("wake"))
    # A contact for a firm with nothing waiting changes no decision and wakes no one.
    await store_events(store, contact(other, "1", mobile="13900139000", consent={"sms": True}))
    await folding_pipeline.run_once()
    assert woken == []
    await store_events(store, contact(firm, "1", mobile="13800138000", consent={"sms": True}))
    await folding_pipeline.run_once()
    assert woken == ["wake"]
    assert await statuses(store, firm) == {(firm, "sms"): S.PENDING, (firm, "email"): S.WAITING}


async def test_a_wake_is_undone_with_the_fold_that_caused_it(store):
    firm = helpers.FIRM
    await helpers.feed(store, *benefit_events(firm))
    delivery, _, _ = helpers.make_worker(store)
    await delivery.run_once()
    body, event_id = contact(firm, "1", mobile="13800138000", consent={"sms": True})
    await store_events(store, (body, event_id))
    stored = await store.get_event(event_id)
    assignments = folding.assignments(validation.parse_stored(stored.body, stored.event_id))
    try:
        async with store.fold_group(event_id=event_id) as group:
            outcome = await group.fold_firm_event(stored, assignments, helpers.GrantingMatcher().match)
            assert outcome.notices_woken == 1
            raise RuntimeError("the transaction fails after the fold")
    except RuntimeError:
        pass
    notices = await store.firm_notices(firm)
    assert {n.status for n in notices} == {S.WAITING}
    kinds = [a.kind for n in notices for a in await store.notice_attempts(n.notice_id)]
    assert kinds == ["wait", "wait"]
    assert "contact.mobile" not in (await store.get_firm(firm)).fields


# Helpers ----------------------------------------------------------------------------------------


class SalesMatcher:
    """Met (a benefit for the year) while the latest VAT sales are at most 150 000, not met above."""

    def match(self, firm_profile, as_of, context):
        vat_returns = firm_profile.get("tax", {}).get("vat", {})
        if not vat_returns:
            return [matching.Decision(helpers.CLAUSE, "qinghai-2022#(二)", "v1", matching.Verdict.UNKNOWN)]
        if vat_returns[max(vat_returns)]["sales"] > 150000:
            return [matching.Decision(helpers.CLAUSE, "qinghai-2022#(二)", "v1", matching.Verdict.NOT_MET)]
        return [matching.Decision(helpers.CLAUSE, "qinghai-2022#(二)", "v1", matching.Verdict.MET, period=str(as_of.year))]


def vat(firm: str, period: str, sales: int) -> tuple[dict, str]:
    month = int(period[-2:]) + 1
    body = factories.event("tax.vat_declared", firm=firm, occurred_at=f"2022-{month:02d}-01T09:00:00+08:00", period=period, sales=sales)
    return body, f"{firm}-vat-{period}"


async def store_events(store, *events: tuple[dict, str]) -> None:
    await store.add_events([
        admission.new_event(validation.validate(body, webhook_id=event_id), json.dumps(body, ensure_ascii=False), {})
        for body, event_id in events
    ])


async def feed(store, matcher, *events: tuple[dict, str]) -> int:
    """helpers.feed with another matcher."""
    await store_events(store, *events)
    return await pipeline.Pipeline(store, matcher).run_once()

