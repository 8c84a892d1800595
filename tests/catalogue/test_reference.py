"""The reference evaluator: three-valued logic, jurisdiction, window, explanations, amounts.

Tests taking the ``matcher`` fixture run against both evaluators.
"""

from __future__ import annotations

import datetime as dt

import pytest

from engine.core import matching
from engine.judging.catalogue import inputs, model, reference

MET, NOT_MET, UNKNOWN = matching.Verdict.MET, matching.Verdict.NOT_MET, matching.Verdict.UNKNOWN
D = dt.date
QINGHAI = {"region": "630102", "city": "630100", "province": "630000"}
YUNNAN = {"region": "530102", "city": "530100", "province": "530000"}
LVLIANG = {"region": "141102", "city": "141100", "province": "140000"}


def one(matcher, clause_id, attributes, as_of, **kwargs) -> matching.Decision:
    (decision,) = matcher.evaluate(attributes, as_of, clause_ids={clause_id}, **kwargs)
    return decision


@pytest.mark.parametrize(
    ("verdicts", "all_", "any_"),
    [
        ((MET, MET), MET, MET),
        ((MET, UNKNOWN), UNKNOWN, MET),
        ((MET, NOT_MET), NOT_MET, MET),
        ((UNKNOWN, NOT_MET), NOT_MET, UNKNOWN),
        ((UNKNOWN, UNKNOWN), UNKNOWN, UNKNOWN),
        ((NOT_MET, NOT_MET), NOT_MET, NOT_MET),
    ],
)
def test_truth_tables(verdicts, all_, any_):
    for order in (verdicts, verdicts[::-1]):
        assert reference.combine_all(order) == all_
        assert reference.combine_any(order) == any_


# datong-2022#15: any[all[small_micro, any[hires_… > 0 ×4]], all[sme, unemployment_insurance_paid]]
BUNDLE = "datong-2022-15"
# qinghai-2022#(二), its VAT part: all[small_scale, vat_monthly_sales ≤ 150000]
VAT = "qinghai-2022-2"
DATONG = {"region": "140213", "city": "140200", "province": "140000"}


@pytest.mark.parametrize(
    ("attributes", "status", "missing"),
    [
        ({"small_micro": True, "hires_college_graduates": 2}, MET, []),
        ({"sme": True, "unemployment_insurance_paid": True}, MET, []),  # any: one met branch settles it
        ({"small_micro": False, "sme": True, "unemployment_insurance_paid": False}, NOT_MET, []),
        # any: nothing met, something unknown -> unknown, naming only what leaves it open
        ({"small_micro": False, "sme": True}, UNKNOWN, ["unemployment_insurance_paid"]),
        # all inside any: a failing leaf settles its branch even when its siblings are missing
        ({"small_micro": False, "unemployment_insurance_paid": True}, UNKNOWN, ["sme"]),
        ({"small_micro": False, "sme": False}, NOT_MET, []),
    ],
)
def test_three_valued_conditions(matcher, attributes, status, missing):
    decision = one(matcher, BUNDLE, {**DATONG, **attributes}, D(2022, 6, 1))
    assert decision.status == status
    assert decision.explanation["missing"] == missing


def test_all_not_met_beats_unknown(matcher):
    # yunnan-2022#二(一): tertiary unknown, but no state-owned lease: not met, nothing missing.
    decision = one(matcher, "yunnan-2022-2-1", {**YUNNAN, "small_micro": True, "state_owned_lease": False},
                   D(2022, 6, 15))
    assert (decision.status, decision.explanation["missing"]) == (NOT_MET, [])


@pytest.mark.parametrize(
    ("vat", "status"), [(149999.99, MET), (150000.0, MET), (150000.01, NOT_MET), (150001.0, NOT_MET)]
)
def test_qinghai_vat_threshold_is_inclusive(matcher, vat, status):
    attributes = {**QINGHAI, "taxpayer_type": "small_scale", "vat_monthly_sales": vat,
                  "small_low_profit": False, "manufacturing": False}
    assert one(matcher, VAT, attributes, D(2022, 6, 1)).status == status


def test_qinghai_vat_threshold_from_a_profile(matcher):
    profile = {"region": "630102", "legal_form": "enterprise", "industry": "F5211",
               "tax": {"taxpayer_type": "small_scale", "vat": {"2022Q1": {"sales": 450000.0, "months": 3}},
                       "cit": {"2021": {"taxable_income": 4000000.0, "revenue": 3000000.0, "assets": 2000000.0,
                                        "employees": 20}}}}
    by_id = {d.clause_id: d for d in matcher.match(profile, D(2022, 4, 15), matching.MatchContext())}
    assert by_id[VAT].status == MET
    assert by_id[VAT].facts["vat_monthly_sales"] == 150000.0
    profile["tax"]["vat"]["2022Q1"]["sales"] = 450003.0  # 150001 a month
    by_id = {d.clause_id: d for d in matcher.match(profile, D(2022, 4, 15), matching.MatchContext())}
    assert by_id[VAT].status == NOT_MET


