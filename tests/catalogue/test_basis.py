"""What backs a rule (issue 14): the words of the text behind its mode, dates, conditions and numbers.

The loader refuses a promise the text does not make (an auto_grant without the clause's own words
that make it automatic, a date from nowhere, a quotation the text does not hold); the findings of
the clause-by-clause reading are pinned here with the clauses' own words.
"""

from __future__ import annotations

import datetime as dt

import pytest
from click.testing import CliRunner

from engine.cli import rules as cli
from engine.core import matching
from engine.judging.catalogue import basis, loader, model
from tests.catalogue import test_loader
from tests.catalogue.test_loader import _clause, _document, _problems, _set, dirs  # noqa: F401 - dirs is a fixture

F = "rules/yunnan-2022/clauses.yaml: "


# -- the loader refuses what the text does not back --------------------------------------------

@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (_set("clauses[0].basis.mode", ...),
         "clauses[0].basis.mode: an auto_grant clause needs the clause's own words that make the benefit automatic"),
        (_set("clauses[0].basis.mode.quote", "免申即享"), "clauses[0].basis.mode.quote: not found in the clause's text"),
        (_set("clauses[0].basis.mode.quote", "服务业小微企业"),
         "clauses[0].basis.mode.quote: says nothing that makes it automatic (ordered_waiver: one of 减免, 免收)"),
        (_set("clauses[0].basis.mode.reason", "obvious"), "clauses[0].basis.mode.reason: bad reason 'obvious'"),
        (_set("clauses[0].needs", ["企业是否欠租"]),
         "clauses[0].basis.mode: an auto_grant clause must be decided by data alone: conditions and no needs"),
        (_set("clauses[0].basis.valid_to", ...),
         "clauses[0].basis.valid_to: 2022-12-31: say where this date comes from (quote, document or unstated)"),
        (_set("clauses[0].basis.valid_to", "unstated"),
         "clauses[0].basis.valid_to: unstated: the text states no date, so the date must be null, not 2022-12-31"),
        (_set("clauses[0].basis.valid_to", "document"),
         "clauses[0].basis.valid_to: document: the date must be the document's own"),
        (_set("clauses[0].basis.valid_to", {"quote": "2022年12月31日前"}),
         "clauses[0].basis.valid_to.quote: not found in the document's text"),
        (_set("document.basis", ...), "document.basis: missing required key"),
        (_set("document.basis.valid_from", "document"),
         "document.basis.valid_from: a document's date comes from its text (a quote) or is unstated"),
        (_set("clauses[0].conditions.all[0].quote", ...), "clauses[0].conditions.all[0].quote: missing required key"),
        (_set("clauses[0].conditions.all[0].quote", "制造业企业"),
         "clauses[0].conditions.all[0].quote: not found in the clause's text"),
        (_set("clauses[0].benefit.formula", "state_owned_monthly_rent * 3"),
         "clauses[0].benefit.formula: numbers [3] written in the formula: name each in params"),
        (_set("clauses[0].benefit.formula", "state_owned_monthly_rent"),
         "clauses[0].benefit.params: not used by the formula: months"),
        (_set("clauses[0].benefit.params.months.quote", "减免6个月"),
         "clauses[0].benefit.params.months.quote: not found in the clause's text"),
        (_set("clauses[0].benefit.params", {"tertiary": {"value": 3, "quote": "3个月"}}),
         "clauses[0].benefit.params.tertiary: a parameter name is snake_case and not an attribute's name"),
        (_set("clauses[0].benefit.at_most", "最高不超过"), "clauses[0].benefit.at_most: not found in the clause's text"),
        (_set("clauses[0].notes", [{"quote": "另有规定", "note": "无"}]), "clauses[0].notes[0].quote: not found in the text"),
    ],
)
def test_a_promise_the_text_does_not_back_is_refused(dirs, mutate, expected):
    problems = _problems(dirs, mutate(_document()))
    assert any(p.startswith(F + expected) for p in problems), problems


def test_only_auto_grant_states_why_it_is_automatic(dirs):
    data = _document(_clause(mode="apply", application="向出租方申请",
                             basis={"mode": {"quote": "减免3个月租金", "reason": "ordered_waiver"},
                                    "valid_to": {"quote": "2022年对省内承租国有房屋"}}))
    assert F + "clauses[0].basis.mode: only an auto_grant clause states why it is automatic (mode is apply)" \
        in _problems(dirs, data)


