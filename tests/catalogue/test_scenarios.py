"""Scenario coverage and the scenario loader's own checks. The scenarios themselves run as
pytest items collected from rules/<slug>/scenarios.yaml by engine/judging/catalogue/pytest_plugin.py."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

from engine.core import matching
from engine.judging.catalogue import loader, scenarios

# Collected at import time: parametrize needs the list before fixtures exist.
_CATALOGUE = loader.load()
_SCENARIOS = scenarios.load(_CATALOGUE)


def test_scenario_files_load_and_names_are_unique():
    written = sum(len(yaml.safe_load(p.read_text(encoding="utf-8"))) for p in scenarios.scenario_files())
    assert len(_SCENARIOS) == written > 0  # every scenario of every document folder
    assert len({s.name for s in _SCENARIOS}) == len(_SCENARIOS)


def test_every_executable_clause_has_a_met_and_a_not_met_scenario():
    assert scenarios.coverage_problems(_CATALOGUE, _SCENARIOS) == []
    executable = {c.id for c in _CATALOGUE.executable()}
    assert executable <= {s.clause for s in _SCENARIOS}


def test_coverage_gaps_are_reported():
    only_met = [s for s in _SCENARIOS if s.status == matching.Verdict.MET]
    problems = scenarios.coverage_problems(_CATALOGUE, only_met)
    assert any(p.startswith("lvliang-2022-18 (lvliang-2022#18): no scenario where it is not met") for p in problems)


def test_a_wrong_expectation_fails(matcher):
    (good,) = [s for s in _SCENARIOS if s.clause == "yunnan-2022-2-1" and s.amount == 48000.0 and s.profile is None]

    wrong = dataclasses.replace(good, amount=24000.0, status=matching.Verdict.UNKNOWN, missing=("tertiary",))
    assert scenarios.run(wrong, matcher) == [
        "status met, expected unknown", "amount 48000.0, expected 24000.0", "missing [], expected ['tertiary']",
    ]


def _write(rules: Path, items) -> Path:
    """A rules directory whose yunnan-2022/ folder holds ``items`` as its scenarios."""
    (rules / "yunnan-2022").mkdir(parents=True, exist_ok=True)
    (rules / "yunnan-2022" / "scenarios.yaml").write_text(yaml.safe_dump(items, allow_unicode=True), encoding="utf-8")
    return rules


GOOD = {"name": "例", "clause": "yunnan-2022-2-1", "as_of": "2022-06-15",
        "attributes": {"region": "530102"}, "expect": {"status": "unknown"}}


PROFILE = {k: v for k, v in GOOD.items() if k != "attributes"} | {
    "profile": {"uscc": "91530102MA6K0PR01A", "name": "例", "region": "530102", "industry": "F5211"}}


def test_a_profile_is_derived_as_the_pipeline_derives_it(tmp_path, catalogue):
    # The region gives the city and province; the industry its sector: the attributes the rules see.
    folder = _write(tmp_path / "rules", [PROFILE | {"designations": {"epidemic_risk": [2022]}}])
    (found,), problems = scenarios.check(catalogue, folder)
    assert problems == []
    attributes = found.attributes
    assert (attributes["city"], attributes["province"], attributes["tertiary"], attributes["county_risk_2022"],
            attributes["county_sme_demo"]) == ("530100", "530000", True, True, False)


def test_every_clause_computing_an_amount_has_a_met_scenario_from_a_profile():
    computing = [c.id for c in _CATALOGUE.executable() if c.benefit is not None and c.benefit.formula is not None]
    assert computing and scenarios.coverage_problems(_CATALOGUE, _SCENARIOS) == []
    without = [s for s in _SCENARIOS if s.profile is None]
    assert {f"{clause_id} ({_CATALOGUE.by_id[clause_id].cite}): computes an amount but no met scenario gives a profile"
            for clause_id in computing} <= set(scenarios.coverage_problems(_CATALOGUE, without))


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ({**GOOD, "extra": 1}, "[0].extra: unknown key"),
        ({k: v for k, v in GOOD.items() if k != "expect"}, "[0].expect: missing required key"),
        ({**GOOD, "clause": "yunnan-2022-9-9"}, "[0].clause: unknown clause 'yunnan-2022-9-9'"),
        ({**GOOD, "clause": "qinghai-2022-2"}, "[0].clause: qinghai-2022-2 belongs to qinghai-2022"),
        ({**GOOD, "clause": "yunnan-2022-1-7"}, "[0].clause: yunnan-2022-1-7 is not firm-facing"),
        ({**GOOD, "as_of": "2022-02-30"}, "[0].as_of: bad date '2022-02-30'"),
        ({**GOOD, "attributes": {"foo": 1}}, "[0].attributes: unknown attribute 'foo'"),
        ({**GOOD, "attributes": {"sme": "yes"}}, "[0].attributes: attribute 'sme' must be bool"),
        ({**GOOD, "expect": {"status": "maybe"}}, "[0].expect.status: bad status 'maybe'"),
        ({**GOOD, "expect": {"status": "met", "amount": "lots"}}, "[0].expect.amount: must be a number"),
        ({**GOOD, "expect": {"status": "met", "why": 1}}, "[0].expect.why: unknown key"),
        ({**GOOD, "granted": 100}, "[0].granted: yunnan-2022-2-1 declares no cap"),
        ({**GOOD, "granted": "lots"}, "[0].granted: must be an amount"),
        ({**GOOD, "profile": {"region": "530102"}}, "[0]: give either attributes or a profile (both given)"),
        ({k: v for k, v in GOOD.items() if k != "attributes"}, "[0]: give either attributes or a profile (neither given)"),
        ({**GOOD, "designations": {"epidemic_risk": [2022]}}, "[0].designations: only with a profile"),
        (PROFILE | {"profile": ["not", "a", "profile"]}, "[0].profile: must be a mapping"),
        (PROFILE | {"designations": {"epidemic_risk": "2022"}}, "[0].designations: epidemic_risk: must be a list of years"),
        (PROFILE | {"designations": {"flood": [2022]}}, "[0].designations: unknown kind flood"),
        (PROFILE | {"designations": [2022]}, "[0].designations: must be a mapping"),
        (PROFILE | {"risk_years": [2022]}, "[0].risk_years: unknown key"),
    ],
)
def test_scenario_file_problems_name_file_and_item(tmp_path, catalogue, item, expected):
    folder = _write(tmp_path / "rules", [item])
    found, problems = scenarios.check(catalogue, folder)
    assert found == []
    assert any(p.startswith(f"rules/yunnan-2022/scenarios.yaml: {expected}") for p in problems), problems


def test_duplicate_scenario_names(tmp_path, catalogue):
    folder = _write(tmp_path / "rules", [GOOD, GOOD])
    found, problems = scenarios.check(catalogue, folder)
    assert len(found) == 1
    assert problems == ["rules/yunnan-2022/scenarios.yaml: [1].name: '例' duplicated (also in rules/yunnan-2022/scenarios.yaml)"]
    with pytest.raises(loader.CatalogueError):
        scenarios.load(catalogue, folder)
