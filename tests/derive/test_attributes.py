"""attributes(): the profile of docs/profile.md flattened as of a date."""

import copy
import datetime as dt
import json
import pathlib
import re

import pytest

from engine.core import matching
from engine.judging.derive import ATTRIBUTE_TYPES, attributes
from engine.judging.derive.activity import CERT_KINDS

DOC = (pathlib.Path(__file__).resolve().parents[2] / "docs" / "profile.md").read_text("utf-8")
EXAMPLE = json.loads(re.search(r"```json\n(.*?)```", DOC, re.S).group(1))
AS_OF = dt.date(2022, 6, 15)
NO_CERTS = {f"cert_{kind}": False for kind in CERT_KINDS}


def _profile(**changes):
    profile = copy.deepcopy(EXAMPLE)
    profile.update(changes)
    return profile


def _check_types(attrs):
    for name, value in attrs.items():
        expected = ATTRIBUTE_TYPES[name]
        assert isinstance(value, expected), (name, value)
        if expected is not bool:
            assert not isinstance(value, bool), (name, value)


def test_attribute_types_are_the_docs_table():
    table = re.findall(r"^\| `([a-z0-9_<>]+)` \|", DOC, re.M)
    expanded = set()
    for name in table:
        if "<kind>" in name:
            expanded |= {name.replace("<kind>", kind) for kind in CERT_KINDS}
        else:
            expanded.add(name)
    assert len(table) > 30
    assert set(ATTRIBUTE_TYPES) == expanded
    kinds = re.findall(r"`([a-z_]+)` \(", DOC.split("Certification kinds:")[1].split("levels")[0])
    assert tuple(kinds) == CERT_KINDS


def test_example_profile():
    attrs = attributes(EXAMPLE, AS_OF)
    _check_types(attrs)
    assert attrs == {
        "region": "140302", "city": "140300", "province": "140000",
        "legal_form": "enterprise", "industry": "F5211", "industry_section": "F",
        "industry_division": "52", "tertiary": True, "manufacturing": False,
        "registered_year": 2020, "firm_age_years": 2,
        "employees": 35.0, "revenue": 6_000_000.0, "assets": 4_000_000.0,
        "taxable_income": 800_000.0, "taxpayer_type": "small_scale",
        "vat_monthly_sales": 120_000.0, "credit_rating": "A",
        # 零售业: 35 people (小型 on X) and 600万 revenue (中型 on Y) → 小型.
        "size_class": "小型", "sme": True, "small_micro": True, "small_low_profit": True,
        "insured_headcount": 35, "unemployment_insurance_paid": True,
        "hires_college_graduates": 2, "hires_hard_to_employ": 0, "hires_veterans": 1,
        "hires_poverty_alleviated": 0, "layoffs_year": 0, "layoff_rate": 0.0,
        **NO_CERTS,
        "cert_specialized_sme": True, "cert_specialized_sme_level": "province",
        "cert_specialized_sme_year": 2021, "cert_specialized_sme_date": 20211102,
        "state_owned_lease": True, "state_owned_monthly_rent": 8000.0, "state_owned_lease_full_months": 12,
        "agri_loan_new_year": 2_000_000.0, "agri_loan_max_rate": 4.35,
        "agri_loan_interest_year": pytest.approx(87_000.0), "guarantee_loan_new_year": 0.0,
        # 2,000,000 × 4.35% × 306/365: issued 1 March, it bears interest for 306 days of 2022.
        "loan_new_year": 2_000_000.0, "loan_interest_rest_of_year": pytest.approx(72_936.99, abs=0.01),
        "ip_buy_amount_year": 500_000.0, "ip_sell_amount_year": 0.0,
        "county_risk_2022": False, "county_sme_demo": False, "vat_credit_balance": 0.0,
        "customs_registered": True, "above_scale": False,
    }


def test_empty_profile():
    attrs = attributes({}, AS_OF)
    _check_types(attrs)
    # Registers are authoritative: no record in one is not being in it.
    assert attrs == {**NO_CERTS, "county_risk_2022": False, "county_sme_demo": False, "customs_registered": False,
                     "above_scale": False}


def test_risk_years():
    attrs = attributes({}, AS_OF, designations=matching.designations(epidemic_risk={2021, 2022}))
    assert attrs["county_risk_2022"] is True
    assert attributes({}, AS_OF, designations=matching.designations(epidemic_risk=[2021]))["county_risk_2022"] is False
    # another kind of designation in 2022 is not a risk area
    assert attributes({}, AS_OF, designations=matching.designations(sme_demo_county=[2022]))["county_risk_2022"] is False


