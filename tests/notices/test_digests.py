"""One message per firm and channel for everything due together (a digest), on every store.

The firm is the firm page's RENTER, judged by the production matcher from the events the service
receives: a small retailer in 昆明市五华区 renting from a state-owned enterprise, so it is granted the
yunnan-2022#二(一) rent waiver automatically and may apply for other measures at the same time.
"""

from __future__ import annotations

import dataclasses
import datetime
import re

from engine.core import matching, notice_status
from engine.cli import templates as templates_cli
from engine.notices import channels, compose, config, digest, firm_links, notice_rules, operator_actions, outbox, pacing, worker
from engine.testing import memory_channels
from tests.console import seed as console_seed
from tests.firm_page import seed
from tests.notices import helpers

S = notice_status.NoticeStatus
SITE = "https://zc.example.gov.cn"
SETTINGS = config.NoticeSettings(secret_key="digest-test-secret", public_url=SITE, quiet_hours=None)
_SHORT_LINK = re.compile(re.escape(SITE) + r"/m/([0-9A-Za-z]+)")


def _worker(store, production_matcher, clock=None):
    sms, email = memory_channels.MemorySmsSender(), memory_channels.MemoryEmailSender()
    delivery = worker.DeliveryWorker(
        store, compose.Composer(production_matcher.catalogue, SETTINGS),
        {"sms": worker.Channel(sms, pacing.RateLimiter(1000)), "email": worker.Channel(email, pacing.RateLimiter(1000))},
        clock=clock or helpers.Clock(helpers.soon()),
        auto_grants=compose.auto_grant_clauses(production_matcher.catalogue),
    )
    return delivery, sms, email


async def _renter(store, production_matcher) -> dict[str, list[outbox.NoticeRecord]]:
    await console_seed.feed_with(store, production_matcher, *seed.renter_events())
    notices = await store.firm_notices(seed.RENTER)
    return {channel: [n for n in notices if n.channel == channel] for channel in outbox.CHANNELS}


async def test_everything_new_for_a_firm_goes_out_as_one_sms_and_one_email(store, production_matcher):
    by_channel = await _renter(store, production_matcher)
    assert len(by_channel["email"]) >= 3 and len(by_channel["sms"]) >= 2  # several measures at once
    delivery, sms, email = _worker(store, production_matcher)
    await delivery.run_once()

    assert len(sms.sent) == 1 and len(email.sent) == 1
    after = await store.firm_notices(seed.RENTER)
    assert {n.status for n in after} == {S.SENT}
    for channel, message in (("sms", sms.sent[0]), ("email", email.sent[0])):
        notices = [n for n in after if n.channel == channel]
        # One digest per channel: every notice carries its id and the provider's id of the one message.
        assert {n.digest_id for n in notices} == {message.notice_id}
        assert len({n.provider_id for n in notices}) == 1
    # The email lists every item with its amount, citation and agency.
    catalogue = production_matcher.catalogue
    for notice in by_channel["email"]:
        clause = catalogue.by_id[notice.clause_id]
        assert clause.display_title in email.sent[0].text and clause.cite in email.sent[0].text
    assert seed.GRANT_AMOUNT in email.sent[0].text and "已为您办理" in email.sent[0].subject
    assert email.sent[0].message_id == f"{email.sent[0].notice_id}@policy-push"
    # The SMS counts them and carries a short link to the firm's page, within two segments.
    text = sms.sent[0].text
    granted = [n for n in by_channel["sms"] if catalogue.by_id[n.clause_id].mode == "auto_grant"]
    # "可申请" counts only applications whose window is still open on the day it is sent: one that closed
    # is told on the page and in the email with what that means, never as something the firm may apply for.
    sent_on = helpers.soon().date()
    applicable = [n for n in by_channel["sms"] if catalogue.by_id[n.clause_id].mode == "apply"
                  and (catalogue.by_id[n.clause_id].valid_to is None or catalogue.by_id[n.clause_id].valid_to >= sent_on)]
    assert len(applicable) < len([n for n in by_channel["sms"] if catalogue.by_id[n.clause_id].mode == "apply"])
    with_amount = [n for n in granted if n.amount is not None]
    assert [n.clause_id for n in with_amount] == [seed.GRANT]  # the rent waiver; any other grant's amount is the agency's
    total = f"合计{seed.GRANT_AMOUNT}" if len(granted) == 1 else f"其中1项合计{seed.GRANT_AMOUNT}"
    assert f"已为您办理{len(granted)}项惠企政策（{total}）" in text
    assert f"另有{len(applicable)}项可申请" in text and text.endswith("回T退订")
    assert channels.sms_segments(text) <= 2
    token = _SHORT_LINK.search(text).group(1)
    uscc, _ = firm_links.read_short_token(SETTINGS.signing_key(), token, helpers.soon(), SETTINGS.firm_link_lifetime)
    assert uscc == seed.RENTER
    assert await delivery.run_once() == 0  # nothing goes twice