def test_parts_of_a_clause_share_its_cite_side_by_side_each_named(dirs):
    rules, measures = dirs
    auto = _clause(part="房租减免")
    ask = _clause(id="yunnan-2022-2-1-ask", part="另行申请", mode="apply", application="向出租方申请")
    test_loader._write(rules, _document(auto, ask))
    first, second = loader.load(rules, measures=measures).clauses
    assert (first.cite, first.part, first.mode) == ("yunnan-2022#二(一)", "房租减免", "auto_grant")
    assert (second.cite, second.part, second.mode) == ("yunnan-2022#二(一)", "另行申请", "apply")
    unnamed = _problems(dirs, _document(_clause(), _clause(id="yunnan-2022-2-1-b", mode="inform")))
    assert "yunnan-2022: yunnan-2022-2-1: yunnan-2022#二(一) has several entries; each needs its part" in unnamed
    apart = _problems(dirs, _document(_clause(part="a"), _clause(2, mode="inform", text=test_loader.OTHER),
                                      _clause(id="yunnan-2022-2-1-c", part="c", mode="inform")))
    assert "yunnan-2022: the parts of yunnan-2022#二(一) are not next to each other" in apart


def test_formula_parameters_are_written_in_and_explained(dirs):
    rules, measures = dirs
    test_loader._write(rules, _document(_set("benefit.at_most", "减免3个月")(_clause())))
    (clause,) = loader.load(rules, measures=measures).clauses
    assert clause.benefit.formula == "state_owned_monthly_rent * 3"
    (months,) = clause.benefit.params  # the shorthand: one value over the whole window, from its valid_from
    assert (months.name, months.value, months.quote, months.dated) == ("months", 3, "减免3个月", False)
    assert months.values == (model.ParamValue(3, "减免3个月", dt.date(2022, 5, 31)),)
    assert clause.mode_basis == model.ModeBasis("服务业小微企业减免3个月租金", "ordered_waiver")
    assert clause.to_basis == model.DateBasis("quote", "2022年对省内承租国有房屋")
    assert clause.from_basis == model.DateBasis("quote", "2022年5月31日印发")  # the document's


def test_substitution_leaves_the_cached_tree_alone():
    assert basis.substitute("rate * ip_buy_amount_year", {"rate": 0.2}) == "0.2 * ip_buy_amount_year"
    assert basis.literals("rate * ip_buy_amount_year") == []  # the parsed tree still names the parameter


# -- the real catalogue: the findings of the clause-by-clause reading ------------------------

def test_every_auto_grant_quotes_its_own_words_and_is_decided_by_data(catalogue):
    auto = [c for c in catalogue.clauses if c.mode == "auto_grant"]
    assert auto
    for clause in auto:
        assert clause.mode_basis is not None and clause.executable, clause.id
        assert basis.squeeze(clause.mode_basis.quote) in basis.squeeze(clause.text)
        assert any(w in basis.squeeze(clause.mode_basis.quote) for w in model.MODE_REASONS[clause.mode_basis.reason])


def test_every_date_says_where_it_comes_from(catalogue):
    for document in catalogue.documents:
        assert document.from_basis is not None and document.to_basis is not None, document.slug
    for clause in catalogue.clauses:
        assert clause.from_basis is not None and clause.to_basis is not None, clause.id
    datong = next(d for d in catalogue.documents if d.slug == "datong-2022")
    # No date in the text: the earliest the plan can be (it implements a 2022 document), said so.
    assert datong.from_basis.quote == "晋政办发〔2022〕30 号" and "未载明" in datong.from_basis.note


@pytest.mark.parametrize(("clause_id", "mode"), [
    ("lvliang-2022-19", "inform"),       # 对小微企业用电实行阶段性优惠: no amount, mechanism, agency or end
    ("datong-2022-12", "inform"),        # 继续推广高速公路差异化收费政策: nothing automatic, no data
    ("yangquan-chengqu-2023-11", "inform"),
    ("yunnan-2022-1-5", "inform"),
    ("datong-2022-15", "apply"),         # bundles of automatic and applied-for parts
    ("qinghai-2022-8", "apply"),
    ("yunnan-2022-1-4", "apply"),
    ("yangquan-chengqu-2023-6", "apply"),  # 对小型微利企业享受相应的退税减税政策: 退税 is applied for
    ("yunnan-2022-2-5", "inform"),       # 纳入免费核酸检测人群: a service, not a grant
])
def test_no_done_for_you_without_the_words(catalogue, clause_id, mode):
    clause = catalogue.by_id[clause_id]
    assert clause.mode == mode and clause.mode_basis is None


