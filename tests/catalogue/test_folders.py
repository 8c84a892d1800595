"""A document is one folder: the rules directory needs nothing beside it, and a new document is a new folder."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from engine.cli import rules as cli
from engine.judging.catalogue import loader

REPO_RULES = loader.REPO_ROOT / "rules"

#: A tiny sixth document: its text, one clause quoting it, two scenarios of that clause.
SOURCE = """关于支持小微企业发展的若干措施

1. 房租补贴。对本区承租经营场所的小微企业，每月给予租金10%的补贴，免申即享。

2. 加强组织领导。各部门按职责抓好落实。

本措施自2024年1月1日起施行，有效期至2024年12月31日。
"""
DOCUMENT = {
    "document": {"slug": "test-2024", "title": "关于支持小微企业发展的若干措施", "number": None,
                 "issuer": "示例区人民政府办公室", "jurisdiction": "530102",
                 "valid_from": "2024-01-01", "valid_to": "2024-12-31",
                 "basis": {"valid_from": {"quote": "本措施自2024年1月1日起施行"},
                           "valid_to": {"quote": "有效期至2024年12月31日"}}},
    "clauses": [
        {"id": "test-2024-1", "cite": "test-2024#1", "title": "房租补贴",
         "text": "1. 房租补贴。对本区承租经营场所的小微企业，每月给予租金10%的补贴，免申即享。",
         "category": "奖补", "firm_facing": True, "mode": "auto_grant", "agencies": [],
         "basis": {"mode": {"quote": "免申即享", "reason": "no_application"}},
         "jurisdiction": "530102", "valid_from": "2024-01-01", "valid_to": "2024-12-31",
         "conditions": {"all": [{"attr": "small_micro", "op": "eq", "value": True, "quote": "小微企业"},
                                {"attr": "state_owned_lease", "op": "eq", "value": True, "quote": "承租经营场所"}]},
         "benefit": {"kind": "rent_subsidy", "unit": "yuan", "description": "每月租金10%的补贴",
                     "formula": "rate * state_owned_monthly_rent",
                     "params": {"rate": {"value": 0.1, "quote": "每月给予租金10%的补贴"}}}},
        {"id": "test-2024-2", "cite": "test-2024#2", "title": "加强组织领导",
         "text": "2. 加强组织领导。各部门按职责抓好落实。",
         "category": "机构职责", "firm_facing": False, "mode": "inform", "agencies": [],
         "jurisdiction": "530102", "valid_from": "2024-01-01", "valid_to": "2024-12-31"},
    ],
}
SCENARIOS = [
    {"name": "示例区小微企业月租5000元——补贴500元", "clause": "test-2024-1", "as_of": "2024-03-01",
     "attributes": {"region": "530102", "small_micro": True, "state_owned_lease": True,
                    "state_owned_monthly_rent": 5000},
     "expect": {"status": "met", "amount": 500.0}},
    # A clause computing an amount has one from a profile too: its derivation, end to end.
    {"name": "档案——示例区零售小型企业承租国企房屋月租5000元——补贴500元", "clause": "test-2024-1", "as_of": "2024-03-01",
     "profile": {"uscc": "91530102MA6K0TS01K", "name": "示例零售有限公司", "region": "530102", "industry": "F5211",
                 "legal_form": "enterprise",
                 "tax": {"cit": {"2023": {"taxable_income": 100000, "revenue": 3000000, "assets": 1000000, "employees": 20}}},
                 "leases": {"L": {"landlord_type": "state_owned_enterprise", "monthly_rent": 5000,
                                  "start": "2023-01-01", "end": "2025-12-31"}}},
     "expect": {"status": "met", "amount": 500.0}},
    {"name": "示例区中型企业——不适用", "clause": "test-2024-1", "as_of": "2024-03-01",
     "attributes": {"region": "530102", "small_micro": False, "state_owned_lease": True},
     "expect": {"status": "not_met"}},
]


def _dump(path: Path, data) -> None:
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")


@pytest.fixture
def lone_rules(tmp_path: Path) -> Path:
    """A copy of the repository's rules folder in a directory with nothing beside it (no ../shared)."""
    target = tmp_path / "clone" / "rules"
    shutil.copytree(REPO_RULES, target, ignore=shutil.ignore_patterns("__pycache__"))
    return target


