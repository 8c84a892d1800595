"""The firm page's storage, the same promises on every store: answers kept with their audit entries,
the objection queue, the SMS choice (none is an opt-out, choosing SMS again lifts it), link revocation."""

from __future__ import annotations

import datetime

import pytest

from engine.core import scopes
from engine.firm_page import store as firm_page_store
from engine.notices import outbox, withholding
from tests import factories
from tests.notices import helpers

NOW = datetime.datetime(2026, 12, 1, 8, 0, tzinfo=datetime.UTC)


async def _firm_with_a_decision(store) -> int:
    await helpers.feed(store, *helpers.eligible_firm_events())
    return (await store.decisions(helpers.FIRM))[-1].id


async def _actions(store) -> list[tuple[str, str, dict]]:
    return [(e.action, e.subject_id, dict(e.payload)) async for e in store.audit_entries() if e.action.startswith("firm.")]


async def test_answers_are_kept_with_their_audit_entries_and_objections_queue_newest_first(store):
    decision_id = await _firm_with_a_decision(store)
    confirmed = await store.record_response(helpers.FIRM, helpers.CLAUSE, decision_id, "confirm", None, NOW)
    objected = await store.record_response(
        helpers.FIRM, helpers.CLAUSE, decision_id, "object", "我们的销售额已超过标准", NOW + datetime.timedelta(minutes=1))
    assert confirmed.action == "confirm" and objected.reason == "我们的销售额已超过标准"
    assert [r.id for r in await store.firm_responses(helpers.FIRM)] == [confirmed.id, objected.id]
    assert (await store.firm_responses(helpers.FIRM))[1].at == NOW + datetime.timedelta(minutes=1)
    assert [r.id for r in await store.objections(scope=scopes.ALL)] == [objected.id]
    assert await _actions(store) == [
        ("firm.confirmed", str(decision_id), {"uscc": helpers.FIRM, "clause_id": helpers.CLAUSE, "reason": None}),
        ("firm.objected", str(decision_id), {"uscc": helpers.FIRM, "clause_id": helpers.CLAUSE, "reason": "我们的销售额已超过标准"}),
    ]


async def test_an_answer_to_another_firms_decision_is_refused(store):
    decision_id = await _firm_with_a_decision(store)
    with pytest.raises(KeyError):
        await store.record_response("91110000000000000X", helpers.CLAUSE, decision_id, "confirm", None, NOW)
    assert await store.firm_responses(helpers.FIRM) == [] and await _actions(store) == []


async def test_an_objection_without_a_reason_is_never_stored(store):
    decision_id = await _firm_with_a_decision(store)
    with pytest.raises(ValueError, match="reason"):
        await store.record_response(helpers.FIRM, helpers.CLAUSE, decision_id, firm_page_store.OBJECT, " ", NOW)
    assert await store.objections(scope=scopes.ALL) == []


async def test_sms_choice_none_opts_out_and_choosing_sms_again_lifts_it(store):
    await _firm_with_a_decision(store)
    assert await store.sms_preference(helpers.FIRM) == outbox.SMS_ALL
    await store.set_sms_preference(helpers.FIRM, outbox.SMS_NONE, "firm page", NOW)
    assert await store.sms_preference(helpers.FIRM) == outbox.SMS_NONE
    assert "sms" in await store.opt_outs(helpers.FIRM)
    await store.set_sms_preference(helpers.FIRM, outbox.SMS_GRANTS_ONLY, "firm page", NOW)
    assert await store.sms_preference(helpers.FIRM) == outbox.SMS_GRANTS_ONLY
    assert await store.opt_outs(helpers.FIRM) == {}
    assert [(a, p["sms"]) for a, _, p in await _actions(store)] == [("firm.sms_preference", "none"), ("firm.sms_preference", "grants_only")]
    with pytest.raises(ValueError):
        await store.set_sms_preference(helpers.FIRM, "sometimes", "firm page", NOW)


async def test_a_reply_t_shows_as_no_sms_whatever_was_chosen():
    refusal = "the firm opted out of sms"
    assert withholding.sms_choice(outbox.SMS_GRANTS_ONLY, refusal) == outbox.SMS_NONE
    assert withholding.sms_choice(outbox.SMS_NONE, None) == outbox.SMS_ALL  # a later consent lifted it
    assert withholding.sms_choice(outbox.SMS_GRANTS_ONLY, None) == outbox.SMS_GRANTS_ONLY


async def test_revoking_links_is_kept_and_audited(store):
    await _firm_with_a_decision(store)
    assert await store.links_revoked_before(helpers.FIRM) is None
    await store.revoke_links(helpers.FIRM, "zhangsan (operator)", NOW)
    assert await store.links_revoked_before(helpers.FIRM) == NOW
    later = NOW + datetime.timedelta(days=1)
    await store.revoke_links(helpers.FIRM, "zhangsan (operator)", later)
    assert await store.links_revoked_before(helpers.FIRM) == later
    assert [a for a, _, _ in await _actions(store)] == ["firm.links_revoked", "firm.links_revoked"]
    with pytest.raises(KeyError):
        await store.revoke_links("91110000000000000X", "zhangsan (operator)", NOW)


async def test_the_objection_queue_holds_only_the_firms_of_the_scope(store):
    decision_id = await _firm_with_a_decision(store)  # helpers.FIRM, in 630102 (西宁市城东区)
    other = factories.uscc(77, region="530102")
    await helpers.feed(store, (factories.event(firm=other, region="530102"), f"{other}-reg"), *helpers.eligible_firm_events(other)[1:])
    other_decision = (await store.decisions(other))[-1].id
    ours = await store.record_response(helpers.FIRM, helpers.CLAUSE, decision_id, "object", "理由一", NOW)
    theirs = await store.record_response(other, helpers.CLAUSE, other_decision, "object", "理由二", NOW)
    assert [r.id for r in await store.objections(scope=scopes.ALL)] == [theirs.id, ours.id]
    assert [r.id for r in await store.objections(scope=scopes.parse(["6301"]))] == [ours.id]
    assert [r.id for r in await store.objections(scope=scopes.parse(["530102", "63"]))] == [theirs.id, ours.id]
    assert await store.objections(scope=scopes.parse(["630104", "5301"])) == [theirs]