def test_demo_county_from_the_year_it_is_named():
    named_2022 = matching.designations(sme_demo_county=[2022])
    assert attributes({}, dt.date(2022, 1, 1), designations=named_2022)["county_sme_demo"] is True
    assert attributes({}, dt.date(2025, 6, 1), designations=named_2022)["county_sme_demo"] is True
    assert attributes({}, dt.date(2021, 12, 31), designations=named_2022)["county_sme_demo"] is False
    # a risk area is not a demonstration county; no designation at all: not on the city's list
    assert attributes({}, AS_OF, designations=matching.designations(epidemic_risk=[2022]))["county_sme_demo"] is False
    assert attributes({}, AS_OF)["county_sme_demo"] is False


def test_datetime_as_of():
    assert attributes(EXAMPLE, dt.datetime(2022, 6, 15, 9, 30)) == attributes(EXAMPLE, AS_OF)


def test_region_variants():
    assert attributes({"region": "110105"}, AS_OF)["city"] == "110000"
    attrs = attributes({"region": "999999"}, AS_OF)
    assert attrs["region"] == "999999" and "city" not in attrs and "province" not in attrs
    attrs = attributes({"region": "140300"}, AS_OF)
    assert (attrs["city"], attrs["province"]) == ("140300", "140000")


def test_industry_variants():
    attrs = attributes({"industry": "5211"}, AS_OF)
    assert attrs["industry"] == "F5211" and attrs["industry_section"] == "F"
    attrs = attributes({"industry": "C"}, AS_OF)
    assert attrs["manufacturing"] is True and "tertiary" not in attrs and "industry_division" not in attrs
    assert "industry" not in attributes({"industry": "F13"}, AS_OF)


def test_cit_year_selection():
    tax = {"cit": {
        "2020": {"revenue": 1.0, "employees": 1, "assets": 1.0, "taxable_income": 1.0},
        "2021": {"revenue": 2.0, "employees": 2, "assets": 2.0, "taxable_income": 2.0},
        "2022": {"revenue": 3.0, "employees": 3, "assets": 3.0, "taxable_income": 3.0},
    }}
    assert attributes({"tax": tax}, AS_OF)["revenue"] == 2.0
    only_current = {"cit": {"2022": tax["cit"]["2022"]}}
    assert attributes({"tax": only_current}, AS_OF)["revenue"] == 3.0
    only_future = {"cit": {"2023": tax["cit"]["2022"]}}
    assert "revenue" not in attributes({"tax": only_future}, AS_OF)


def test_employees_fall_back_to_social_insurance():
    profile = {"industry": "M7320", "social_insurance": {"2022-05": {"insured": 12}}}
    attrs = attributes(profile, AS_OF)
    assert attrs["employees"] == 12.0 and attrs["size_class"] == "小型"


def test_size_class_large_and_individual_business():
    profile = _profile(tax={"cit": {"2021": {"employees": 500, "revenue": 3e8,
                                              "assets": 1e8, "taxable_income": 5e6}}})
    attrs = attributes(profile, AS_OF)
    assert (attrs["size_class"], attrs["sme"], attrs["small_micro"]) == ("大型", False, False)
    assert attrs["small_low_profit"] is False
    assert attributes(_profile(legal_form="individual_business"), AS_OF)["small_low_profit"] is False


@pytest.mark.parametrize("vat,expected", [
    ({"2022-03": {"sales": 90000, "months": 1}, "2022-05": {"sales": 30000, "months": 1}}, 30000.0),
    ({"2022-05": {"sales": 30000}, "2022-06": {"sales": 60000}}, 30000.0),  # June ends after as_of
    ({"2022Q1": {"sales": 90000, "months": 3}}, 30000.0),
    ({"2022Q1": {"sales": 90000}, "2022Q2": {"sales": 1}}, 30000.0),  # Q2 ends 30 June
    ({"2022Q1": {"sales": 90000, "months": 3}, "2022-03": {"sales": 12000, "months": 1}}, 12000.0),
    ({"2022-07": {"sales": 1}}, None),
])
def test_vat(vat, expected):
    attrs = attributes({"tax": {"vat": vat}}, AS_OF)
    assert attrs.get("vat_monthly_sales") == expected


def test_credit_rating_latest_up_to_the_year():
    tax = {"credit_rating": {"2020": "B", "2021": "A", "2023": "D"}}
    assert attributes({"tax": tax}, AS_OF)["credit_rating"] == "A"


