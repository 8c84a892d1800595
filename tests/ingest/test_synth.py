"""`policy-push synth`: deterministic, valid, plausible synthetic firms, loaded like received events."""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
import os
import re
import shutil
import tempfile
from collections.abc import Iterator

import phonenumbers
import pytest
import sqlalchemy as sa
from aiohttp import test_utils
from click.testing import CliRunner
from stdnum.cn import uscc as stdnum_uscc

from connectors import sql_migrate as migrate
from connectors import sql_storage
from engine import settings
from engine.cli import synth as synth_cli
from engine.core import industry_codes, regions
from engine.ingest import event_types, pipeline, synth, synth_data, validation
from engine.judging.derive import size_class
from engine.web import app as app_module
from tests import conftest, factories

DOCUMENTS = tuple(synth_data.JURISDICTIONS)
SUMMARY = re.compile(r"accepted (\d+) · duplicate (\d+) · rejected (\d+) · conflict (\d+)")


def _all(firms: int, seed: int) -> list[tuple[synth.Firm | None, list[dict]]]:
    return list(synth.generate(firms, seed))


def _events(generated) -> list[dict]:
    return [event for _, events in generated for event in events]


def _invoke(database_url: str | None, *args: str, env: dict[str, str] | None = None, create: bool = True):
    # As a user does (`make run`): `policy-push db upgrade` (migrate.upgrade) creates the database, then synth
    # loads it (synth refuses a missing file).
    if database_url is not None and create:
        migrate.upgrade(database_url)
    # The CLI reads its configuration from the environment: give it only what the test means.
    environment = {settings.DATABASE_URL_VAR: database_url, settings.WEBHOOK_SECRETS_VAR: None}
    return CliRunner().invoke(synth_cli.synth, list(args), env={**environment, **(env or {})})


def _counts(output: str) -> tuple[int, int, int, int]:
    match = SUMMARY.search(output)
    assert match, output
    return tuple(int(n) for n in match.groups())


def _query(url: str, sql: str) -> list[tuple]:
    async def go() -> list[tuple]:
        store = sql_storage.SqlStorage(url)
        await store.open()
        try:
            async with store.read() as connection:
                return [tuple(row) for row in (await connection.execute(sa.text(sql))).all()]
        finally:
            await store.close()

    return asyncio.run(go())


# Generation -----------------------------------------------------------------------------------


def test_same_seed_same_data_other_seed_other_data_and_prefixes_are_stable():
    first, again = _all(40, seed=7), _all(40, seed=7)
    assert first == again
    assert _all(15, seed=7) == first[:16]  # region events + 15 firms: firm i does not depend on N
    other = _all(40, seed=8)
    assert {f.uscc for f, _ in first if f} & {f.uscc for f, _ in other if f} == set()
    ids = [e["id"] for e in _events(first)]
    assert len(ids) == len(set(ids)) and all(i.startswith("synth-7-") for i in ids)


def test_thousands_of_generated_events_all_validate():
    events = _events(_all(600, seed=11))
    assert len(events) > 5000
    for event in events:
        validation.validate(event)  # raises Invalid naming the problem
    # A firm's events come in the order they occurred, the registration first.
    by_firm = collections.defaultdict(list)
    for event in events:
        by_firm[event.get("uscc")].append(event)
    for uscc, firm_events in by_firm.items():
        stamps = [e["occurred_at"] for e in firm_events]
        assert stamps == sorted(stamps)
        if uscc:
            assert firm_events[0]["type"] == "firm.registered"


def test_usccs_are_valid_unique_and_carry_the_region():
    firms = [firm for firm, _ in _all(1500, seed=2) if firm]
    assert len({f.uscc for f in firms}) == len(firms)
    for firm in firms:
        assert stdnum_uscc.validate(firm.uscc) == firm.uscc and len(firm.uscc) == 18
        assert firm.uscc[2:8] == firm.region
        assert firm.uscc[:2] == ("92" if firm.legal_form == "individual_business" else "91")
        org = firm.uscc[8:17]
        assert synth.organisation_check(org[:8]) == org[8]  # GB 11714 check character
    # The check is the standard's: real codes from published USCCs.
    assert synth.organisation_check("60003734") == "1"  # 91110000600037341L
    assert synth.organisation_check("M000100Y") == "4"  # 91350100M000100Y43


