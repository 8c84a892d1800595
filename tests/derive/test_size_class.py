"""Size class per 工信部联企业〔2011〕300号: every row's thresholds at and one unit below the bound.

The expected bounds are restated here from 第四条 in yuan (万元 × 10000), independently of the
module's table, so a slip in either the table or the unit conversion fails a test.
"""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.judging.derive.size_class import ROWS, industry_row, size_class

WAN = 10_000

# row → (an industry code in it, {indicator: (大型, 中型, 小型 lower bounds)}), 300号 第四条.
EXPECTED = {
    "农林牧渔业": ("A0111", {"revenue": (20000 * WAN, 500 * WAN, 50 * WAN)}),
    "工业": ("C1311", {"employees": (1000, 300, 20), "revenue": (40000 * WAN, 2000 * WAN, 300 * WAN)}),
    "建筑业": ("E4710", {"revenue": (80000 * WAN, 6000 * WAN, 300 * WAN),
                       "assets": (80000 * WAN, 5000 * WAN, 300 * WAN)}),
    "批发业": ("F5121", {"employees": (200, 20, 5), "revenue": (40000 * WAN, 5000 * WAN, 1000 * WAN)}),
    "零售业": ("F5211", {"employees": (300, 50, 10), "revenue": (20000 * WAN, 500 * WAN, 100 * WAN)}),
    "交通运输业": ("G5431", {"employees": (1000, 300, 20),
                         "revenue": (30000 * WAN, 3000 * WAN, 200 * WAN)}),
    "仓储业": ("G5920", {"employees": (200, 100, 20), "revenue": (30000 * WAN, 1000 * WAN, 100 * WAN)}),
    "邮政业": ("G6010", {"employees": (1000, 300, 20), "revenue": (30000 * WAN, 2000 * WAN, 100 * WAN)}),
    "住宿业": ("H6110", {"employees": (300, 100, 10), "revenue": (10000 * WAN, 2000 * WAN, 100 * WAN)}),
    "餐饮业": ("H6210", {"employees": (300, 100, 10), "revenue": (10000 * WAN, 2000 * WAN, 100 * WAN)}),
    "信息传输业": ("I6311", {"employees": (2000, 100, 10),
                         "revenue": (100000 * WAN, 1000 * WAN, 100 * WAN)}),
    "软件和信息技术服务业": ("I6510", {"employees": (300, 100, 10),
                                "revenue": (10000 * WAN, 1000 * WAN, 50 * WAN)}),
    "房地产开发经营": ("K7010", {"revenue": (200000 * WAN, 1000 * WAN, 100 * WAN),
                            "assets": (10000 * WAN, 5000 * WAN, 2000 * WAN)}),
    "物业管理": ("K7020", {"employees": (1000, 300, 100), "revenue": (5000 * WAN, 1000 * WAN, 500 * WAN)}),
    "租赁和商务服务业": ("L7212", {"employees": (300, 100, 10),
                             "assets": (120000 * WAN, 8000 * WAN, 100 * WAN)}),
    "其他未列明行业": ("M7320", {"employees": (300, 100, 10)}),
}
CLASSES = ("大型", "中型", "小型", "微型")


def test_expected_covers_every_row():
    assert set(EXPECTED) == set(ROWS)
    for row, (code, bounds) in EXPECTED.items():
        assert industry_row(code) == row
        assert {i.field for i in ROWS[row]} == set(bounds)


def _cases():
    """(row, code, indicator, value, others, expected) at each bound and one unit below it."""
    for row, (code, bounds) in EXPECTED.items():
        for field, limits in bounds.items():
            for tier, bound in enumerate(limits):
                # The other indicators sit at their 大型 bound, so only `field` decides.
                others = {f: lim[0] for f, lim in bounds.items() if f != field}
                yield pytest.param(row, code, field, bound, others, CLASSES[tier],
                                   id=f"{row}-{field}-{bound}-at")
                yield pytest.param(row, code, field, bound - 1, others, CLASSES[tier + 1],
                                   id=f"{row}-{field}-{bound}-below")


