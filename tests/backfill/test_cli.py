"""The commands as an operator runs them, as real processes on a SQLite file: `rules diff` names
the firm a corrected rule affects, `backfill --changed` applies it, and worker processes judge
exactly what the calling process would."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys

import click
import pytest

from connectors import sql_migrate as migrate
from connectors import sql_storage
from engine.cli import backfill as backfill_cli
from tests.backfill import helpers

pytestmark = pytest.mark.process


@pytest.fixture
async def database(tmp_path, production_matcher):
    """The three 西宁 firms judged under the draft rule, in a SQLite file the commands open."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'bf.sqlite3'}"
    await asyncio.to_thread(migrate.upgrade, url)
    store = sql_storage.SqlStorage(url)
    await store.open()
    try:
        await helpers.ingest(store, helpers.wrong_matcher(tmp_path), helpers.qinghai_vat_firms())
    finally:
        await store.close()
    return url


def policy_push(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "POLICY_PUSH_DATABASE_URL": url}
    env.pop("POLICY_PUSH_RULES_DIR", None)
    return subprocess.run([sys.executable, "-m", "engine.cli", "--log-level", "WARNING", *args],
                          env=env, capture_output=True, text=True, timeout=300)


async def test_rules_diff_then_backfill_changed_applies_the_correction(database):
    diff = policy_push(database, "rules", "diff", "--as-of", "2022-04-15", "--workers", "0")
    assert diff.returncode == 0, diff.stderr
    assert "qinghai-2022#(二)" in diff.stdout
    assert f"{helpers.AT_THRESHOLD}  qinghai-2022#(二): not_met" in diff.stdout
    assert "→ met" in diff.stdout.split(helpers.AT_THRESHOLD)[1].splitlines()[0]
    assert "apply with: policy-push backfill --changed --as-of 2022-04-15" in diff.stdout

    applied = policy_push(database, "backfill", "--changed", "--as-of", "2022-04-15", "--workers", "0", "--json")
    assert applied.returncode == 0, applied.stderr
    report = json.loads(applied.stdout)
    assert (report["recorded"], report["notices_created"], report["dry_run"]) == (3, 2, False)

    again = policy_push(database, "rules", "diff", "--as-of", "2022-04-15", "--workers", "0")
    assert again.returncode == 0, again.stderr
    assert "nothing to apply" in again.stdout


async def test_worker_processes_judge_what_one_process_judges(database):
    one = policy_push(database, "backfill", "--all", "--dry-run", "--as-of", "2022-07-15", "--workers", "0", "--json")
    two = policy_push(database, "backfill", "--all", "--dry-run", "--as-of", "2022-07-15", "--workers", "2",
                      "--batch-size", "1", "--json")
    assert one.returncode == two.returncode == 0, (one.stderr, two.stderr)
    first, second = json.loads(one.stdout), json.loads(two.stdout)
    for report in (first, second):
        report.pop("seconds")
    assert first == second
    assert first["firms"] == 3 and first["changes"] > 0