@pytest.fixture(scope="module")
def catalogue(production_matcher) -> dict[str, str]:
    """Document slug → its jurisdiction, from the rules."""
    return {doc.slug: doc.jurisdiction for doc in production_matcher.catalogue.documents}


def test_firms_are_spread_over_the_five_jurisdictions_with_a_plausible_mix(catalogue):
    generated = _all(1000, seed=1)
    firms = [firm for firm, _ in generated if firm]
    events = _events(generated)

    by_doc = collections.Counter(f.jurisdiction for f in firms)
    assert set(by_doc) == set(DOCUMENTS) and min(by_doc.values()) > 100
    for firm in firms:
        assert regions.is_known_region(firm.region) and regions.in_jurisdiction(firm.region, catalogue[firm.jurisdiction])
        assert len(firm.industry) == 5 and industry_codes.check(firm.industry) is None
        f = firm.figures
        assert size_class.size_class(firm.industry, f.employees, f.revenue, f.assets) == firm.size_class
    sizes = collections.Counter(f.size_class for f in firms)
    assert sizes[size_class.MICRO] + sizes[size_class.SMALL] > 0.8 * len(firms) and sizes[size_class.LARGE] < 0.05 * len(firms)
    forms = collections.Counter(f.legal_form for f in firms)
    assert 0.2 < forms["individual_business"] / len(firms) < 0.4
    sections = collections.Counter(f.industry[:3] if f.industry[:3] in ("F51", "F52", "H62", "I65") else f.industry[0] for f in firms)
    assert {"F51", "F52", "H62", "I65", "C", "A"} <= set(sections)

    kinds = collections.Counter(e["type"] for e in events)
    assert set(kinds) == {t.name for t in event_types.REGISTRY if t.synth is not None}  # every type with a generator
    assert kinds["certification.granted"] < 0.1 * len(firms)  # a few
    years = collections.Counter(e["occurred_at"][:4] for e in events)
    assert years["2022"] > 0.6 * len(events) and years["2023"] > 0
    in_2023 = {e["uscc"] for e in events if e["occurred_at"].startswith("2023")}
    assert in_2023 <= {f.uscc for f in firms if f.jurisdiction == "yangquan-chengqu-2023"}

    data = collections.defaultdict(list)
    for event in events:
        data[event["type"]].append(event["data"])
    monthly = [d["sales"] / (3 if "Q" in d["period"] else 1) for d in data["tax.vat_declared"] if d["taxpayer_type"] == "small_scale"]
    near = sum(100_000 <= m <= 200_000 for m in monthly)
    assert near > 0.15 * len(monthly) and sum(m <= 150_000 for m in monthly) > near / 2
    assert {d["landlord_type"] for d in data["lease.reported"]} == {"state_owned_enterprise", "government_agency", "private"}
    agri_firms = {f.uscc for f in firms if f.industry.startswith("A")}
    agri_loans = [e for e in events if e["type"] == "loan.issued" and e["data"]["kind"] == "agricultural"]
    assert agri_loans and {e["uscc"] for e in agri_loans} <= agri_firms
    assert any(h for d in data["social_insurance.reported"] for h in d.get("hires", {}).values())
    for contact in data["contact.updated"]:
        number = phonenumbers.parse(contact["mobile"], "CN")
        assert phonenumbers.is_valid_number(number) and phonenumbers.number_type(number) == phonenumbers.PhoneNumberType.MOBILE
        assert "email" not in contact or contact["email"].rsplit("@", 1)[1] in synth_data.EMAIL_DOMAINS
        assert contact["consent"]
    risk = data["region.risk_designated"]
    assert 3 <= len(risk) <= 6 and {d["year"] for d in risk} == {2022}