def test_social_insurance_year_and_as_of():
    si = {
        "2021-12": {"insured": 50, "layoffs": 9, "hires": {"veterans": 5}},
        "2022-01": {"insured": 48, "layoffs": 2, "hires": {"college_graduates": 1, "veterans": 1}},
        "2022-06": {"insured": 40, "layoffs": 3, "unemployment_insurance_paid": False,
                    "hires": {"college_graduates": 2}},
        "2022-07": {"insured": 10, "layoffs": 30, "unemployment_insurance_paid": True},
    }
    attrs = attributes({"social_insurance": si}, AS_OF)
    _check_types(attrs)
    assert attrs["insured_headcount"] == 40
    assert attrs["unemployment_insurance_paid"] is False
    assert attrs["layoffs_year"] == 5
    assert attrs["layoff_rate"] == pytest.approx(12.5)
    assert (attrs["hires_college_graduates"], attrs["hires_veterans"], attrs["hires_hard_to_employ"]) == (3, 1, 0)


def test_social_insurance_without_this_years_reports():
    attrs = attributes({"social_insurance": {"2021-12": {"insured": 50, "layoffs": 1}}}, AS_OF)
    assert attrs["insured_headcount"] == 50
    assert "layoffs_year" not in attrs and "hires_veterans" not in attrs


@pytest.mark.parametrize("record,held", [
    ({"level": "national", "granted_on": "2022-06-15", "revoked_on": None}, True),
    ({"level": "national", "granted_on": "2022-06-16", "revoked_on": None}, False),
    ({"level": "national", "granted_on": "2020-01-01", "revoked_on": "2022-06-15"}, False),
    ({"level": "national", "granted_on": "2020-01-01", "revoked_on": "2022-06-16"}, True),
    ({"level": "national", "revoked_on": None}, None),
    ({"level": "national", "revoked_on": "2021-01-01"}, False),
])
def test_certification_on_as_of(record, held):
    attrs = attributes({"certifications": {"high_tech": record}}, AS_OF)
    assert attrs.get("cert_high_tech") is held
    assert ("cert_high_tech_level" in attrs) is bool(held)
    if held:
        assert attrs["cert_high_tech_year"] == int(record["granted_on"][:4])
        assert attrs["cert_high_tech_date"] == int(record["granted_on"].replace("-", ""))
        assert attrs["cert_high_tech_level"] == "national"


def test_certifications_ignore_unknown_kinds():
    attrs = attributes({"certifications": {"unicorn": {"granted_on": "2020-01-01"}}}, AS_OF)
    assert not any("unicorn" in name for name in attrs)


LEASE = {"landlord_type": "state_owned_enterprise", "monthly_rent": 8000.0,
         "start": "2021-07-01", "end": "2024-06-30"}


@pytest.mark.parametrize("leases,expected", [
    ({"a": LEASE}, (True, 8000.0)),
    ({"a": LEASE, "b": {**LEASE, "landlord_type": "government_agency", "monthly_rent": 2000}}, (True, 10000.0)),
    ({"a": {**LEASE, "landlord_type": "private"}}, (False, 0.0)),
    ({"a": {**LEASE, "end": "2021-12-31"}}, (False, 0.0)),  # ended before the year
    ({"a": {**LEASE, "start": "2023-01-01"}}, (False, 0.0)),  # starts after the year
    ({"a": {**LEASE, "start": "2022-12-31"}}, (True, 8000.0)),  # overlaps the year's last day
    ({}, (False, 0.0)),
    ({"a": {**LEASE, "landlord_type": None}}, (None, None)),
    ({"a": {**LEASE, "monthly_rent": None}}, (True, None)),
])
def test_leases(leases, expected):
    attrs = attributes({"leases": leases}, AS_OF)
    assert (attrs.get("state_owned_lease"), attrs.get("state_owned_monthly_rent")) == expected


@pytest.mark.parametrize("start,end,months", [
    ("2021-07-01", "2024-06-30", 12),
    ("2022-11-01", None, 2),            # from 1 November: November and December
    ("2022-11-15", "2023-06-30", 1),    # half of November is not a whole month
    ("2021-01-01", "2022-02-28", 2),    # ends with February
    ("2022-12-31", None, 0),            # one day of the year
])
def test_lease_full_months_cap_what_a_months_waiver_can_be(start, end, months):
    # yunnan-2022#二(一) waives "3 months' rent" of 2022: never more months than the lease had in 2022.
    attrs = attributes({"leases": {"a": {**LEASE, "start": start, "end": end}}}, AS_OF)
    assert attrs["state_owned_lease_full_months"] == months