def test_jurisdiction(matcher):
    base = {"taxpayer_type": "small_scale", "vat_monthly_sales": 100000.0}
    inside = one(matcher, VAT, {**QINGHAI, **base}, D(2022, 6, 1))
    assert inside.explanation["jurisdiction"] == {"required": "630000", "seen": "630102", "verdict": "met"}
    outside = one(matcher, VAT, {**YUNNAN, **base}, D(2022, 6, 1))
    assert outside.status == NOT_MET
    assert outside.explanation["jurisdiction"]["verdict"] == "not_met"
    # Outside the jurisdiction, unknown conditions do not matter.
    assert one(matcher, VAT, {"region": "530102"}, D(2022, 6, 1)).status == NOT_MET
    # No region at all: unknown, and the region is what is missing.
    nowhere = one(matcher, VAT, base, D(2022, 6, 1))
    assert (nowhere.status, nowhere.explanation["missing"]) == (UNKNOWN, ["region"])
    # Only six ASCII digits are a region (regions.in_jurisdiction alone accepts these two).
    assert one(matcher, VAT, {**base, "region": "630102\n"}, D(2022, 6, 1)).status == NOT_MET
    assert one(matcher, VAT, {**base, "region": "６３０１０２"}, D(2022, 6, 1)).status == NOT_MET


def test_county_and_city_jurisdictions(matcher):
    sme = {"sme": True, "small_micro": True, "size_class": "小型"}
    # yangquan-chengqu-2023 binds 140302 only; lvliang-2022 the whole of 141100.
    assert one(matcher, "yangquan-chengqu-2023-19", {"region": "140302", **sme}, D(2023, 6, 1)).status == MET
    assert one(matcher, "yangquan-chengqu-2023-19", {"region": "140303", **sme}, D(2023, 6, 1)).status == NOT_MET
    assert one(matcher, "lvliang-2022-1", {"region": "141181", **sme}, D(2022, 6, 1)).status == MET
    assert one(matcher, "lvliang-2022-1", {"region": "140302", **sme}, D(2022, 6, 1)).status == NOT_MET


@pytest.mark.parametrize(
    ("as_of", "status", "verdict"),
    [
        (D(2022, 5, 30), NOT_MET, "not_met"),
        (D(2022, 5, 31), MET, "met"),
        (D(2022, 12, 31), MET, "met"),  # valid_to is inclusive
        (D(2023, 1, 1), NOT_MET, "not_met"),
    ],
)
def test_validity_window(matcher, as_of, status, verdict):
    attributes = {**YUNNAN, "tertiary": True, "small_micro": True, "state_owned_lease": True,
                  "state_owned_lease_full_months": 12, "state_owned_monthly_rent": 1000.0, "county_risk_2022": False}
    decision = one(matcher, "yunnan-2022-2-1", attributes, as_of)
    assert decision.status == status
    assert decision.explanation["validity"] == {
        "required": {"from": "2022-05-31", "to": "2022-12-31"}, "seen": as_of.isoformat(), "verdict": verdict,
    }
    # Outside the window even missing conditions cannot make it unknown.
    if status == NOT_MET:
        assert one(matcher, "yunnan-2022-2-1", YUNNAN, as_of).status == NOT_MET


def test_explanation_and_facts(matcher):
    attributes = {**YUNNAN, "legal_form": "individual_business", "tertiary": True, "state_owned_lease": True,
                  "state_owned_lease_full_months": 12, "state_owned_monthly_rent": 5000.0, "county_risk_2022": False,
                  "employees": 3.0}
    decision = one(matcher, "yunnan-2022-2-1", attributes, D(2022, 11, 30))
    assert decision.status == MET and decision.amount == 15000.0
    assert decision.cite == "yunnan-2022#二(一)" and len(decision.rule_version) == 12
    leaves = decision.explanation["conditions"]
    # Each condition shows the clause's words it implements beside its verdict.
    assert leaves[0] == {"path": "all[0]", "attr": "tertiary", "op": "eq", "required": True, "seen": True,
                         "verdict": "met", "quote": "服务业小微企业和个体工商户"}
    assert leaves[1] == {"path": "all[1].any[0]", "attr": "small_micro", "op": "eq", "required": True,
                         "seen": None, "verdict": "unknown", "quote": "服务业小微企业"}
    assert leaves[2]["attr"] == "legal_form" and leaves[2]["verdict"] == "met"
    # The formula's numbers are named, each with the clause's words that state it.
    assert decision.explanation["amount"] == {
        "formula": "state_owned_monthly_rent * min(state_owned_lease_full_months, 6 if county_risk_2022 else 3)",
        "unit": "yuan", "amount": 15000.0,
        "inputs": {"state_owned_monthly_rent": 5000.0, "state_owned_lease_full_months": 12, "county_risk_2022": False},
        "params": {"months": {"value": 3, "quote": "减免３个月租金"}, "severe": {"value": 6, "quote": "减免６个月租金"}},
    }
    assert decision.explanation["basis"]["mode"] == "auto_grant"
    # facts: the attributes the clause reads that the firm has (employees is not read)
    assert decision.facts == {"county_risk_2022": False, "legal_form": "individual_business", "region": "530102",
                              "state_owned_lease": True, "state_owned_lease_full_months": 12,
                              "state_owned_monthly_rent": 5000.0, "tertiary": True}