def test_every_county_in_the_code_lists_is_current_and_inside_its_jurisdiction(catalogue):
    assert set(catalogue) == set(synth_data.JURISDICTIONS)
    for slug, (_, counties) in synth_data.JURISDICTIONS.items():
        for county in counties:
            assert regions.is_known_region(county) and regions.in_jurisdiction(county, catalogue[slug]), county
            assert regions.ancestry(county)[0] == county  # county level, not a city grouping


# Loading through the CLI, then the pipeline --------------------------------------------------------


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> Iterator[str]:
    """A folder for the demo database: on tmpfs where there is one, since this test is about what
    the pipeline makes of the data, not about fsync (which would triple the fold's time here)."""
    if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK):
        folder = tempfile.mkdtemp(prefix="policy-push-synth-", dir="/dev/shm")
        yield folder
        shutil.rmtree(folder, ignore_errors=True)
    else:
        yield str(tmp_path_factory.mktemp("synth"))


@pytest.fixture(scope="module")
def demo(scratch, production_matcher) -> dict:
    """200 firms loaded by `policy-push synth`, then folded by the pipeline with the real matcher."""
    url = f"sqlite+aiosqlite:///{scratch}/demo.sqlite3"
    result = _invoke(url, "--firms", "200", "--seed", "1")
    assert result.exit_code == 0, result.output

    async def fold() -> int:
        store = sql_storage.SqlStorage(url)
        await store.open()
        try:
            return await pipeline.Pipeline(store, production_matcher).run_once()
        finally:
            await store.close()

    return {"url": url, "output": result.output, "folded": asyncio.run(fold())}


def test_cli_loads_the_firms_and_the_pipeline_finds_matches_in_all_five_documents(demo):
    accepted, duplicate, rejected, conflict = _counts(demo["output"])
    assert accepted > 1500 and (duplicate, rejected, conflict) == (0, 0, 0)
    assert "firms by jurisdiction:" in demo["output"] and "events/s" in demo["output"]
    assert demo["folded"] == accepted
    assert _query(demo["url"], "SELECT status, count(*) FROM event GROUP BY status") == [("processed", accepted)]
    headers = _query(demo["url"], "SELECT headers FROM event LIMIT 1")[0][0]
    assert "policy-push synth" in headers

    met = collections.Counter(cite.split("#")[0] for (cite,) in _query(demo["url"], "SELECT cite FROM decision WHERE status = 'met'"))
    assert set(met) == set(DOCUMENTS) and min(met.values()) >= 10, met
    # Benefits that need the rarer records: a state-owned lease's rent waiver, an IP purchase grant,
    # small-low-profit relief in 2023.
    cited = {cite for (cite,) in _query(demo["url"], "SELECT DISTINCT cite FROM decision WHERE status = 'met' AND amount > 0")}
    assert "yunnan-2022#二(一)" in cited
    assert _query(demo["url"], "SELECT count(*) FROM decision WHERE status = 'met' AND clause_id = 'yangquan-chengqu-2023-6'")[0][0] > 0
    notices = _query(demo["url"], "SELECT channel, count(*) FROM notice GROUP BY channel")
    assert dict(notices).keys() == {"sms", "email"} and min(n for _, n in notices) > 100


def test_a_rerun_is_idempotent(demo):
    before = _query(demo["url"], "SELECT count(*) FROM event")[0][0]
    result = _invoke(demo["url"], "--firms", "200", "--seed", "1", "--batch", "700")
    assert result.exit_code == 0, result.output
    assert _counts(result.output) == (0, before, 0, 0)
    assert _query(demo["url"], "SELECT count(*) FROM event")[0][0] == before


