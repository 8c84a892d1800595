"""Dated parameters (as OpenFisca's): a number the text changes within a clause's window holds from a day.

None of the five documents changes a number a formula or condition uses inside a clause's window
(yunnan-2022#二(四)'s 预留份额 30%→40% is a procurement quota an inform clause only tells of), so
these tests build a small catalogue: a rent waiver whose months rise on 2022-07-01 (a formula) and a
VAT exemption whose sales limit rises the same day (a condition threshold).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from click.testing import CliRunner

from engine.backfill import windows
from engine.cli import rules as cli
from engine.console import explain
from engine.core import matching
from engine.judging import firm_input, judge
from engine.judging.catalogue import compiler, durable, inputs, loader, model, reference
from tests.catalogue import test_loader
from tests.catalogue.test_loader import _clause, _document, _set

MET, NOT_MET, UNKNOWN = matching.Verdict.MET, matching.Verdict.NOT_MET, matching.Verdict.UNKNOWN
F = "rules/yunnan-2022/clauses.yaml: "
RENT_TEXT = "（三）加力房租减免。2022年对承租国有房屋的服务业小微企业减免3个月租金，自2022年7月1日起减免6个月租金。"
VAT_TEXT = "（四）加力增值税优惠。小规模纳税人月销售额10万元以下的免征增值税，自2022年7月1日起提高至15万元以下。"
BEFORE, CHANGE = dt.date(2022, 6, 30), dt.date(2022, 7, 1)
MONTHS = [
    {"from": "2022-05-31", "value": 3, "quote": "减免3个月租金"},
    {"from": "2022-07-01", "value": 6, "quote": "自2022年7月1日起减免6个月租金"},
]
LIMIT = [
    {"from": "2022-05-31", "value": 100000, "quote": "月销售额10万元以下"},
    {"from": "2022-07-01", "value": 150000, "quote": "自2022年7月1日起提高至15万元以下"},
]


def _rent() -> dict:
    return _clause(3, text=RENT_TEXT, mode="auto_grant",
                   basis={"mode": {"quote": "服务业小微企业减免3个月租金", "reason": "ordered_waiver"},
                          "valid_to": {"quote": "2022年对省内承租国有房屋"}},
                   benefit={"kind": "rent_waiver", "unit": "yuan", "description": "减免租金",
                            "formula": "state_owned_monthly_rent * months", "params": {"months": MONTHS}})


def _vat() -> dict:
    return _clause(4, text=VAT_TEXT, mode="auto_grant", title="加力增值税优惠",
                   basis={"mode": {"quote": "免征增值税", "reason": "at_filing"},
                          "valid_to": {"quote": "2022年对省内承租国有房屋"}},
                   params={"limit": LIMIT},
                   conditions={"all": [
                       {"attr": "taxpayer_type", "op": "eq", "value": "small_scale", "quote": "小规模纳税人"},
                       {"attr": "vat_monthly_sales", "op": "le", "value": {"param": "limit"}, "quote": "月销售额10万元以下"},
                   ]},
                   benefit={"kind": "vat_exemption", "unit": "none", "description": "免征增值税"})


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, None]:
    """A rules directory whose yunnan-2022/source.txt also holds the two clauses with dated numbers."""
    rules = tmp_path / "rules"
    (rules / "yunnan-2022").mkdir(parents=True)
    text = f"标题\n{test_loader.TEXT}\n{RENT_TEXT}\n{VAT_TEXT}\n{test_loader.DATE}\n"
    (rules / "yunnan-2022" / "source.txt").write_text(text, encoding="utf-8")
    return rules, None


@pytest.fixture
def catalogue(dirs) -> model.Catalogue:
    rules, measures = dirs
    test_loader._write(rules, _document(_rent(), _vat()))
    return loader.load(rules, measures=measures)


def _problems(dirs, data: dict) -> list[str]:
    return test_loader._problems(dirs, data)


# -- loading: the dated form, strictly ------------------------------------------------------------

@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        ("clauses[0].benefit.params.months", list(reversed(MONTHS)),
         "clauses[0].benefit.params.months[1].from: 2022-05-31 is not after the previous value's from 2022-07-01 "
         "(dated values are listed in ascending order)"),
        ("clauses[0].benefit.params.months", [{**MONTHS[0], "until": "2022-07-15"}, MONTHS[1]],
         "clauses[0].benefit.params.months[1].from: 2022-07-01 overlaps the previous value, which holds until 2022-07-15"),
        ("clauses[0].benefit.params.months[0].from", "2022-05-01",
         "clauses[0].benefit.params.months[0].from: 2022-05-01 is outside the clause's window [2022-05-31, 2022-12-31]"),
        ("clauses[0].benefit.params.months[1].from", "2023-01-01",
         "clauses[0].benefit.params.months[1].from: 2023-01-01 is outside the clause's window [2022-05-31, 2022-12-31]"),
        ("clauses[0].benefit.params.months[1].until", "2023-03-31",
         "clauses[0].benefit.params.months[1].until: 2023-03-31 is after the clause's valid_to 2022-12-31"),
        ("clauses[0].benefit.params.months[1].until", "2022-06-30",
         "clauses[0].benefit.params.months[1].until: 2022-06-30 is before its from 2022-07-01"),
        ("clauses[0].benefit.params.months[1].quote", ...,
         "clauses[0].benefit.params.months[1].quote: missing required key"),
        ("clauses[0].benefit.params.months[1].quote", "自2022年7月1日起减免9个月租金",
         "clauses[0].benefit.params.months[1].quote: not found in the clause's text"),
        ("clauses[0].benefit.params.months[1].from", "2022-7-1",
         "clauses[0].benefit.params.months[1].from: bad date '2022-7-1' (expected YYYY-MM-DD)"),
        ("clauses[0].benefit.params.months[1].since", "2022-07-01",
         "clauses[0].benefit.params.months[1].since: unknown key"),
        ("clauses[0].benefit.params.months", [],
         "clauses[0].benefit.params.months: a dated parameter is a non-empty list of {from, value, quote}"),
        ("clauses[1].params.limit", list(reversed(LIMIT)),
         "clauses[1].params.limit[1].from: 2022-05-31 is not after the previous value's from 2022-07-01"),
        ("clauses[1].params.limit[1].quote", "自2022年7月1日起提高至20万元以下",
         "clauses[1].params.limit[1].quote: not found in the clause's text"),
        ("clauses[1].params.limit[1].value", "15万",
         "clauses[1].params.limit[1].value: value '15万' does not match the attribute type float"),
    ],
)
def test_a_mistake_in_dated_values_names_file_key_and_reason(dirs, path, value, expected):
    problems = _problems(dirs, _set(path, value)(_document(_rent(), _vat())))
    assert any(p.startswith(F + expected) for p in problems), problems


def test_the_shorthand_and_the_dated_form_load(catalogue):
    rent, vat = catalogue.clauses
    (months,) = rent.benefit.params
    assert months.dated and months.values == (
        model.ParamValue(3, "减免3个月租金", dt.date(2022, 5, 31), dt.date(2022, 6, 30)),  # until the next from
        model.ParamValue(6, "自2022年7月1日起减免6个月租金", CHANGE, None),  # to the end of the window
    )
    assert rent.benefit.formula == "state_owned_monthly_rent * months" and rent.benefit.inputs == {"state_owned_monthly_rent"}
    assert rent.benefit.schedule == ((dt.date(2022, 5, 31), "state_owned_monthly_rent * 3"),
                                     (CHANGE, "state_owned_monthly_rent * 6"))
    leaf = list(vat.leaves())[1]
    assert (leaf.value, leaf.param, [v.value for v in leaf.dated]) == (None, "limit", [100000, 150000])
    assert vat.dated and not rent.dated
    with pytest.raises(ValueError, match="dated"):
        months.value  # noqa: B018 - a dated parameter has no one value


def test_a_dated_value_the_conditions_or_formula_do_not_use_is_refused(dirs):
    unused = _set("clauses[1].params.spare", [{"from": "2022-07-01", "value": 1, "quote": "小规模纳税人"}])
    assert F + "clauses[1].params: not used by the conditions: spare" in _problems(dirs, unused(_document(_rent(), _vat())))
    no_formula = _set("clauses[1].benefit.params", {"share": LIMIT})
    assert F + "clauses[1].benefit.params: numbers of a formula: there is no formula" \
        in _problems(dirs, no_formula(_document(_rent(), _vat())))


# -- the value in force on a day -------------------------------------------------------------------

def test_the_value_in_force_at_each_boundary():
    values = (
        model.ParamValue(3, "a", dt.date(2022, 6, 1), dt.date(2022, 6, 30)),
        model.ParamValue(6, "b", dt.date(2022, 7, 1), dt.date(2022, 9, 30)),
        model.ParamValue(9, "c", dt.date(2022, 11, 1), None),
    )
    param = model.Param("months", values, dated=True)
    on = {day: (v.value if (v := param.on(day)) else None) for day in (
        dt.date(2022, 5, 31), dt.date(2022, 6, 1), dt.date(2022, 6, 30), dt.date(2022, 7, 1),
        dt.date(2022, 9, 30), dt.date(2022, 10, 1), dt.date(2022, 10, 31), dt.date(2022, 11, 1), dt.date(2030, 1, 1))}
    assert list(on.values()) == [None, 3, 3, 6, 6, None, None, 9, 9]
    assert model.in_force(values, dt.date(2022, 10, 15)) is None  # a gap: no value holds


# -- judging: the value in force on the judging date ------------------------------------------------

RENTER = {"region": "530102", "tertiary": True, "state_owned_lease": True, "state_owned_monthly_rent": 1000.0}
SELLER = {"region": "530102", "taxpayer_type": "small_scale", "vat_monthly_sales": 120000.0}


@pytest.fixture(params=["reference", "durable"])
def matcher(request, catalogue):
    return reference.ReferenceMatcher(catalogue) if request.param == "reference" else durable.DurableMatcher(catalogue)


def test_a_formula_amount_changes_on_the_day_its_parameter_does(matcher):
    def decided(day: dt.date) -> matching.Decision:
        (decision,) = matcher.evaluate(RENTER, day, clause_ids={"yunnan-2022-2-3"})
        return decision

    before, after = decided(BEFORE), decided(CHANGE)
    assert (before.status, before.amount) == (MET, 3000.0)
    assert (after.status, after.amount) == (MET, 6000.0)
    assert after.explanation["amount"]["formula"] == "state_owned_monthly_rent * 6"
    assert after.explanation["amount"]["params"] == {
        "months": {"value": 6, "quote": "自2022年7月1日起减免6个月租金", "from": "2022-07-01"}}
    assert before.explanation["amount"]["params"]["months"]["from"] == "2022-05-31"


def test_a_dated_threshold_is_judged_with_the_value_in_force(matcher):
    assert "yunnan-2022-2-4" not in matcher.met_ids(SELLER, BEFORE)  # 120,000 is above 100,000
    assert "yunnan-2022-2-4" in matcher.met_ids(SELLER, CHANGE)  # and within 150,000 from 1 July
    (decision,) = matcher.evaluate(SELLER, CHANGE, clause_ids={"yunnan-2022-2-4"})
    assert decision.status == MET
    assert decision.explanation["conditions"][1] == {
        "path": "all[1]", "attr": "vat_monthly_sales", "op": "le", "required": 150000, "seen": 120000.0,
        "verdict": "met", "quote": "月销售额10万元以下", "param": "limit", "from": "2022-07-01",
        "param_quote": "自2022年7月1日起提高至15万元以下"}


def test_the_durable_rule_compares_only_within_each_values_days(catalogue):
    vat = catalogue.by_id["yunnan-2022-2-4"]
    sales = compiler.rule(vat)["all"][0]["m"]["$and"][-1]["$and"][-1]
    assert sales == {"$or": [
        {"$and": [{"$gte": {"as_of": 20220531}}, {"$lte": {"as_of": 20220630}}, {"$lte": {"vat_monthly_sales": 100000}}]},
        {"$and": [{"$gte": {"as_of": 20220701}}, {"$lte": {"vat_monthly_sales": 150000}}]},
    ]}
    assert compiler.branches(vat.conditions) == 2


def test_no_value_in_force_leaves_the_verdict_and_amount_undecided(dirs):
    rules, measures = dirs
    late = [{**MONTHS[1]}]  # the months hold only from 1 July: before it the text gives no number here
    gap = [{**LIMIT[0], "until": "2022-06-15"}, LIMIT[1]]
    test_loader._write(rules, _document(_set("benefit.params.months", late)(_rent()), _set("params.limit", gap)(_vat())))
    catalogue = loader.load(rules, measures=measures)
    for matcher in (reference.ReferenceMatcher(catalogue), durable.DurableMatcher(catalogue)):
        (rent,) = matcher.evaluate(RENTER, BEFORE, clause_ids={"yunnan-2022-2-3"})
        assert (rent.status, rent.amount) == (MET, None)  # met, but no amount is guessed
        assert rent.explanation["amount"]["unset"] == ["months"] and rent.explanation["amount"]["params"] == {}
        (vat,) = matcher.evaluate(SELLER, dt.date(2022, 6, 20), clause_ids={"yunnan-2022-2-4"})
        assert vat.status == UNKNOWN and vat.explanation["conditions"][1]["unset"] is True
        assert vat.explanation["missing"] == []  # no data of the firm would decide it
        assert "yunnan-2022-2-4" not in matcher.met_ids(SELLER, dt.date(2022, 6, 20))


def test_the_backfill_judge_uses_the_value_in_force_too(catalogue):
    matcher = durable.DurableMatcher(catalogue)
    versions = {c.id: c.rule_version for c in catalogue.clauses}

    def changed(day: dt.date, attributes: dict, clause_id: str, status: matching.Verdict, amount: float | None) -> list:
        prior = {clause_id: firm_input.Prior(1, status, versions[clause_id], amount)}
        found = judge.Judge(matcher, day, [clause_id]).changed_from(inputs.normalise(attributes), {}, prior)
        return [(d.status, d.amount) for d in found]

    # A stored outcome equal to the day's is no change: the fast tier computed the same amount and verdict.
    assert changed(CHANGE, RENTER, "yunnan-2022-2-3", MET, 6000.0) == []
    assert changed(CHANGE, RENTER, "yunnan-2022-2-3", MET, 3000.0) == [(MET, 6000.0)]
    assert changed(BEFORE, RENTER, "yunnan-2022-2-3", MET, 3000.0) == []
    assert changed(CHANGE, SELLER, "yunnan-2022-2-4", MET, None) == []
    assert changed(BEFORE, SELLER, "yunnan-2022-2-4", MET, None) == [(NOT_MET, None)]
    # One compiled catalogue shared by judges of both days (the pipeline's): each sees its own threshold.
    shared = judge.Compiled(catalogue)
    seller = inputs.normalise(SELLER)
    for day, expected in ((BEFORE, NOT_MET), (CHANGE, MET)):
        conditions = judge.Judge(matcher, day, compiled=shared).conditions["yunnan-2022-2-4"]
        assert conditions(seller) == expected


# -- explanations show the value used and the day it holds from ------------------------------------

def test_explanations_say_from_which_day_a_value_holds(catalogue):
    ref = reference.ReferenceMatcher(catalogue)
    (decision,) = ref.evaluate(SELLER, CHANGE, clause_ids={"yunnan-2022-2-4"})
    tree = explain.conditions(decision.explanation["conditions"])
    words = " ".join(str(child.claim) for child in tree.children)
    assert "增值税月销售额不超过150,000.00元（自2022年7月1日起）" in words
    rule = explain.clause_conditions(catalogue.by_id["yunnan-2022-2-4"].conditions)
    clause_words = " ".join(str(c.claim) for c in rule.children)
    assert "100,000.00元（自2022年5月31日起）；150,000.00元（自2022年7月1日起）" in clause_words
    rent = catalogue.by_id["yunnan-2022-2-3"]
    assert explain.formula_schedule(rent.benefit.schedule) == [
        ("自2022年5月31日起", "承租国有房屋的月租金 × 3"), ("自2022年7月1日起", "承租国有房屋的月租金 × 6")]
    assert explain.since_words("2022-07-01") == "自2022年7月1日起"


# -- the window job judges every firm again the day a value changes ---------------------------------

def test_the_day_a_value_changes_is_judged_again_for_every_firm(catalogue):
    rent, vat = catalogue.clauses
    assert rent.changes == vat.changes == (CHANGE,)  # the first value's day is the window's opening
    assert windows.Change(CHANGE, windows.CHANGES, "yunnan-2022-2-3") in windows.boundaries(catalogue.clauses)
    found = windows.due(catalogue, BEFORE, CHANGE, ())
    assert found.judge == {} and found.rejudge == {CHANGE: {"yunnan-2022-2-3", "yunnan-2022-2-4"}}
    assert windows.due(catalogue, BEFORE, CHANGE, {("yunnan-2022-2-3", CHANGE)}).rejudge == {CHANGE: {"yunnan-2022-2-4"}}
    assert windows.due(catalogue, CHANGE, dt.date(2022, 7, 2), ()).rejudge == {}


def test_rules_windows_lists_the_day_a_value_changes(dirs, catalogue):
    rules, _ = dirs
    result = CliRunner().invoke(cli.rules, ["--rules-dir", str(rules), "windows", "--from", "2022-06-30", "--days", "1"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == "2022年6月30日至2022年7月1日：0项政策条款开始施行，0项停止施行，2项规定数值变更"
    assert "2022年7月1日  规定数值变更（当日按新数值重新判定已有企业）  yunnan-2022#二(三)" in result.output