def test_mixed_clauses_are_split_into_parts_each_with_its_mode_and_basis(catalogue):
    parts = {c.id: c for c in catalogue.clauses if c.cite == "datong-2022#4"}
    assert {i: (c.mode, c.mode_basis and c.mode_basis.quote) for i, c in parts.items()} == {
        "datong-2022-4": ("auto_grant", "增值税小规模纳税人阶段性免征增值税"),
        "datong-2022-4-cit": ("auto_grant", "小微企业减征所得税"),
        "datong-2022-4-defer": ("inform", None),
        "datong-2022-4-refund": ("apply", None),
    }
    # The income-tax and 六税两费 reliefs key on 小型微利企业 (and 小规模纳税人, 个体工商户), not on size.
    assert [leaf.attr for leaf in parts["datong-2022-4-cit"].leaves()] == ["small_low_profit"]
    six = catalogue.by_id["yangquan-chengqu-2023-4-six"]
    assert {leaf.attr for leaf in six.leaves()} == {"taxpayer_type", "small_low_profit", "legal_form"}
    assert parts["datong-2022-4-refund"].needs and not parts["datong-2022-4-refund"].executable
    # qinghai-2022#(二): the manufacturing arm is the one-off deferral of 2021 Q4 taxes.
    defer = catalogue.by_id["qinghai-2022-2-defer"]
    assert defer.valid_to == dt.date(2022, 12, 31) and defer.to_basis.quote == "延缓缴纳2021年第四季度部分税费"


def test_yangquan_job_retention_keeps_a_layoff_requirement(catalogue):
    clause = catalogue.by_id["yangquan-chengqu-2023-14"]
    assert clause.mode_basis.quote == "实现中小企业享受稳岗返还政策“免申即享”模式"
    (layoffs,) = [leaf for leaf in clause.leaves() if leaf.attr == "layoffs_year"]
    assert layoffs.quote == "降低中小企业享受稳岗返还政策裁员率要求"


def test_agencies_and_firm_facing_as_the_text_says(catalogue):
    datong = [c for c in catalogue.clauses if c.slug == "datong-2022"]
    # 以下措施均需各县区人民政府落实，不再列出
    assert all("各县区人民政府" in c.agencies for c in datong)
    lvliang = next(d for d in catalogue.documents if d.slug == "lvliang-2022")
    assert "责任单位" in lvliang.notes[0].note  # the text names none: answered, not invented
    assert catalogue.by_id["qinghai-2022-1"].firm_facing and catalogue.by_id["yangquan-chengqu-2023-30"].firm_facing
    for clause_id in ("datong-2022-17", "yangquan-chengqu-2023-16", "yunnan-2022-1-6"):
        clause = catalogue.by_id[clause_id]  # like lvliang-2022#22 and qinghai-2022#(二十五): every SME is told
        assert clause.executable and [leaf.attr for leaf in clause.leaves()] == ["sme"]


def test_a_maximum_is_shown_as_a_maximum(ref):
    attributes = {"region": "141102", "ip_buy_amount_year": 500000.0}
    (decision,) = ref.evaluate(attributes, dt.date(2022, 6, 1), clause_ids={"lvliang-2022-18"},
                               overrides={"lvliang-2022-18": {model.GRANTED: 0.0}})
    assert decision.status == matching.Verdict.MET and decision.amount == 100000.0
    amount = decision.explanation["amount"]
    assert amount["at_most"] == "给予不超过交易金额的 20% 资金补助"
    assert amount["params"] == {"rate": {"value": 0.2, "quote": "给予不超过交易金额的 20% 资金补助"}}


def test_lint_prints_the_figures_of_every_document(catalogue):
    result = CliRunner().invoke(cli.rules, ["lint"])
    assert result.exit_code == 0, result.output
    rows = basis.figures(catalogue)
    assert [r["slug"] for r in rows] == [d.slug for d in catalogue.documents]
    for row in rows:
        assert basis.figure_line(row) in result.output.splitlines()
        assert row["auto_grant_with_basis"] == row["auto_grant"]  # lint refuses one without
    total = {key: sum(r[key] for r in rows) for key in ("clauses", "executable", "conditions")}
    assert total["clauses"] == len(catalogue.clauses) and total["executable"] == len(catalogue.executable())
    assert total["conditions"] == sum(1 for c in catalogue.clauses for _ in c.leaves())


