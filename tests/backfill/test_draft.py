"""A backfill batch is made before its write transaction (so that processes sharing a run hold the write
lock only for what needs it) and written as made only if what it was made from is still what is stored
when the lock is taken; otherwise the batch is recorded from what is read then."""

from __future__ import annotations

import datetime as dt

import pytest

from engine import audit
from tests.backfill import helpers
from tests.conftest import SQL_BACKENDS

AS_OF = dt.date(2022, 4, 15)


@pytest.mark.parametrize("store", SQL_BACKENDS, indirect=True)
async def test_a_gate_set_after_the_batch_was_made_holds_its_notices(store, production_matcher, tmp_path, monkeypatch):
    changes = await helpers.judged_batch(store, production_matcher, tmp_path, AS_OF)
    made = type(store)._draft

    async def draft_then_gate(self, *args):
        draft = await made(self, *args)
        # An officer sets the 二次确认 gate on the clause while the batch waits for the write lock.
        await self.set_clause_approval(helpers.CLAUSE, True, "admin")
        return draft

    monkeypatch.setattr(type(store), "_draft", draft_then_gate)
    recorded = await store.record_backfill(changes, AS_OF, "backfill")
    # The draft (made ungated) would have told both firms now met; the gate makes them wait for approval.
    assert (recorded.decisions, recorded.pending_approval, recorded.notices) == (3, 2, 0)
    assert sorted(d.uscc for d in await store.pending_approvals(helpers.CLAUSE)) == sorted([helpers.AT_THRESHOLD, helpers.BELOW])
    assert audit.verify([e.as_json() async for e in store.audit_entries()]).ok


@pytest.mark.parametrize("store", SQL_BACKENDS, indirect=True)
async def test_a_batch_told_meanwhile_is_not_told_twice(store, production_matcher, tmp_path, monkeypatch):
    changes = await helpers.judged_batch(store, production_matcher, tmp_path, AS_OF)
    made = type(store)._draft
    told_meanwhile = [c for c in changes if c.uscc == helpers.AT_THRESHOLD]

    async def draft_then_tell(self, batch, *args):
        draft = await made(self, batch, *args)
        if len(batch) == len(changes):
            # Another writer records (and tells) the firm at exactly 150,000 first; its decision's prior is
            # what this batch judged against, so this batch's own change for it is then a moved firm.
            other = await self.record_backfill(told_meanwhile, AS_OF, "backfill")
            assert other.notices == 2
        return draft

    monkeypatch.setattr(type(store), "_draft", draft_then_tell)
    recorded = await store.record_backfill(changes, AS_OF, "backfill")
    assert recorded.skipped_firms == (helpers.AT_THRESHOLD,)
    # SMS and email once each: the firm is not told again by the batch made before it was told.
    told = [n for n in await store.firm_notices(helpers.AT_THRESHOLD) if n.clause_id == helpers.CLAUSE]
    assert sorted(n.channel for n in told) == ["email", "sms"]
    assert audit.verify([e.as_json() async for e in store.audit_entries()]).ok