def test_lease_full_months_take_the_shortest_lease():
    leases = {"a": LEASE, "b": {**LEASE, "landlord_type": "government_agency", "start": "2022-10-01"}}
    assert attributes({"leases": leases}, AS_OF)["state_owned_lease_full_months"] == 3


def test_no_lease_section_is_unknown():
    attrs = attributes({"name": "x"}, AS_OF)
    assert "state_owned_lease" not in attrs and "state_owned_monthly_rent" not in attrs


def test_loans():
    loans = {
        "a": {"kind": "agricultural", "principal": 1_000_000, "annual_rate": 6.0, "issued_on": "2022-01-10"},
        "b": {"kind": "agricultural", "principal": 500_000, "annual_rate": 4.0, "issued_on": "2022-06-15"},
        "c": {"kind": "agricultural", "principal": 9e9, "annual_rate": 9.0, "issued_on": "2022-06-16"},
        "d": {"kind": "agricultural", "principal": 9e9, "annual_rate": 9.0, "issued_on": "2021-12-31"},
        "e": {"kind": "business_guarantee", "principal": 300_000, "annual_rate": 3.0, "issued_on": "2022-02-01"},
        "f": {"kind": "other", "principal": 1, "annual_rate": 1.0, "issued_on": "2022-02-01"},
    }
    attrs = attributes({"loans": loans}, AS_OF)
    _check_types(attrs)
    assert attrs["agri_loan_new_year"] == 1_500_000.0
    assert attrs["agri_loan_max_rate"] == 6.0
    # Interest at min(rate, 5%): 1,000,000 × 5% + 500,000 × 4%.
    assert attrs["agri_loan_interest_year"] == pytest.approx(70_000.0)
    assert attrs["guarantee_loan_new_year"] == 300_000.0
    # Every loan of the year counts for yunnan-2022#一(一), whatever its kind, up to as_of (c is later).
    assert attrs["loan_new_year"] == 1_000_000 + 500_000 + 300_000 + 1


def test_new_loans_bear_interest_from_issue_to_year_end():
    # yunnan-2022#一(一): a 2022 loan issued on 1 November bears 61 days of 2022 interest, not a year's.
    loans = {"n": {"kind": "other", "principal": 1_200_000, "annual_rate": 6.0, "issued_on": "2022-11-01"}}
    attrs = attributes({"loans": loans}, dt.date(2022, 11, 15))
    assert attrs["loan_new_year"] == 1_200_000.0
    assert attrs["loan_interest_rest_of_year"] == pytest.approx(1_200_000 * 0.05 * 61 / 365)  # at most 5%
    assert attrs["agri_loan_new_year"] == 0.0  # not a 涉农 loan, yet it counts above


def test_loans_empty_and_absent():
    attrs = attributes({"loans": {}}, AS_OF)
    assert (attrs["agri_loan_new_year"], attrs["agri_loan_interest_year"], attrs["guarantee_loan_new_year"]) == (0.0, 0.0, 0.0)
    assert "agri_loan_max_rate" not in attrs
    assert not any(name.endswith("loan_new_year") for name in attributes({}, AS_OF))
    unreadable = {"a": {"kind": "agricultural", "principal": 1.0, "annual_rate": 4.0, "issued_on": None}}
    assert "agri_loan_new_year" not in attributes({"loans": unreadable}, AS_OF)


def test_ip_transactions():
    ip = {
        "a": {"role": "buyer", "amount": 500_000, "date": "2022-06-01"},
        "b": {"role": "buyer", "amount": 100_000, "date": "2022-06-16"},
        "c": {"role": "seller", "amount": 70_000, "date": "2022-01-05"},
        "d": {"role": "buyer", "amount": 900_000, "date": "2021-12-31"},
    }
    attrs = attributes({"ip_transactions": ip}, AS_OF)
    assert (attrs["ip_buy_amount_year"], attrs["ip_sell_amount_year"]) == (500_000.0, 70_000.0)
    assert "ip_buy_amount_year" not in attributes({}, AS_OF)


@pytest.mark.parametrize("registered,as_of,age", [
    ("2020-03-15", dt.date(2022, 3, 14), 1),
    ("2020-03-15", dt.date(2022, 3, 15), 2),
    ("2020-02-29", dt.date(2021, 2, 28), 0),
    ("2020-02-29", dt.date(2021, 3, 1), 1),
    ("2022-06-15", dt.date(2022, 6, 15), 0),
    ("2022-06-16", dt.date(2022, 6, 15), None),
])
def test_firm_age(registered, as_of, age):
    attrs = attributes({"registered_on": registered}, as_of)
    assert attrs["registered_year"] == int(registered[:4])
    assert attrs.get("firm_age_years") == age