def test_lint_works_with_nothing_beside_the_rules(lone_rules, catalogue, monkeypatch):
    monkeypatch.delenv(loader.MEASURES_DIR_VAR, raising=False)
    assert not (lone_rules.parent.parent / "shared").exists()
    result = CliRunner().invoke(cli.rules, ["--rules-dir", str(lone_rules), "lint"])
    assert result.exit_code == 0, result.output
    assert (f"ok: {len({c.cite for c in catalogue.clauses})} clauses in {len(catalogue.documents)} documents "
            f"({len(catalogue.clauses)} rules") in result.output
    # The quotations really are checked against the copied texts: damage one and lint fails.
    source = lone_rules / "lvliang-2022" / "source.txt"
    source.write_text(source.read_text(encoding="utf-8").replace("最高补助不超过 200 万元", "最高补助不超过 300 万元"),
                      encoding="utf-8")
    result = CliRunner().invoke(cli.rules, ["--rules-dir", str(lone_rules), "lint"])
    assert result.exit_code == 1
    assert "rules/lvliang-2022/clauses.yaml: clauses[17].text: not found verbatim in lvliang-2022/source.txt" in result.output


def test_adding_a_document_is_adding_a_folder(lone_rules, catalogue, monkeypatch):
    monkeypatch.delenv(loader.MEASURES_DIR_VAR, raising=False)
    folder = lone_rules / "test-2024"
    folder.mkdir()
    (folder / "source.txt").write_text(SOURCE, encoding="utf-8")
    _dump(folder / "clauses.yaml", DOCUMENT)
    _dump(folder / "scenarios.yaml", SCENARIOS)
    runner = CliRunner()

    lint = runner.invoke(cli.rules, ["--rules-dir", str(lone_rules), "lint"])
    assert lint.exit_code == 0, lint.output
    assert (f"ok: {len({c.cite for c in catalogue.clauses}) + 2} clauses in {len(catalogue.documents) + 1} documents "
            f"({len(catalogue.clauses) + 2} rules, {len(catalogue.executable()) + 1} executable)") in lint.output
    assert ("test-2024: 2 clauses (2 rules, a clause of several parts one rule each), 1 firm-facing, 1 executable, "
            "auto_grant 1/1 with basis, conditions 2/2 with basis") in lint.output
    listed = runner.invoke(cli.rules, ["--rules-dir", str(lone_rules), "list"]).output.splitlines()
    assert [line.split("\t")[1] for line in listed if line.startswith("test-2024-")] == ["test-2024#1", "test-2024#2"]

    tested = runner.invoke(cli.rules, ["--rules-dir", str(lone_rules), "test"])
    assert tested.exit_code == 0, tested.output

    # The same folder's scenarios are pytest items too (the plugin the repository's conftest enables),
    # run through both evaluators over the catalogue of the rules directory holding them.
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "engine.judging.catalogue.pytest_plugin",
         "--rootdir", str(lone_rules.parent), "-c", "/dev/null", str(folder / "scenarios.yaml")],
        capture_output=True, text=True, cwd=loader.REPO_ROOT, timeout=300, check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"{2 * len(SCENARIOS)} passed" in run.stdout  # each scenario through both evaluators


def test_a_broken_new_folder_is_named(lone_rules):
    folder = lone_rules / "test-2024"
    folder.mkdir()
    _dump(folder / "clauses.yaml", DOCUMENT)  # no source.txt
    result = CliRunner().invoke(cli.rules, ["--rules-dir", str(lone_rules), "lint"])
    assert result.exit_code == 1
    assert f"rules/test-2024/clauses.yaml: no source text {folder / 'source.txt'}" in result.output
