"""The benefit-formula evaluator: whitelist, amounts, inputs used, missing inputs."""

from __future__ import annotations

import pytest

from engine.judging import derive
from engine.judging.catalogue import formula, model

IP = "max(0, min(0.2 * ip_buy_amount_year, 2000000) - granted_year)"
RENT = "state_owned_monthly_rent * (6 if county_risk_2022 else 3)"


@pytest.mark.parametrize(
    ("values", "amount"),
    [
        ({"ip_buy_amount_year": 500000, "granted_year": 0}, 100000.0),
        ({"ip_buy_amount_year": 12000000, "granted_year": 0}, 2000000.0),
        ({"ip_buy_amount_year": 12000000, "granted_year": 1500000}, 500000.0),
        ({"ip_buy_amount_year": 1000000, "granted_year": 2000000}, 0.0),
    ],
)
def test_capped_formula(values, amount):
    result = formula.evaluate(IP, values)
    assert result.amount == amount
    assert result.inputs == values
    assert result.missing == ()


def test_conditional_reads_only_the_branch_taken():
    assert formula.evaluate(RENT, {"state_owned_monthly_rent": 8000.0, "county_risk_2022": True}).amount == 48000.0
    assert formula.evaluate(RENT, {"state_owned_monthly_rent": 8000.0, "county_risk_2022": False}).amount == 24000.0
    result = formula.evaluate("a if c else b", {"a": 1, "c": True})
    assert (result.amount, result.missing, result.inputs) == (1.0, (), {"a": 1, "c": True})


def test_missing_inputs_give_no_amount_and_are_named():
    result = formula.evaluate(RENT, {"county_risk_2022": True})
    assert result.amount is None
    assert result.missing == ("state_owned_monthly_rent",)
    # A missing condition: both branches are read to name everything missing.
    assert formula.evaluate("a if c else b", {}).missing == ("a", "b", "c")


@pytest.mark.parametrize(
    ("text", "values", "amount"),
    [
        ("-x + 2 * (y - 1) / 4", {"x": 1, "y": 3}, 0.0),
        ("1 if x > 2 and not y else 0", {"x": 3, "y": False}, 1.0),
        ("1 if x < 2 or y else 0", {"x": 3, "y": False}, 0.0),
        ("1 if 1 <= x <= 5 else 0", {"x": 5}, 1.0),
        ("1 if x == 2 or x != 2 else 0", {"x": 2}, 1.0),
        ("0.1 + 0.2", {}, 0.3),
        ("max(1, 2, 3) - min(4, 5)", {}, -1.0),
        # Kleene: a false operand decides `and` even when another is missing.
        ("1 if (m and f) else 2", {"f": False}, 2.0),
    ],
)
def test_operators(text, values, amount):
    assert formula.evaluate(text, values).amount == amount


def test_division_by_zero_is_reported_not_raised():
    result = formula.evaluate("x / y", {"x": 1, "y": 0})
    assert result.amount is None and result.error == "division by zero"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('__import__("os")', "only min(...) and max(...)"),
        ("x.real", "Attribute"),
        ("x ** 2", "operator Pow"),
        ("x // 2", "operator FloorDiv"),
        ("x[0]", "Subscript"),
        ("lambda: 1", "Lambda"),
        ("min", "used other than as a call"),
        ("min(x)", "two or more"),
        ("max(*x)", "two or more plain arguments"),
        ("True", "not a number"),
        ("'a'", "not a number"),
        ("x +", "syntax error"),
        ("", "empty"),
        ("(" * 40 + "1" + ")" * 40 + " + " + " + ".join(["1"] * 20), None),
    ],
)
def test_rejects_everything_outside_the_whitelist(text, message):
    if message is None:  # parentheses do not nest the tree: long but shallow formulas are fine
        formula.parse(text)
        return
    with pytest.raises(formula.FormulaError, match=message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        formula.parse(text)


def test_unknown_names_are_rejected_when_names_are_limited():
    formula.validate(IP, {*derive.ATTRIBUTE_TYPES, model.GRANTED})
    with pytest.raises(formula.FormulaError, match="unknown name 'foo'"):
        formula.validate("foo * 2", derive.ATTRIBUTE_TYPES)
    assert formula.names(IP) == {"ip_buy_amount_year", "granted_year"}


def test_too_deep_or_too_long():
    with pytest.raises(formula.FormulaError, match="nested deeper"):
        formula.parse("-" * 40 + "1")
    with pytest.raises(formula.FormulaError, match="longer than"):
        formula.parse("1+" * 300 + "1")