def test_in_and_explanation_of_lists(matcher):
    decision = one(matcher, "yunnan-2022-2-5", {**YUNNAN, "industry_division": "62"}, D(2022, 6, 20))
    assert decision.status == MET
    assert decision.explanation["conditions"][0]["required"] == ["52", "62"]


def test_needs_make_a_clause_unknown_at_best(matcher):
    # yunnan-2022#二(三): conditions met, but whether the firm is in difficulty because of the
    # epidemic, and its loans falling due, are data no event carries.
    decision = one(matcher, "yunnan-2022-2-3", {**YUNNAN, "small_micro": True}, D(2022, 7, 1))
    assert decision.status == UNKNOWN
    assert decision.explanation["needs"] == ["受疫情影响暂时经营困难", "企业现有贷款及到期还本付息情况"]
    assert one(matcher, "yunnan-2022-2-3", {**YUNNAN, "small_micro": False}, D(2022, 7, 1)).status == NOT_MET


def test_only_firm_facing_clauses_are_judged(matcher, catalogue):
    decisions = matcher.evaluate(YUNNAN, D(2022, 7, 1))
    assert [d.clause_id for d in decisions] == [c.id for c in catalogue.clauses if c.firm_facing]
    assert "yunnan-2022-1-7" not in {d.clause_id for d in decisions}  # 机构职责


def test_bad_attributes_are_refused(matcher):
    with pytest.raises(ValueError, match="unknown attribute 'foo'"):
        matcher.evaluate({"foo": 1}, D(2022, 1, 1))
    with pytest.raises(ValueError, match="must be bool"):
        matcher.evaluate({"sme": 1}, D(2022, 1, 1))
    with pytest.raises(ValueError, match="must be finite"):
        matcher.evaluate({"revenue": float("nan")}, D(2022, 1, 1))
    assert inputs.normalise({"revenue": 5, "insured_headcount": 3.0, "sme": None}) == \
        {"revenue": 5.0, "insured_headcount": 3}


# -- yunnan-2022#二(一): 3 months' rent, 6 where the county had a risk area in 2022 -----------

RENTER = {
    "region": "530102", "industry": "F5211", "legal_form": "enterprise", "registered_on": "2019-01-01",
    "tax": {"cit": {"2021": {"taxable_income": 500000.0, "revenue": 3000000.0, "assets": 2000000.0,
                              "employees": 20}}},
    "leases": {"L1": {"landlord_type": "state_owned_enterprise", "monthly_rent": 8000.0,
                       "start": "2021-01-01", "end": "2024-12-31"}},
}


@pytest.mark.parametrize(("risk_years", "amount"), [(frozenset(), 24000.0), (frozenset({2022}), 48000.0),
                                                     (frozenset({2021, 2023}), 24000.0)])
def test_yunnan_rent_waiver_3_or_6_months(matcher, risk_years, amount):
    decisions = matcher.match(RENTER, D(2022, 6, 15), matching.MatchContext(designations=matching.designations(epidemic_risk=risk_years)))
    (decision,) = [d for d in decisions if d.clause_id == "yunnan-2022-2-1"]
    assert decision.status == MET and decision.amount == amount
    assert decision.explanation["amount"]["inputs"]["county_risk_2022"] == (amount == 48000.0)


# -- lvliang-2022#18: 20% of IP bought, at most 2,000,000 per firm per year, across purchases --

def _ip_profile(*purchases: tuple[str, float]) -> dict:
    return {"region": "141102", "industry": "M7520", "legal_form": "enterprise",
            "ip_transactions": {f"IP-{n}": {"role": "buyer", "amount": amount, "date": day}
                                for n, (day, amount) in enumerate(purchases)}}