async def test_a_notice_whose_benefit_ended_leaves_the_digest_and_the_rest_go(store, production_matcher):
    by_channel = await _renter(store, production_matcher)
    delivery, sms, email = _worker(store, production_matcher)
    [claimed_email] = await store.claim_due_digests(helpers.soon(), 10, delivery.lease, ("email",))
    ended = claimed_email[0]
    # The first notice's clause is judged again before sending: pretend the firm's data took it away.
    original = store.delivery_context

    async def without_first(usccs):
        # The firm's latest decision on that clause is no longer met.
        contexts = await original(usccs)
        decisions = contexts[seed.RENTER].decisions
        latest = [d for d in decisions if d.decision.clause_id == ended.clause_id][-1]
        gone = dataclasses.replace(latest, id=latest.id + 10_000,
                                   decision=dataclasses.replace(latest.decision, status=matching.Verdict.NOT_MET))
        return {**contexts, seed.RENTER: dataclasses.replace(contexts[seed.RENTER], decisions=[*decisions, gone])}

    store.delivery_context = without_first
    try:
        await delivery.deliver(claimed_email)
    finally:
        store.delivery_context = original
    after = {n.notice_id: n for n in await store.firm_notices(seed.RENTER) if n.channel == "email"}
    assert after[ended.notice_id].status == S.SKIPPED and after[ended.notice_id].digest_id is None
    sent = [n for n in after.values() if n.status == S.SENT]
    assert len(sent) == len(by_channel["email"]) - 1 and len(email.sent) == 1
    # The message keeps the digest's id although its first notice left it.
    assert {n.digest_id for n in sent} == {ended.notice_id} == {email.sent[0].notice_id}
    assert production_matcher.catalogue.by_id[ended.clause_id].display_title not in email.sent[0].text


async def test_a_digest_is_claimed_sent_and_settled_whole_after_a_crash(store, production_matcher, make_client, config):
    await _renter(store, production_matcher)
    clock = helpers.Clock(helpers.soon())
    crashed, _, _ = _worker(store, production_matcher, clock)
    # The worker claims both digests and dies before recording anything.
    claimed = await crashed._claim("sms") + await crashed._claim("email")
    assert [len(digest) >= 2 for digest in claimed] == [True, True]
    clock.at += crashed.lease + datetime.timedelta(seconds=1)
    restarted, sms, email = _worker(store, production_matcher, clock)
    await restarted.run_once()
    after = await store.firm_notices(seed.RENTER)
    # SMS: at most once. Every notice of the interrupted digest is dead, none re-sent blind.
    assert {n.status for n in after if n.channel == "sms"} == {S.DEAD} and sms.sent == []
    # Email: at least once, the same digest again under the same Message-ID.
    email_digest = [n for n in claimed if n[0].channel == "email"][0]
    assert {n.status for n in after if n.channel == "email"} == {S.SENT} and len(email.sent) == 1
    assert email.sent[0].message_id == f"{email_digest[0].digest_id}@policy-push"
    assert await restarted.run_once() == 0

    # The provider's receipt for the SMS (its OutId is the digest's id) proves it went: every notice delivered.
    client = await make_client(settings_=_with_push_token(config), run_pipeline=False)
    sms_digest = [n for n in claimed if n[0].channel == "sms"][0]
    receipt = {"success": True, "err_code": "DELIVERED", "err_msg": "用户接收成功", "biz_id": "", "out_id": sms_digest[0].digest_id}
    response = await client.post(f"/webhooks/sms-report?token={PUSH_TOKEN}", json=[receipt, receipt])
    assert response.status == 200
    settled = await store.digest_notices(sms_digest[0].digest_id)
    assert {n.status for n in settled} == {S.DELIVERED} and len(settled) == len(sms_digest)
    assert [a.kind for a in await store.notice_attempts(settled[-1].notice_id)] == ["recover", "receipt"]


PUSH_TOKEN = "digest-push-token"


def _with_push_token(config):
    return dataclasses.replace(config, notices=dataclasses.replace(
        config.notices, sms_report_token=PUSH_TOKEN, secret_key=SETTINGS.secret_key, public_url=SITE, quiet_hours=None))


async def test_the_short_link_in_an_sms_opens_the_firms_page(store, production_matcher, make_client, config):
    await _renter(store, production_matcher)
    client = await make_client(settings_=_with_push_token(config), matcher=production_matcher, run_pipeline=False)
    token = firm_links.make_short_token(SETTINGS.secret_key, seed.RENTER)
    assert len(token) == 33
    opened = await client.get(f"/m/{token}", allow_redirects=False)
    assert opened.status == 303 and opened.headers["Location"].startswith("/my/")
    page = await client.get(opened.headers["Location"])
    assert page.status == 200 and seed.RENTER_NAME in await page.text()
    # Another firm's number under this signature, or a changed letter: not ours.
    forged = seed.OTHER + token[18:]
    assert (await client.get(f"/m/{forged}", allow_redirects=False)).status == 404
    assert (await client.get(f"/m/{token[:-1]}{'A' if token[-1] != 'A' else 'B'}", allow_redirects=False)).status == 404
    old = firm_links.make_short_token(SETTINGS.secret_key, seed.RENTER, helpers.soon() - SETTINGS.firm_link_lifetime - datetime.timedelta(days=1))
    assert (await client.get(f"/m/{old}", allow_redirects=False)).status == 410


