"""The SMS a firm chose on its page: grants only → SMS of automatic grants alone (the rest skipped with the
reason), email untouched; none → no SMS, as after a reply T."""

from __future__ import annotations

import datetime

from engine.core import notice_status
from engine.notices import compose, outbox, withholding
from tests.notices import helpers

NOW = datetime.datetime(2026, 12, 1, 8, 0, tzinfo=datetime.UTC)


async def _statuses(store) -> dict[str, tuple[notice_status.NoticeStatus, str | None]]:
    return {n.channel: (n.status, n.reason) for n in await store.firm_notices(helpers.FIRM)}


async def test_grants_only_sends_the_sms_of_an_automatic_grant(store):
    await helpers.feed(store, *helpers.eligible_firm_events())
    await store.set_sms_preference(helpers.FIRM, outbox.SMS_GRANTS_ONLY, "firm page", NOW)
    delivery, sms, email = helpers.make_worker(store, auto_grants=frozenset({helpers.CLAUSE}))
    await delivery.run_once()
    assert len(sms.sent) == 1 and len(email.sent) == 1
    assert {channel: status for channel, (status, _) in (await _statuses(store)).items()} == {
        "sms": notice_status.NoticeStatus.SENT, "email": notice_status.NoticeStatus.SENT}


async def test_grants_only_skips_the_sms_of_a_benefit_to_apply_for_and_keeps_the_reason(store):
    await helpers.feed(store, *helpers.eligible_firm_events())
    await store.set_sms_preference(helpers.FIRM, outbox.SMS_GRANTS_ONLY, "firm page", NOW)
    delivery, sms, email = helpers.make_worker(store, auto_grants=frozenset())  # the clause is not a grant here
    await delivery.run_once()
    assert sms.sent == [] and len(email.sent) == 1
    statuses = await _statuses(store)
    assert statuses["sms"] == (notice_status.NoticeStatus.SKIPPED, withholding.GRANTS_ONLY)
    assert statuses["email"][0] is notice_status.NoticeStatus.SENT


async def test_none_is_an_opt_out_of_sms(store):
    await helpers.feed(store, *helpers.eligible_firm_events())
    await store.set_sms_preference(helpers.FIRM, outbox.SMS_NONE, "firm page", NOW)
    delivery, sms, email = helpers.make_worker(store)
    await delivery.run_once()
    assert sms.sent == [] and len(email.sent) == 1
    status, reason = (await _statuses(store))["sms"]
    assert status is notice_status.NoticeStatus.SKIPPED and "opted out of sms" in reason


def test_the_grants_are_the_catalogues_auto_grant_clauses(production_matcher):
    grants = compose.auto_grant_clauses(production_matcher.catalogue)
    assert "qinghai-2022-2" in grants and "yunnan-2022-2-1" in grants
    assert "yunnan-2022-1-3" not in grants  # apply
    assert all(production_matcher.catalogue.by_id[c].mode == "auto_grant" for c in grants)