def _ip_decision(matcher, profile, as_of, grants) -> matching.Decision:
    decisions = matcher.match(profile, as_of, matching.MatchContext(grants=tuple(grants)))
    (decision,) = [d for d in decisions if d.clause_id == "lvliang-2022-18"]
    return decision


def test_lvliang_ip_cap_accumulates_across_purchases(matcher):
    grants: list[tuple[dt.date, matching.Decision]] = []
    # 1st purchase: 500,000 -> 20% = 100,000.
    first = _ip_decision(matcher, _ip_profile(("2022-05-10", 500000.0)), D(2022, 5, 10), grants)
    assert (first.status, first.amount) == (MET, 100000.0)
    assert first.facts[model.GRANTED] == 0.0
    grants.append((D(2022, 5, 10), first))
    # A stored grant of another clause never counts against this cap.
    other = matching.Decision("yunnan-2022-2-1", "yunnan-2022#二(一)", "x", MET, amount=999999.0)
    grants.append((D(2022, 6, 1), other))
    # 2nd purchase: 12,000,000 more -> 20% of the year's 12.5M capped at 2M, less the 100,000 paid.
    profile = _ip_profile(("2022-05-10", 500000.0), ("2022-09-01", 12000000.0))
    second = _ip_decision(matcher, profile, D(2022, 9, 1), grants)
    assert (second.status, second.amount) == (MET, 1900000.0)
    assert second.explanation["amount"]["inputs"] == {"ip_buy_amount_year": 12500000.0, model.GRANTED: 100000.0}
    grants.append((D(2022, 9, 1), second))
    # 3rd purchase: the cap is used up.
    profile = _ip_profile(("2022-05-10", 500000.0), ("2022-09-01", 12000000.0), ("2022-11-01", 1000000.0))
    third = _ip_decision(matcher, profile, D(2022, 11, 1), grants)
    assert third.status == NOT_MET and third.amount is None
    assert third.facts[model.GRANTED] == 2000000.0
    # A new year starts from zero: 2022's grants do not count in 2023.
    profile = _ip_profile(("2022-05-10", 500000.0), ("2023-03-01", 500000.0))
    fourth = _ip_decision(matcher, profile, D(2023, 3, 1), grants)
    assert (fourth.status, fourth.amount) == (MET, 100000.0)


def test_grants_sum_only_met_decisions_of_the_clause_in_the_year(catalogue):
    decision = lambda status, amount: matching.Decision("lvliang-2022-18", "c", "v", status, amount=amount)  # noqa: E731
    grants = [
        (D(2021, 12, 31), decision(MET, 1000.0)),
        (D(2022, 1, 1), decision(MET, 100.0)),
        (D(2022, 12, 31), decision(MET, 10.0)),  # dated after as_of: still paid this year
        (D(2022, 3, 1), decision(UNKNOWN, None)),
        (D(2022, 3, 2), decision(NOT_MET, None)),
    ]
    assert inputs.grants_by_clause(catalogue, D(2022, 6, 1), grants) == {"lvliang-2022-18": 110.0}


def test_firms_that_read_alike_share_a_decision_and_no_firm_gets_anothers(catalogue):
    """Equal inputs give one decision object (a backfill explains, encodes and sends it once); any
    difference in what the clause reads — a value, its absence, the day, an override — gives the
    decision judged afresh for that firm. qinghai-2022#(二): "月销售额15万元(含)以下"."""
    memo = reference.ReferenceMatcher(catalogue)
    clause = catalogue.by_id[VAT]
    firm = {**QINGHAI, "taxpayer_type": "small_scale", "vat_monthly_sales": 150000.0}
    first = one(memo, VAT, {**firm, "manufacturing": True}, D(2022, 6, 1))
    # manufacturing is not read by this clause: the same decision, not a copy
    assert one(memo, VAT, {**firm, "manufacturing": False}, D(2022, 6, 1)) is first
    cases = [
        ({**firm, "vat_monthly_sales": 150000.01}, D(2022, 6, 1), None),
        ({**firm, "region": "630103"}, D(2022, 6, 1), None),
        ({k: v for k, v in firm.items() if k != "vat_monthly_sales"}, D(2022, 6, 1), None),
        (firm, D(2022, 6, 2), None),
        (firm, D(2022, 6, 1), {VAT: {"vat_monthly_sales": 150001.0}}),
        (firm, D(2022, 6, 1), None),
    ]
    for attributes, as_of, overrides in cases * 2:
        remembered = one(memo, VAT, attributes, as_of, overrides=overrides)
        view = {**inputs.normalise(attributes), **((overrides or {}).get(VAT) or {})}
        assert remembered == reference.judge(clause, view, as_of), (attributes, as_of, overrides)
    assert one(memo, VAT, firm, D(2022, 6, 1)) is first
