"""The `rules` group (lint, list, test) and the `match` command."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from engine.cli import rules as cli
from engine.judging.catalogue import durable, loader
from engine.judging.catalogue import scenarios as scenarios_module
from tests.catalogue import numbering

REPO_RULES = loader.REPO_ROOT / "rules"

PROFILE = {
    "uscc": "91140302MA0K4XBX2F", "name": "阳泉市城区示例商贸有限公司", "region": "140302", "industry": "F5211",
    "legal_form": "enterprise", "registered_on": "2020-03-15",
    "tax": {"taxpayer_type": "small_scale",
            "cit": {"2022": {"taxable_income": 800000.0, "revenue": 6000000.0, "assets": 4000000.0, "employees": 35}}},
    "social_insurance": {"2023-04": {"insured": 35, "unemployment_insurance_paid": True, "layoffs": 0}},
}


@pytest.fixture
def runner(tmp_path) -> CliRunner:
    # `match` reads stored facts from the configured database: point it at one that does not exist.
    return CliRunner(env={"POLICY_PUSH_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'none.sqlite3'}"})


def _scenario_count() -> int:
    """Scenarios written in the document folders (each file is a list of them)."""
    return sum(len(yaml.safe_load(path.read_text(encoding="utf-8"))) for path in scenarios_module.scenario_files(REPO_RULES))


def test_lint_ok(runner, catalogue):
    result = runner.invoke(cli.rules, ["lint"])
    assert result.exit_code == 0, result.output
    expected = numbering.by_document(REPO_RULES, catalogue)  # the clauses each source text numbers
    documents = len(loader.document_dirs(REPO_RULES))
    assert (f"ok: {sum(map(len, expected.values()))} clauses in {documents} documents "
            f"({len(catalogue.clauses)} rules, {len(catalogue.executable())} executable), {_scenario_count()} scenarios"
            ) in result.output


def test_lint_reports_every_problem_and_fails(runner, tmp_path):
    rules = tmp_path / "rules"
    shutil.copytree(REPO_RULES / "yunnan-2022", rules / "yunnan-2022")
    source = yaml.safe_load((rules / "yunnan-2022" / "clauses.yaml").read_text(encoding="utf-8"))
    source["clauses"][0]["category"] = "补贴"
    source["clauses"][1]["conditions"] = {"all": [{"attr": "foo", "op": "eq", "value": True, "quote": "小微企业"}]}
    (rules / "yunnan-2022" / "clauses.yaml").write_text(yaml.safe_dump(source, allow_unicode=True), encoding="utf-8")
    result = runner.invoke(cli.rules, ["--rules-dir", str(rules), "lint"])
    assert result.exit_code == 1
    assert "rules/yunnan-2022/clauses.yaml: clauses[0].category: bad category '补贴'" in result.output
    assert "rules/yunnan-2022/clauses.yaml: clauses[1].conditions.all[0].attr: unknown attribute 'foo'" in result.output


def test_list(runner, catalogue):
    cites = [cite for found in numbering.by_document(REPO_RULES, catalogue).values() for cite in found]
    result = runner.invoke(cli.rules, ["list", "--json"])
    assert result.exit_code == 0
    rows = json.loads(result.output)
    assert list(dict.fromkeys(row["cite"] for row in rows)) == cites  # every numbered clause of every text, in order
    (row,) = [r for r in rows if r["id"] == "yunnan-2022-2-1"]
    assert row == {"id": "yunnan-2022-2-1", "cite": "yunnan-2022#二(一)", "title": "加力房租减免", "category": "减免",
                   "firm_facing": True, "mode": "auto_grant", "jurisdiction": "530000", "valid_from": "2022-05-31",
                   "valid_to": "2022-12-31", "executable": True, "part": None}
    (part,) = [r for r in rows if r["id"] == "yunnan-2022-2-5-deposit"]
    assert part["cite"] == "yunnan-2022#二(五)" and part["part"] == "旅行社旅游服务质量保证金暂退比例提高到100％"
    text = runner.invoke(cli.rules, ["list"]).output.splitlines()
    assert len(text) == len(rows)
    assert "yunnan-2022-2-1\tyunnan-2022#二(一)\t加力房租减免\t减免\ttrue\tauto_grant\t530000\t2022-05-31\t2022-12-31\ttrue\t" in text


def test_test_runs_both_evaluators(runner):
    result = runner.invoke(cli.rules, ["test"])
    assert result.exit_code == 0, result.output
    count = _scenario_count()
    assert f"reference: {count} passed, 0 failed" in result.output
    assert f"durable-rules: {count} passed, 0 failed" in result.output


def test_test_fails_on_a_wrong_scenario(runner, tmp_path):
    rules = tmp_path / "rules"
    shutil.copytree(REPO_RULES / "yunnan-2022", rules / "yunnan-2022")
    path = rules / "yunnan-2022" / "scenarios.yaml"
    scenarios = yaml.safe_load(path.read_text(encoding="utf-8"))
    scenarios[0]["expect"]["amount"] = 1.0
    path.write_text(yaml.safe_dump(scenarios, allow_unicode=True), encoding="utf-8")
    result = runner.invoke(cli.rules, ["--rules-dir", str(rules), "test"])
    assert result.exit_code == 1
    assert f"FAIL [reference] rules/yunnan-2022/scenarios.yaml: {scenarios[0]['name']}" in result.output
    assert f"durable-rules: {len(scenarios) - 1} passed, 1 failed" in result.output


def test_test_without_the_extension(runner, monkeypatch):
    monkeypatch.setattr(durable, "engine", None)
    result = runner.invoke(cli.rules, ["test"])
    assert result.exit_code == 0
    assert f"reference: {_scenario_count()} passed" in result.output and "durable-rules:" not in result.output


@pytest.fixture
def profile_file(tmp_path) -> Path:
    path = tmp_path / "profile.json"
    path.write_text(json.dumps({"profile": PROFILE}, ensure_ascii=False), encoding="utf-8")
    return path


def test_match_shows_met_and_unknown(runner, profile_file):
    result = runner.invoke(cli.match, ["--profile", str(profile_file), "--as-of", "2023-06-15"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("as of 2023-06-15:")
    assert any(line.startswith("met      yangquan-chengqu-2023#19") for line in lines)
    assert any(line.startswith("unknown  yangquan-chengqu-2023#11") and "needs:" in line for line in lines)
    assert not any(line.startswith("not_met") for line in lines)
    everything = runner.invoke(cli.match, ["--profile", str(profile_file), "--as-of", "2023-06-15", "--all"])
    assert any(line.startswith("not_met  yunnan-2022#二(一)") for line in everything.output.splitlines())


def test_match_json(runner, profile_file, catalogue):
    result = runner.invoke(cli.match, ["--profile", str(profile_file), "--as-of", "2023-06-15", "--json", "--all"])
    decisions = json.loads(result.stdout)
    by_cite = {d["cite"]: d for d in decisions}
    # every firm-facing clause, once (a clause of several parts once per part)
    assert sorted(d["clause_id"] for d in decisions) == sorted(c.id for c in catalogue.firm_facing())
    assert sorted(by_cite) == sorted({c.cite for c in catalogue.firm_facing()})
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
        (waiver,) = [d for d in json.loads(result.stdout) if d["cite"] == "yunnan-2022#二(一)"]
        assert (waiver["status"], waiver["amount"]) == ("met", amount)


def test_windows_lists_openings_and_closings_in_chinese(runner):
    result = runner.invoke(cli.rules, ["windows", "--from", "2022-05-25", "--days", "40"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "2022年5月25日至2022年7月4日：15项政策条款开始施行，1项停止施行"
    assert "2022年5月31日  开始施行（当日按新条款判定已有企业）  yunnan-2022#二(一)  加力房租减免  [yunnan-2022-2-1]" in lines
    assert lines[-1] == "2022年7月1日  停止施行（2022年6月30日为最后一天）  yunnan-2022#二(二)  加力税收优惠政策  [yunnan-2022-2-2]"


def test_windows_json_and_a_quiet_span(runner):
    result = runner.invoke(cli.rules, ["windows", "--from", "2022-06-02", "--days", "20", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == []
    quiet = runner.invoke(cli.rules, ["windows", "--from", "2022-06-02", "--days", "20"])
    assert quiet.output.strip() == "2022年6月2日至2022年6月22日没有政策条款开始或停止施行"
    found = json.loads(runner.invoke(cli.rules, ["windows", "--from", "2022-06-01", "--days", "0", "--json"]).output)
    assert found == [{"on": "2022-06-01", "kind": "opens", "clause_id": "yunnan-2022-1-3", "cite": "yunnan-2022#一(三)",
                      "title": "融资便利专项行动"}]


def test_windows_refuses_a_malformed_date(runner):
    result = runner.invoke(cli.rules, ["windows", "--from", "2022-13-01"])
    assert result.exit_code == 2 and "--from" in result.output and "is not a date" in result.output
