"""The audit chain: every decision, notice change and operator action is chained; tampering with the
database directly is caught and the first bad entry named; exports verify with the documented algorithm."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import subprocess
import sys

import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st

from connectors import sql_storage
from engine import audit
from tests import conftest
from tests.notices import helpers


def test_chain_and_verify_by_the_documented_algorithm():
    import datetime

    at = datetime.datetime(2022, 5, 1, 1, 2, 3, 456789, tzinfo=datetime.UTC)
    first = audit.chain(audit.GENESIS, 1, at, audit.Draft("张三", "decision.approved", "decision", "7", {"reason": None}))
    body = '{"action":"decision.approved","actor":"张三","at":"2022-05-01T01:02:03.456789Z","payload":{"reason":null},"seq":1,"subject_id":"7","subject_type":"decision"}'
    assert first.hash == hashlib.sha256(("0" * 64 + "\n" + body).encode()).hexdigest()
    second = audit.chain(first.hash, 2, at, audit.Draft("pipeline", "notice.sent", "notice", "ntc_1", {}))
    records = [first.as_json(), second.as_json()]
    assert audit.verify(records).ok
    edited = [records[0], {**records[1], "actor": "李四"}]
    assert audit.verify(edited) == audit.Verdict(False, 2, 2, "the entry's content does not match its hash: it was edited")
    assert audit.verify([records[1], records[0]]).first_bad_seq == 2
    assert audit.verify([records[1]]).first_bad_seq == 2
    assert audit.verify([records[1]], partial=True).ok


_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63) | st.floats(allow_nan=False, allow_infinity=False) | _TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_TEXT, inner, max_size=4),
    max_leaves=12,
)


@given(actor=_TEXT, action=_TEXT, subject_type=_TEXT, subject_id=_TEXT,
       payload=st.dictionaries(_TEXT, _JSON, max_size=5), seq=st.integers(1, 2**40))
def test_chain_hashes_the_documented_canonical_body(actor, action, subject_type, subject_id, payload, seq):
    """chain() assembles the canonical body around the payload's text; verify() encodes it whole."""
    import datetime

    at = datetime.datetime(2026, 11, 21, 3, 4, 5, 6, tzinfo=datetime.UTC)
    entry = audit.chain(audit.GENESIS, seq, at, audit.Draft(actor, action, subject_type, subject_id, payload))
    body = {"seq": seq, "at": "2026-11-21T03:04:05.000006Z", "actor": actor, "action": action,
            "subject_type": subject_type, "subject_id": subject_id, "payload": entry.payload}
    assert entry.hash == hashlib.sha256(audit.GENESIS.encode() + b"\n" + audit.canonical(body)).hexdigest()
    assert audit.verify([entry.as_json()], partial=True).ok



def test_chain_encodes_every_character_and_integer_as_the_documented_canonical_json():
    """chain() writes its texts and integers with a faster encoder than verify(); the two must agree byte
    for byte on every code point (controls, quotes, backslashes, U+2028, astral characters) and on
    integers at the edges of 64 bits, or a chained entry would fail verification."""
    import datetime

    at = datetime.datetime(2026, 12, 7, 1, 2, 3, 4, tzinfo=datetime.UTC)
    every = "".join(chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF)
    for seq in (1, 2**63 - 1, 2**63, 2**64 - 1, 2**64, 10**30):
        entry = audit.chain(audit.GENESIS, seq, at, audit.Draft(every[:4096], every[-4096:], "decision", every))
        body = {"seq": seq, "at": "2026-12-07T01:02:03.000004Z", "actor": every[:4096], "action": every[-4096:],
                "subject_type": "decision", "subject_id": every, "payload": {}}
        assert entry.hash == hashlib.sha256(audit.GENESIS.encode() + b"\n" + audit.canonical(body)).hexdigest()
        assert audit.verify([entry.as_json()], partial=True).ok

async def entries(store):
    return [e async for e in store.audit_entries()]


async def test_decisions_and_notice_changes_are_chained(store):
    await helpers.feed(store, *helpers.eligible_firm_events())
    delivery, _, _ = helpers.make_worker(store)
    await delivery.run_once()
    log = await entries(store)
    actions = [e.action for e in log]
    assert actions.count("decision.recorded") == 2  # unknown, then met
    assert actions.count("notice.created") == 2 and actions.count("notice.sending") == 2 and actions.count("notice.sent") == 2
    assert audit.verify([e.as_json() for e in log]).ok
    assert [e.seq for e in log] == list(range(1, len(log) + 1))