def test_the_window_is_ten_quiet_minutes_but_never_more_than_a_day_after_the_first():
    window = outbox.DigestWindow(datetime.timedelta(minutes=10), datetime.timedelta(hours=24))
    first = datetime.datetime(2026, 12, 1, 9, 0, tzinfo=datetime.UTC)
    assert notice_rules.digest_due(first, first, window) == first + datetime.timedelta(minutes=10)
    assert notice_rules.digest_due(first, first + datetime.timedelta(hours=5), window) == first + datetime.timedelta(hours=5, minutes=10)
    assert notice_rules.digest_due(first, first + datetime.timedelta(hours=23, minutes=55), window) == first + datetime.timedelta(hours=24)
    late = first + datetime.timedelta(hours=30)  # a notice created after the cap is due at once, never in the past
    assert notice_rules.digest_due(first, late, window) == late
    assert notice_rules.digest_due(first, late, None) == late


async def test_an_operator_requeues_a_dead_sms_digest_whole_in_the_same_words(store, production_matcher):
    await _renter(store, production_matcher)
    delivery, sms, _ = _worker(store, production_matcher)
    sms.script([channels.SendResult(channels.Outcome.DEAD, reason="isv.BUSINESS_LIMIT_CONTROL")])
    await delivery.run_once()
    dead = [n for n in await store.firm_notices(seed.RENTER) if n.channel == "sms"]
    assert {n.status for n in dead} == {S.DEAD} and len(sms.attempts) == 1
    first_words = sms.attempts[0][0].text
    await operator_actions.requeue(store, dead[-1].notice_id, "operator 张三")
    assert {n.status for n in await store.digest_notices(dead[0].digest_id)} == {S.PENDING}
    await delivery.run_once()
    assert [m.text for m in sms.sent] == [first_words]
    assert {n.status for n in await store.firm_notices(seed.RENTER) if n.channel == "sms"} == {S.SENT}


async def test_new_notices_wait_for_more_of_the_same_firm_within_the_window(store, production_matcher):
    store.digest_window = outbox.DigestWindow(datetime.timedelta(minutes=10), datetime.timedelta(hours=24))
    registration, cit, lease, contact = seed.renter_events()
    await console_seed.feed_with(store, production_matcher, registration, cit, contact)
    first = await store.firm_notices(seed.RENTER)
    assert first, "the registration alone already qualifies the firm for something"
    # Due together, ten minutes after the newest of them.
    assert {n.next_attempt_at for n in first} == {max(n.created_at for n in first) + datetime.timedelta(minutes=10)}
    await console_seed.feed_with(store, production_matcher, lease)  # the lease qualifies it for the rent waiver
    later = await store.firm_notices(seed.RENTER)
    newest = max(n.created_at for n in later)
    # Something new for the firm: everything it has waiting waits with it, ten minutes from now.
    assert {n.next_attempt_at for n in later if n.status == S.PENDING} == {newest + datetime.timedelta(minutes=10)}
    delivery, sms, email = _worker(store, production_matcher, helpers.Clock(newest + datetime.timedelta(minutes=9)))
    assert await delivery.run_once() == 0 and sms.sent == email.sent == []
    delivery.clock = helpers.Clock(newest + datetime.timedelta(minutes=10, seconds=1))
    await delivery.run_once()
    assert len(sms.sent) == 1 and len(email.sent) == 1
    assert {n.status for n in await store.firm_notices(seed.RENTER)} == {S.SENT}


def test_the_sms_adds_up_only_exact_amounts_in_yuan_and_says_so(production_matcher):
    catalogue = production_matcher.catalogue
    computing = [c for c in catalogue.firm_facing() if c.mode == "auto_grant" and c.benefit and c.benefit.formula
                 and c.benefit.unit == "yuan" and not c.benefit.at_most][:1] * 2  # two grants of the same kind
    fixed = [c for c in catalogue.firm_facing() if c.mode == "auto_grant" and (c.benefit is None or c.benefit.formula is None)][:1]
    assert len(computing) == 2 and len(fixed) == 1

    def total(clauses):
        items = [templates_cli.sample_content(catalogue, clause, "政策直达") for clause in clauses]
        return digest.build("ntc_x", items, short_link="t", site=SITE, firm_page_url="u", unsubscribe_url="u").granted_total_text

    # sample_content computes 1,234,567.89 元 for each computing clause.
    assert total(computing) == "合计2,469,135.78元"
    assert total(computing + fixed) == "其中2项合计2,469,135.78元"
    assert total(fixed + fixed) == "金额以主管部门核定为准"