def test_if_empty_skips_a_database_that_holds_events_and_loads_an_empty_one(demo, tmp_path):
    before = _query(demo["url"], "SELECT count(*) FROM event")[0][0]
    result = _invoke(demo["url"], "--firms", "5", "--seed", "99", "--if-empty")
    assert result.exit_code == 0 and "already holds events; --if-empty: nothing loaded" in result.output
    assert _query(demo["url"], "SELECT count(*) FROM event")[0][0] == before

    empty = f"sqlite+aiosqlite:///{tmp_path / 'empty.sqlite3'}"
    result = _invoke(empty, "--firms", "5", "--seed", "99", "--if-empty")
    assert result.exit_code == 0, result.output
    assert _counts(result.output)[0] == _query(empty, "SELECT count(*) FROM event")[0][0] > 5


def test_refuses_to_load_where_notices_would_really_go_out(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'live.sqlite3'}"
    live = {"POLICY_PUSH_SMTP_URL": "smtp://mail.example.com:25"}
    refused = _invoke(url, "--firms", "3", env=live, create=False)
    assert refused.exit_code == 2 and "POLICY_PUSH_SMTP_URL" in refused.output
    skipped = _invoke(url, "--firms", "3", "--if-empty", env=live, create=False)  # `make run` on a live setup: skip, do not fail
    assert skipped.exit_code == 0 and "skipped" in skipped.output
    assert not os.path.exists(tmp_path / "live.sqlite3")
    forced = _invoke(url, "--firms", "3", "--allow-live-channels", env=live)
    assert forced.exit_code == 0 and _counts(forced.output)[0] > 0


@pytest.mark.postgres
def test_loads_into_postgresql_idempotently():
    url = asyncio.run(conftest.create_pg_database())
    try:
        first = _invoke(url, "--firms", "15", "--seed", "4", "--batch", "40")
        assert first.exit_code == 0, first.output
        accepted = _counts(first.output)[0]
        assert accepted == _query(url, "SELECT count(*) FROM event")[0][0] > 15
        again = _invoke(url, "--firms", "15", "--seed", "4")
        assert _counts(again.output) == (0, accepted, 0, 0)
    finally:
        asyncio.run(conftest.drop_pg_database(url))


# Replay as signed webhooks ---------------------------------------------------------------------------


async def test_url_mode_posts_signed_batches_the_service_accepts(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'served.sqlite3'}"
    await asyncio.to_thread(migrate.upgrade, url)
    store = sql_storage.SqlStorage(url)
    app = app_module.create_app(settings.Settings(webhook_secrets=(factories.SECRET,)), store=store, run_pipeline=False)
    expected = _events(_all(25, seed=5))
    async with test_utils.TestServer(app) as server:
        base = str(server.make_url("/"))
        args = ["--firms", "25", "--seed", "5", "--url", base, "--secret", factories.SECRET, "--batch", "60"]
        first = await asyncio.to_thread(_invoke, None, *args)
        assert first.exit_code == 0, first.output
        assert _counts(first.output) == (len(expected), 0, 0, 0)
        again = await asyncio.to_thread(_invoke, None, *args)
        assert _counts(again.output) == (0, len(expected), 0, 0)
        stored = await store.get_event(expected[-1]["id"])
        assert stored is not None and stored.headers["user-agent"] == "policy-push synth"

        wrong = await asyncio.to_thread(_invoke, None, *args[:-4], "--secret", factories.OTHER_SECRET)
        assert wrong.exit_code == 1 and "401" in wrong.output
    assert synth.count_types(expected)["firm.registered"] == 25


def test_url_mode_needs_a_secret_and_no_if_empty():
    assert _invoke(None, "--firms", "1", "--url", "http://127.0.0.1:9").exit_code == 2
    both = _invoke(None, "--firms", "1", "--url", "http://127.0.0.1:9", "--secret", factories.SECRET, "--if-empty")
    assert both.exit_code == 2 and "--if-empty" in both.output
    bad = _invoke(None, "--firms", "1", "--url", "http://127.0.0.1:9", "--secret", "nope")
    assert bad.exit_code == 2 and "--secret" in bad.output


def test_generated_dates_leave_room_before_now():
    # The webhook rejects events from the future; every synthetic event lies well in the past.
    latest = max(e["occurred_at"] for e in _events(_all(200, seed=3)))
    assert dt.datetime.fromisoformat(latest) < dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