def test_the_readme_shows_todays_figures(catalogue):
    readme = (loader.REPO_ROOT / "rules" / "README.md").read_text(encoding="utf-8")
    for row in basis.figures(catalogue):
        assert (f"| `{row['slug']}` | {row['cites']} ({row['clauses']}) | {row['firm_facing']} | {row['executable']} | "
                f"{row['auto_grant_with_basis']} of {row['auto_grant']} | "
                f"{row['conditions_with_basis']} of {row['conditions']} |") in readme, row["slug"]


def test_a_deadline_to_apply_is_the_texts_and_only_of_apply(dirs):
    deadline = {"date": "2022-06-30", "quote": "减免3个月租金"}
    problems = _problems(dirs, _document(_clause(application_deadline=deadline)))
    assert F + "clauses[0].application_deadline: only a clause of mode apply has a deadline to apply (mode is auto_grant)" \
        in problems
    made_up = _clause(mode="apply", application="向出租方申请", application_deadline={**deadline, "quote": "6月30日前申请"})
    assert F + "clauses[0].application_deadline.quote: not found in the clause's text (whitespace ignored)" \
        in _problems(dirs, _document(made_up))
    rules, measures = dirs
    test_loader._write(rules, _document(_clause(mode="apply", application="向出租方申请", application_deadline=deadline)))
    (clause,) = loader.load(rules, measures=measures).clauses
    assert clause.application_deadline == dt.date(2022, 6, 30) and clause.valid_to == dt.date(2022, 12, 31)
    # yunnan-2022#一(一) states no deadline to apply: its window (2022 loans) is not one.
    assert loader.load().by_id["yunnan-2022-1-1"].application_deadline is None


def test_a_threshold_is_a_named_parameter_with_its_words(dirs):
    lease = {"attr": "state_owned_monthly_rent", "op": "ge", "value": {"param": "floor"}, "quote": "减免3个月租金"}
    named = _set("clauses[0].params", {"floor": {"value": 3, "quote": "减免3个月"}})(
        _set("clauses[0].conditions.all[1]", lease)(_document()))
    rules, measures = dirs
    test_loader._write(rules, named)
    (clause,) = loader.load(rules, measures=measures).clauses
    leaf = list(clause.leaves())[1]
    assert (leaf.value, leaf.param, leaf.dated) == (3, "floor", ())
    assert [(p.name, p.value, p.quote) for p in clause.params] == [("floor", 3, "减免3个月")]
    literal = _set("clauses[0].conditions.all[1]", {**lease, "value": 3})(_document())
    assert F + ("clauses[0].conditions.all[1].value: 3 written in the condition: name it in the clause's params "
                "with the words that state it, and write {param: NAME}") in _problems(dirs, literal)
    unknown = _set("clauses[0].conditions.all[1]", {**lease, "value": {"param": "ceiling"}})(named)
    assert F + "clauses[0].conditions.all[1].value: {'param': 'ceiling'} names no parameter of the clause's params" \
        in _problems(dirs, unknown)
    unused = _set("clauses[0].params.spare", {"value": 6, "quote": "减免3个月"})(named)
    assert F + "clauses[0].params: not used by the conditions: spare" in _problems(dirs, unused)


def test_explanations_name_the_parameter_beside_the_verdict(ref):
    attributes = {"region": "630102", "taxpayer_type": "small_scale", "vat_monthly_sales": 150000.0}
    (decision,) = ref.evaluate(attributes, dt.date(2022, 4, 30), clause_ids={"qinghai-2022-2"})
    leaf = decision.explanation["conditions"][1]
    assert leaf == {"path": "all[1]", "attr": "vat_monthly_sales", "op": "le", "required": 150000, "seen": 150000.0,
                    "verdict": "met", "quote": "月销售额15万元(含)以下", "param": "sales_limit"}
    (in_force,) = ref.catalogue.by_id["qinghai-2022-12"].params
    assert (in_force.name, in_force.value, in_force.quote) == ("in_force", 20220227, "本通知自2022年2月27日起施行")
