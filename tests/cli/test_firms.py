"""`policy-push firms revoke-links USCC`: an operator at the server stops a firm's page links (audited)."""

from __future__ import annotations

import asyncio

import pytest
from click.testing import CliRunner

from engine.cli import main
from tests import conftest
from tests.firm_page import seed


@pytest.mark.parametrize("store", conftest.SQL_BACKENDS, indirect=True)
async def test_revoke_links_stops_the_firms_links_and_is_audited(store, production_matcher):
    await seed.two_firms(store, production_matcher)
    runner = CliRunner(env={"POLICY_PUSH_DATABASE_URL": store.url})
    result = await asyncio.to_thread(runner.invoke, main, ["--log-level", "WARNING", "firms", "revoke-links", seed.RENTER.lower()])
    assert result.exit_code == 0, result.output
    assert seed.RENTER in result.stdout
    assert await store.links_revoked_before(seed.RENTER) is not None
    assert await store.links_revoked_before(seed.OTHER) is None
    [entry] = [e async for e in store.audit_entries() if e.action == "firm.links_revoked"]
    assert entry.subject_id == seed.RENTER and entry.actor.startswith("cli (")
    unknown = await asyncio.to_thread(runner.invoke, main, ["--log-level", "WARNING", "firms", "revoke-links", "91110000000000000X"])
    assert unknown.exit_code != 0 and "no firm 91110000000000000X" in unknown.output
