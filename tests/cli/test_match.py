"""`policy-push match` judges with the facts stored in the configured database, as the pipeline does."""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result

from engine.cli import main
from tests import conftest
from tests.seams import helpers
from tests.web import calculator_firms as firms

ON_SQLITE = pytest.mark.parametrize("store", ["sqlite"], indirect=True)


@pytest.fixture(autouse=True)
def root_logging_kept():
    """`policy-push` installs its log handler on the root logger: take it away again, so later tests'
    command output holds no log lines of ours."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


async def policy_push_match(database_url: str, profile_file: Path, *args: str) -> Result:
    """`policy-push match --profile FILE --json …` against the database at `database_url`, as an officer runs it.

    In a thread: the command runs its own event loop."""
    runner = CliRunner(env={"POLICY_PUSH_DATABASE_URL": database_url})
    return await asyncio.to_thread(runner.invoke, main, ["--log-level", "WARNING", "match", "--profile", str(profile_file), "--json", "--all", *args])


def verdict(result: Result, clause_id: str) -> tuple[str, float | None]:
    assert result.exit_code == 0, result.output
    (decision,) = [d for d in json.loads(result.stdout) if d["clause_id"] == clause_id]
    return decision["status"], decision["amount"]


async def stored_renter(make_client, store, production_matcher, tmp_path: Path) -> tuple[str, str, float | None, Path]:
    """The renter judged by the pipeline on the SQLite store; its stored decision and its profile in a file."""
    client = await make_client(matcher=production_matcher)
    await helpers.deliver(client, *firms.renter_in_a_risk_county())
    as_of, status, amount = (await helpers.verdicts(store, firms.RENTER, firms.RENT_CLAUSE))[-1]
    firm = await (await client.get(f"/api/firms/{firms.RENTER}", headers=await conftest.bearer(store))).json()
    profile_file = tmp_path / "firm.json"
    profile_file.write_text(json.dumps(firm, ensure_ascii=False), encoding="utf-8")  # as GET /api/firms returns it
    return as_of, status, amount, profile_file


@ON_SQLITE
async def test_match_reads_the_county_risk_designation_from_the_database(make_client, store, production_matcher, tmp_path):
    as_of, status, amount, profile_file = await stored_renter(make_client, store, production_matcher, tmp_path)
    assert (status, amount) == ("met", firms.MONTHLY_RENT * firms.RISK_AREA_MONTHS)

    assert verdict(await policy_push_match(store.url, profile_file, "--as-of", as_of), firms.RENT_CLAUSE) == (status, amount)
    # stated risk years win over the stored ones
    none = await policy_push_match(store.url, profile_file, "--as-of", as_of, "--no-risk-years")
    assert verdict(none, firms.RENT_CLAUSE) == ("met", firms.MONTHLY_RENT * firms.MONTHS)


@ON_SQLITE
async def test_match_counts_the_grants_stored_for_the_firm(make_client, store, production_matcher, tmp_path):
    client = await make_client(matcher=production_matcher)
    await helpers.deliver(client, *firms.buyer_past_the_yearly_cap())
    as_of, status, amount = (await helpers.verdicts(store, firms.IP_BUYER, firms.IP_CLAUSE))[-1]
    firm = await (await client.get(f"/api/firms/{firms.IP_BUYER}", headers=await conftest.bearer(store))).json()
    profile_file = tmp_path / "buyer.json"
    profile_file.write_text(json.dumps(firm["profile"], ensure_ascii=False), encoding="utf-8")

    assert verdict(await policy_push_match(store.url, profile_file, "--as-of", as_of), firms.IP_CLAUSE) == (status, amount)


@ON_SQLITE
async def test_without_a_database_match_says_which_facts_it_did_not_read(make_client, store, production_matcher, tmp_path):
    as_of, _, _, profile_file = await stored_renter(make_client, store, production_matcher, tmp_path)
    nowhere = tmp_path / "elsewhere" / "none.sqlite3"

    result = await policy_push_match(f"sqlite+aiosqlite:///{nowhere}", profile_file, "--as-of", as_of)
    assert verdict(result, firms.RENT_CLAUSE) == ("met", firms.MONTHLY_RENT * firms.MONTHS)
    (line,) = result.stderr.splitlines()
    assert "no database" in line and f"designations of county {firms.COUNTY}" in line and firms.RENTER in line
    assert not nowhere.exists()  # the calculator stores nothing, not even an empty database

    stated = await policy_push_match(f"sqlite+aiosqlite:///{nowhere}", profile_file, "--as-of", as_of, "--risk-year", "2022")
    assert verdict(stated, firms.RENT_CLAUSE) == ("met", firms.MONTHLY_RENT * firms.RISK_AREA_MONTHS)


@ON_SQLITE
async def test_match_prints_the_facts_it_judged_with(make_client, store, production_matcher, tmp_path):
    as_of, _, amount, profile_file = await stored_renter(make_client, store, production_matcher, tmp_path)
    runner = CliRunner(env={"POLICY_PUSH_DATABASE_URL": store.url})
    result = await asyncio.to_thread(runner.invoke, main, ["--log-level", "WARNING", "match", "--profile", str(profile_file), "--as-of", as_of])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[1].startswith("judged with: risk years 2022 (stored)")
    assert any(line.startswith("met      yunnan-2022#二(一)") and f"amount {amount:,.2f}" in line for line in lines)


@pytest.mark.postgres
async def test_a_postgresql_database_that_does_not_exist_is_no_database(tmp_path):
    profile_file = tmp_path / "firm.json"
    profile_file.write_text(json.dumps({"uscc": firms.RENTER, "region": firms.COUNTY}), encoding="utf-8")
    missing = sa.engine.make_url(conftest.PG_ADMIN_DSN).set(database=f"policy_push_absent_{secrets.token_hex(6)}")

    result = await policy_push_match(missing.render_as_string(hide_password=False), profile_file, "--as-of", "2022-06-20")
    assert result.exit_code == 0, result.output
    (line,) = result.stderr.splitlines()
    assert "no database" in line and f"designations of county {firms.COUNTY}" in line
