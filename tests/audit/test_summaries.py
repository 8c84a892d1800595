"""A backfill batch is audited by one summary entry, a hash over the rows it recorded: the chain is as
intact as before, an edited, deleted or added decision or notice of the batch is caught by `audit
verify` and named, and an export carries the rows so an auditor checks it with docs/audit.md alone."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import os
import subprocess
import sys

import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st

from engine import audit
from engine.audit import summaries
from engine.backfill import runner
from tests import conftest
from tests.backfill import helpers

AS_OF = dt.date(2022, 4, 15)


def _cli(store, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "POLICY_PUSH_DATABASE_URL": store.url}
    return subprocess.run([sys.executable, "-m", "engine.cli", "audit", *args], env=env, capture_output=True, text=True)


async def _backfilled(store, matcher, tmp_path) -> audit.Entry:
    """The three 西宁 firms judged by the pipeline under a mis-encoded rule (qinghai-2022#(二) 月销售额15万元(含)
    以下 written exclusive), then the corrected catalogue backfilled: the batch's summary entry."""
    await helpers.ingest(store, helpers.wrong_matcher(tmp_path), helpers.qinghai_vat_firms())
    before = [e async for e in store.audit_entries()]
    done = await runner.run(store, matcher, runner.Plan(as_of=AS_OF))
    # The firm at exactly 150,000 is now met (email and SMS); all three are recorded under the new rule.
    assert (done.tally.recorded, done.tally.notices_created) == (3, 2)
    [summary] = [e async for e in store.audit_entries()][len(before):]
    return summary


def summary_version(matcher) -> str:
    return matcher.catalogue.by_id[helpers.CLAUSE].rule_version


@pytest.mark.parametrize("store", conftest.BACKENDS, indirect=True)
async def test_a_backfill_batch_is_one_entry_that_counts_and_hashes_its_rows(store, production_matcher, tmp_path):
    summary = await _backfilled(store, production_matcher, tmp_path)
    decisions, notices = await store.summary_members(summary.payload)
    assert summary.action == "backfill.recorded" and summary.actor == "backfill"
    assert summary.payload["decisions"]["count"] == len(decisions) == 3
    assert summary.payload["notices"]["count"] == len(notices) == 2
    assert {(m["uscc"], m["channel"]) for m in notices} == {(helpers.AT_THRESHOLD, "email"), (helpers.AT_THRESHOLD, "sms")}
    assert summaries.mismatch(summary.payload, decisions, notices) is None
    # Its decisions are the ones the firms now have as of that day, each named by id.
    stored = [s for u in (helpers.AT_THRESHOLD, helpers.BELOW, helpers.ABOVE) for s in await store.decisions(u)
              if s.decision.clause_id == helpers.CLAUSE and s.decision.rule_version == summary_version(production_matcher)]
    assert sorted(m["id"] for m in decisions) == sorted(s.id for s in stored)
    assert audit.verify([e.as_json() async for e in store.audit_entries()]).ok


@pytest.mark.parametrize("store", conftest.SQL_BACKENDS, indirect=True)
@pytest.mark.parametrize(
    "statement, reason",
    [
        ("UPDATE decision SET status = 'not_met' WHERE id = (SELECT max(id) FROM decision WHERE status = 'met')",
         "the decisions it recorded no longer match their rows"),
        ("UPDATE decision SET rule_version = 'v0' WHERE id = (SELECT max(id) FROM decision)",
         "the decisions it recorded no longer match their rows"),
        ("DELETE FROM notice WHERE id = (SELECT max(id) FROM notice)", "it recorded 2 notices, 1 are there now"),
        ("UPDATE notice SET period = '2099' WHERE id = (SELECT max(id) FROM notice)",
         "the notices it recorded no longer match their rows"),
    ],
    ids=["verdict-flipped", "rule-version-edited", "notice-deleted", "notice-edited"],
)
async def test_editing_a_backfilled_row_is_caught_and_its_summary_named(store, production_matcher, statement, reason,
                                                                       tmp_path):
    summary = await _backfilled(store, production_matcher, tmp_path)
    clean = await asyncio.to_thread(_cli, store, "verify")
    assert clean.returncode == 0 and clean.stdout.startswith("ok: "), clean.stderr
    async with store._write() as connection:
        await connection.execute(sa.text(statement))
    # The chain itself is untouched: only comparing the rows with the summary shows it.
    assert audit.verify([e.as_json() async for e in store.audit_entries()]).ok
    result = await asyncio.to_thread(_cli, store, "verify")
    assert result.returncode == 1
    assert f"TAMPERED at entry {summary.seq}: " in result.stderr and reason in result.stderr


@pytest.mark.parametrize("store", ["sqlite"], indirect=True)
async def test_an_export_carries_each_summarys_rows_and_checks_by_the_algorithm_alone(store, production_matcher, tmp_path):
    summary = await _backfilled(store, production_matcher, tmp_path)
    out = tmp_path / "audit.jsonl"
    done = await asyncio.to_thread(_cli, store, "export", "--since", "2000-01-01", "-o", str(out))
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    [exported] = [r for r in records if r["action"] == "backfill.recorded"]
    assert exported["seq"] == summary.seq

    # An auditor's own check, written from docs/audit.md without importing the project.
    def members_ok(record) -> bool:
        for kind in ("decisions", "notices"):
            lines = b"".join(
                json.dumps(m, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"
                for m in record["members"][kind]
            )
            recorded = record["payload"][kind]
            if len(record["members"][kind]) != recorded["count"] or hashlib.sha256(lines).hexdigest() != recorded["sha256"]:
                return False
        return True

    assert members_ok(exported)
    assert audit.verify(records, check=summaries.members_mismatch).ok
    # A member changed in the file (a verdict turned after the fact) no longer checks.
    met = next(m for m in exported["members"]["decisions"] if m["status"] == "met")
    met["status"] = "not_met"
    assert not members_ok(exported)
    verdict = audit.verify(records, check=summaries.members_mismatch)
    assert (verdict.ok, verdict.first_bad_seq) == (False, summary.seq)
    assert "no longer match" in verdict.reason


_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-(2**63), 2**63 - 1), st.text())


@given(st.dictionaries(st.text(), _SCALARS, max_size=12))
def test_a_members_hashed_bytes_are_its_canonical_json(member):
    """The digest's fast encoding writes exactly the documented canonical form, whatever the text holds
    (quotes, backslashes, control characters, 中文, U+2028)."""
    expected = hashlib.sha256(audit.canonical(member) + b"\n").hexdigest()
    assert summaries.digest([member]) == expected