async def test_gated_clause_waits_for_approval_and_both_outcomes_are_audited(store):
    await store.set_clause_approval(helpers.CLAUSE, True, "admin 王五")
    await helpers.feed(store, *helpers.eligible_firm_events())
    assert await store.firm_notices(helpers.FIRM) == []
    [pending] = await store.pending_approvals(helpers.CLAUSE)
    assert pending.approval == "pending" and pending.decision.status.value == "met"
    with pytest.raises(ValueError, match="reason"):
        await store.resolve_approvals([pending.id], False, "operator 赵六", " ")
    assert await store.resolve_approvals([pending.id], True, "operator 赵六", None) == [pending.id]
    assert await store.resolve_approvals([pending.id], True, "operator 赵六", None) == []  # once only
    assert sorted(n.channel for n in await store.firm_notices(helpers.FIRM)) == ["email", "sms"]
    actions = [(e.action, e.actor) for e in await entries(store)]
    assert ("clause.approval_gate", "admin 王五") in actions and ("decision.approved", "operator 赵六") in actions


async def test_rejection_needs_a_reason_and_sends_nothing(store):
    await store.set_clause_approval(helpers.CLAUSE, True, "admin")
    await helpers.feed(store, *helpers.eligible_firm_events())
    [pending] = await store.pending_approvals()
    assert await store.resolve_approvals([pending.id], False, "operator", "名单待核实") == [pending.id]
    assert await store.firm_notices(helpers.FIRM) == [] and await store.pending_approvals() == []
    rejected = [e for e in await entries(store) if e.action == "decision.rejected"]
    assert rejected[0].payload["reason"] == "名单待核实"


@pytest.mark.parametrize("store", conftest.SQL_BACKENDS, indirect=True)
@pytest.mark.parametrize(
    "statements, bad_seq",
    [
        (["UPDATE audit_entry SET actor = 'mallory' WHERE seq = 3"], 3),
        (["DELETE FROM audit_entry WHERE seq = 4"], 5),
        # Reorder entries 2 and 3 (in two steps, so the primary key never collides).
        (["UPDATE audit_entry SET seq = -seq WHERE seq IN (2, 3)",
          "UPDATE audit_entry SET seq = CASE seq WHEN -2 THEN 3 ELSE 2 END WHERE seq IN (-2, -3)"], 2),
    ],
    ids=["edited", "deleted", "reordered"],
)
async def test_tampering_in_the_database_is_caught_and_named(store, statements, bad_seq):
    await helpers.feed(store, *helpers.eligible_firm_events())
    delivery, _, _ = helpers.make_worker(store)
    await delivery.run_once()
    assert len(await entries(store)) >= 6
    async with store._write() as connection:
        for statement in statements:
            await connection.execute(sa.text(statement))
    verdict = audit.verify([e.as_json() async for e in store.audit_entries()])
    assert not verdict.ok and verdict.first_bad_seq == bad_seq

    # The CLI says the same, naming the entry, with a non-zero exit.
    env = {**os.environ, "POLICY_PUSH_DATABASE_URL": store.url}
    result = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "engine.cli", "audit", "verify"], env=env, capture_output=True, text=True
    )
    assert result.returncode == 1 and f"TAMPERED at entry {bad_seq}" in result.stderr


@pytest.mark.parametrize("store", ["sqlite"], indirect=True)
async def test_export_is_verifiable_with_the_algorithm_alone(store, tmp_path):
    await helpers.feed(store, *helpers.eligible_firm_events())
    out = tmp_path / "audit.jsonl"
    env = {**os.environ, "POLICY_PUSH_DATABASE_URL": store.url}
    done = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "engine.cli", "audit", "export", "--since", "2000-01-01", "-o", str(out)],
        env=env, capture_output=True, text=True,
    )
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    # An auditor's own check, written from docs/audit.md without importing the project:
    prev = "0" * 64
    for record in records:
        body = {k: record[k] for k in ("seq", "at", "actor", "action", "subject_type", "subject_id", "payload")}
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        assert record["prev_hash"] == prev
        assert hashlib.sha256((prev + "\n" + canonical).encode()).hexdigest() == record["hash"]
        prev = record["hash"]
    assert len(records) == len(await entries(store)) > 0
    assert isinstance(sql_storage.SqlStorage, type)
