"""The `rules` group (lint, list, test) and the `match` command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from engine.cli import rules as cli
from engine.judging.catalogue import durable

PROFILE = {
    "uscc": "91140302MA0K4XBX2F", "name": "阳泉市城区示例商贸有限公司", "region": "140302", "industry": "F5211",
    "legal_form": "enterprise", "registered_on": "2020-03-15",
    "tax": {"taxpayer_type": "small_scale",
            "cit": {"2022": {"taxable_income": 800000.0, "revenue": 6000000.0, "assets": 4000000.0, "employees": 35}}},
    "social_insurance": {"2023-04": {"insured": 35, "unemployment_insurance_paid": True, "layoffs": 0}},
}


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_lint_ok(runner):
    result = runner.invoke(cli.rules, ["lint"])
    assert result.exit_code == 0, result.output
    assert "ok: 141 clauses in 5 documents (80 executable), 255 scenarios" in result.output


def test_lint_reports_every_problem_and_fails(runner, tmp_path):
    rules = tmp_path / "rules"
    rules.mkdir()
    source = yaml.safe_load((Path(__file__).parents[2] / "rules" / "yunnan-2022.yaml").read_text(encoding="utf-8"))
    source["clauses"][0]["category"] = "补贴"
    source["clauses"][1]["conditions"] = {"all": [{"attr": "foo", "op": "eq", "value": True}]}
    (rules / "yunnan-2022.yaml").write_text(yaml.safe_dump(source, allow_unicode=True), encoding="utf-8")
    result = runner.invoke(cli.rules, ["--rules-dir", str(rules), "lint"])
    assert result.exit_code == 1
    assert "rules/yunnan-2022.yaml: clauses[0].category: bad category '补贴'" in result.output
    assert "rules/yunnan-2022.yaml: clauses[1].conditions.all[0].attr: unknown attribute 'foo'" in result.output


def test_list(runner):
    result = runner.invoke(cli.rules, ["list", "--json"])
    assert result.exit_code == 0
    rows = json.loads(result.output)
    assert len(rows) == 141
    (row,) = [r for r in rows if r["id"] == "yunnan-2022-2-1"]
    assert row == {"id": "yunnan-2022-2-1", "cite": "yunnan-2022#二(一)", "title": "加力房租减免", "category": "减免",
                   "firm_facing": True, "mode": "auto_grant", "jurisdiction": "530000", "valid_from": "2022-05-31",
                   "valid_to": "2022-12-31", "executable": True}
    text = runner.invoke(cli.rules, ["list"]).output.splitlines()
    assert len(text) == 141
    assert "yunnan-2022-2-1\tyunnan-2022#二(一)\t加力房租减免\t减免\ttrue\tauto_grant\t530000\t2022-05-31\t2022-12-31\ttrue" in text


def test_test_runs_both_evaluators(runner):
    result = runner.invoke(cli.rules, ["test"])
    assert result.exit_code == 0, result.output
    assert "reference: 255 passed, 0 failed" in result.output
    assert "durable-rules: 255 passed, 0 failed" in result.output


def test_test_fails_on_a_wrong_scenario(runner, tmp_path):
    repo = Path(__file__).parents[2] / "rules"
    rules = tmp_path / "rules"
    (rules / "scenarios").mkdir(parents=True)
    (rules / "yunnan-2022.yaml").write_text((repo / "yunnan-2022.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    scenarios = yaml.safe_load((repo / "scenarios" / "yunnan-2022.yaml").read_text(encoding="utf-8"))
    scenarios[0]["expect"]["amount"] = 1.0
    (rules / "scenarios" / "yunnan-2022.yaml").write_text(yaml.safe_dump(scenarios, allow_unicode=True), encoding="utf-8")
    result = runner.invoke(cli.rules, ["--rules-dir", str(rules), "test"])
    assert result.exit_code == 1
    assert f"FAIL [reference] rules/scenarios/yunnan-2022.yaml: {scenarios[0]['name']}" in result.output
    assert "durable-rules: 39 passed, 1 failed" in result.output


def test_test_without_the_extension(runner, monkeypatch):
    monkeypatch.setattr(durable, "engine", None)
    result = runner.invoke(cli.rules, ["test"])
    assert result.exit_code == 0
    assert "reference: 255 passed" in result.output and "durable-rules:" not in result.output


@pytest.fixture
def profile_file(tmp_path) -> Path:
    path = tmp_path / "profile.json"
    path.write_text(json.dumps({"profile": PROFILE}, ensure_ascii=False), encoding="utf-8")
    return path


def test_match_shows_met_and_unknown(runner, profile_file):
    result = runner.invoke(cli.match, ["--profile", str(profile_file), "--as-of", "2023-06-15"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("as of 2023-06-15:")
    assert any(line.startswith("met      yangquan-chengqu-2023#19") for line in lines)
    assert any(line.startswith("unknown  yangquan-chengqu-2023#16") and "needs:" in line for line in lines)
    assert not any(line.startswith("not_met") for line in lines)
    everything = runner.invoke(cli.match, ["--profile", str(profile_file), "--as-of", "2023-06-15", "--all"])
    assert any(line.startswith("not_met  yunnan-2022#二(一)") for line in everything.output.splitlines())


def test_match_json(runner, profile_file):
    result = runner.invoke(cli.match, ["--profile", str(profile_file), "--as-of", "2023-06-15", "--json", "--all"])
    decisions = json.loads(result.output)
    by_cite = {d["cite"]: d for d in decisions}
    assert len(decisions) == 106  # every firm-facing clause
    met = by_cite["yangquan-chengqu-2023#19"]
    assert met["status"] == "met" and met["title"] and len(met["rule_version"]) == 12
    assert met["explanation"]["jurisdiction"] == {"required": "140302", "seen": "140302", "verdict": "met"}
    assert met["facts"]["region"] == "140302"


def test_match_rejects_bad_input(runner, tmp_path, profile_file):
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]", encoding="utf-8")
    assert runner.invoke(cli.match, ["--profile", str(bad)]).exit_code == 2
    assert runner.invoke(cli.match, ["--profile", str(profile_file), "--as-of", "2023-13-01"]).exit_code == 2


def test_match_risk_years(runner, tmp_path):
    renter = {"region": "530102", "industry": "F5211", "legal_form": "enterprise",
              "tax": {"cit": {"2021": {"taxable_income": 500000.0, "revenue": 3000000.0, "assets": 2000000.0,
                                        "employees": 20}}},
              "leases": {"L1": {"landlord_type": "government_agency", "monthly_rent": 8000.0}}}
    path = tmp_path / "renter.json"
    path.write_text(json.dumps(renter), encoding="utf-8")
    for extra, amount in (([], 24000.0), (["--risk-year", "2022"], 48000.0)):
        result = runner.invoke(cli.match, ["--profile", str(path), "--as-of", "2022-06-15", "--json", *extra])
        (waiver,) = [d for d in json.loads(result.output) if d["cite"] == "yunnan-2022#二(一)"]
        assert (waiver["status"], waiver["amount"]) == ("met", amount)