@pytest.mark.parametrize("row,code,field,value,others,expected", list(_cases()))
def test_row_boundaries(row, code, field, value, others, expected):
    values = {"employees": None, "revenue": None, "assets": None, **others, field: value}
    assert size_class(code, **values) == expected


def test_must_meet_every_lower_bound():
    # 工业: 1500 people but 100万 revenue → below 小型 on revenue → 微型 (只须满足一项).
    assert size_class("C13", 1500, 1_000_000, None) == "微型"
    # 1500 people (大型 on X) with 1亿 revenue (中型 on Y) → drops to 中型.
    assert size_class("C13", 1500, 100_000_000, None) == "中型"
    # 50 people (小型 on X) with 5亿 revenue (大型 on Y) → 小型.
    assert size_class("C13", 50, 500_000_000, None) == "小型"
    # 建筑业 uses revenue and assets, not employees.
    assert size_class("E48", 99999, 3_000_000, 2_999_999) == "微型"
    assert size_class("E48", None, 800_000_000, 800_000_000) == "大型"


def test_missing_inputs():
    assert size_class("C13", None, 5_000_000, None) is None
    assert size_class("C13", 50, None, None) is None
    assert size_class("F5211", None, None, None) is None
    # Below the 小型 bound on one known indicator is 微型 whatever the other is.
    assert size_class("C13", 19, None, None) == "微型"
    assert size_class("K7010", None, None, 19_999_999) == "微型"
    # Indicators a row does not use are not needed.
    assert size_class("A0111", None, 5_000_000, None) == "中型"
    assert size_class("L7212", 50, None, 2_000_000) == "小型"


@pytest.mark.parametrize("code,row", [
    ("A", "农林牧渔业"), ("A0511", "农林牧渔业"),
    ("B0610", "工业"), ("B1120", "工业"), ("C43", "工业"), ("D4411", "工业"),
    ("5211", "零售业"), ("f5211", "零售业"), ("F51", "批发业"),
    ("G5810", "交通运输业"), ("G5910", "交通运输业"), ("G591", "交通运输业"),
    ("G5990", "仓储业"), ("G596", "仓储业"), ("G6020", "邮政业"),
    ("I64", "信息传输业"), ("I6311", "信息传输业"), ("I65", "软件和信息技术服务业"),
    ("K701", "房地产开发经营"), ("K702", "物业管理"),
    ("K7030", "其他未列明行业"), ("K7090", "其他未列明行业"),
    ("L71", "租赁和商务服务业"), ("L", "租赁和商务服务业"),
    ("M", "其他未列明行业"), ("N7810", "其他未列明行业"), ("O8010", "其他未列明行业"),
    ("Q8510", "其他未列明行业"), ("R90", "其他未列明行业"),
])
def test_industry_rows(code, row):
    assert industry_row(code) == row


@pytest.mark.parametrize("code", [
    "G5310",  # 铁路运输业: 交通运输业 "不含铁路运输业"
    "J6620",  # 金融业: 银发〔2015〕309号 instead
    "K7040",  # 房地产租赁经营 (自有房地产经营活动): excluded from 其他未列明行业
    "P8331", "Q8411", "S9221", "T9700",  # outside the 2017 统计办法's scope
    "G", "G59", "K", "K70", "Q", "F",  # too coarse: spans rows
    "", "X12", "F13", "C9", "12345", None,  # invalid
])
def test_no_row(code):
    assert industry_row(code) is None
    assert size_class(code, 10, 1_000_000, 1_000_000) is None


_counts = st.integers(min_value=0, max_value=5000)
_yuan = st.floats(min_value=0, max_value=3e9, allow_nan=False)


@given(st.sampled_from(sorted(EXPECTED)), _counts, _yuan, _yuan, _counts, _yuan, _yuan)
def test_more_never_makes_smaller(row, x, y, z, dx, dy, dz):
    code = EXPECTED[row][0]
    small, big = size_class(code, x, y, z), size_class(code, x + dx, y + dy, z + dz)
    assert small in CLASSES and big in CLASSES
    assert CLASSES.index(big) <= CLASSES.index(small)