async def test_worker_processes_record_what_one_process_records(database, tmp_path):
    """A real run: the workers send explanations and facts as JSON text, which the writer stores as is;
    read back, every decision is the one the calling process stores itself, and the audit trail verifies."""
    copy = tmp_path / "copy.sqlite3"
    shutil.copy(database.split("///", 1)[1], copy)
    other = f"sqlite+aiosqlite:///{copy}"
    one = policy_push(database, "backfill", "--all", "--as-of", "2022-07-15", "--workers", "0", "--json")
    two = policy_push(other, "backfill", "--all", "--as-of", "2022-07-15", "--workers", "2", "--batch-size", "1", "--json")
    assert one.returncode == two.returncode == 0, (one.stderr, two.stderr)
    assert json.loads(one.stdout)["recorded"] == json.loads(two.stdout)["recorded"] > 0

    async def recorded(url: str) -> list[tuple]:
        store = sql_storage.SqlStorage(url)
        await store.open()
        try:
            return sorted([
                (s.uscc, s.decision.clause_id, s.decision.status.value, s.decision.amount,
                 json.dumps(s.decision.explanation, sort_keys=True, ensure_ascii=False),
                 json.dumps(s.decision.facts, sort_keys=True, ensure_ascii=False))
                for uscc in (helpers.AT_THRESHOLD, helpers.BELOW, helpers.ABOVE) for s in await store.decisions(uscc)
                if s.as_of.isoformat() == "2022-07-15"
            ])
        finally:
            await store.close()

    by_one, by_workers = await recorded(database), await recorded(other)
    assert by_one == by_workers
    assert all(json.loads(row[4])["conditions"] or json.loads(row[4])["status"] for row in by_workers)
    for url in (database, other):
        verified = policy_push(url, "audit", "verify")
        assert verified.returncode == 0 and verified.stdout.startswith("ok: "), verified.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "exactly one of --clause (repeatable), --document, --all or --changed"),
        (("--all", "--document", "yunnan-2022"), "got --document and --all"),
        (("--clause", "no-such-clause"), "not a firm-facing clause of the catalogue: no-such-clause"),
        (("--document", "beijing-2099"), "no document 'beijing-2099'"),
        (("--all", "--as-of", "2022-13-01"), "Invalid value for '--as-of': '2022-13-01' is not a date (YYYY-MM-DD)"),
    ],
)
async def test_a_bad_selection_is_refused_with_the_option_named(database, args, message):
    result = policy_push(database, "backfill", "--dry-run", *args)
    assert result.returncode == 2
    assert message in result.stderr


async def test_a_dry_run_prints_the_preview_tables(database):
    result = policy_push(database, "backfill", "--document", "qinghai-2022", "--dry-run", "--as-of", "2022-04-15", "--workers", "0")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.startswith("dry run: nothing stored — as of 2022-04-15, 3 firms")
    assert "notices that would be created: email 1, sms 1" in out
    assert "by clause:" in out and "qinghai-2022#(二)" in out
    assert "by region (city):" in out and "630100  西宁市" in out


def test_changed_with_every_rule_current_judges_nothing(production_matcher, capsys):
    current = {c.id: {c.rule_version} for c in production_matcher.catalogue.firm_facing()}
    with pytest.raises(click.exceptions.Exit) as stopped:
        backfill_cli._select(production_matcher, (), None, False, True, current)
    assert stopped.value.exit_code == 0
    assert "nothing to apply" in capsys.readouterr().out
    # One clause judged under an older rule is all `--changed` selects.
    current["qinghai-2022-2"] = {"0ld0ld0ld0ld"}
    assert backfill_cli._select(production_matcher, (), None, False, True, current) == {"qinghai-2022-2"}


async def test_a_shared_run_is_worked_by_its_starter_and_a_process_that_joins_it(database):
    # Started with one worker process claiming batches of one firm; the join (another process, as on
    # another machine) finds every batch done and writes nothing more.
    started = policy_push(database, "backfill", "--changed", "--as-of", "2022-04-15", "--shared", "--workers", "1",
                          "--batch-size", "1", "--json")
    assert started.returncode == 0, started.stderr
    report = json.loads(started.stdout)
    assert (report["this_process"]["recorded"], report["this_process"]["notices_created"]) == (3, 2)
    assert report["run_batches"] == {"done": 3} and report["run_finished"]
    assert f"policy-push backfill --join {report['run']}" in started.stderr
    joined = policy_push(database, "backfill", "--join", report["run"])
    assert joined.returncode == 0, joined.stderr
    assert "this process: 0 firms" in joined.stdout and "batches 3 done, 0 claimed, 0 pending" in joined.stdout
    assert "3 firms judged, 3 decisions and 2 notices recorded" in joined.stdout
    # Bad uses are refused, naming what is wrong.
    unknown = policy_push(database, "backfill", "--join", "no-such-run")
    assert unknown.returncode == 2 and "no backfill run 'no-such-run'" in unknown.stderr
    mixed = policy_push(database, "backfill", "--join", report["run"], "--all")
    assert mixed.returncode == 2 and "--join works on the run as it was started" in mixed.stderr
    dry = policy_push(database, "backfill", "--all", "--shared", "--dry-run")
    assert dry.returncode == 2 and "preview with --dry-run without them" in dry.stderr
