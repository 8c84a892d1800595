"""小型微利企业 per 财税〔2019〕13号: limits inclusive (不超过)."""

import pytest

from engine.judging.derive.small_low_profit import is_small_low_profit


@pytest.mark.parametrize("income,employees,assets,expected", [
    (3_000_000, 300, 50_000_000, True),  # exactly at every limit
    (3_000_001, 300, 50_000_000, False),
    (3_000_000.01, 300, 50_000_000, False),
    (3_000_000, 301, 50_000_000, False),
    (3_000_000, 300, 50_000_001, False),
    (0, 1, 1, True),
    (-500_000, 10, 1_000_000, True),  # a loss year is within the income limit
    (800_000, 35, 4_000_000, True),
    (3_000_000, 300.5, 50_000_000, False),  # quarterly-average headcount above 300
])
def test_limits(income, employees, assets, expected):
    assert is_small_low_profit(income, employees, assets) is expected


def test_missing_inputs():
    assert is_small_low_profit(None, 10, 1_000_000) is None
    assert is_small_low_profit(100, None, 1_000_000) is None
    assert is_small_low_profit(100, 10, None) is None
    # One known figure over its limit settles it.
    assert is_small_low_profit(None, 301, None) is False
    assert is_small_low_profit(3_000_001, None, None) is False


def test_restricted_industry():
    assert is_small_low_profit(100, 10, 1_000, restricted_industry=True) is False
