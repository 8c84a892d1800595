"""Industry parsing (GB/T 4754-2017) and sectors per 国家统计局《三次产业划分规定》(2018)."""

import pytest

from engine.judging.derive.sectors import (
    industry_division,
    industry_section,
    is_manufacturing,
    is_tertiary,
    parse_industry,
    sector,
)


@pytest.mark.parametrize("code,parsed", [
    ("F5211", ("F", "5211")), ("C13", ("C", "13")), ("I65", ("I", "65")), ("F", ("F", "")),
    ("5211", ("F", "5211")), (" c131 ", ("C", "131")), ("T97", ("T", "97")), ("A01", ("A", "01")),
])
def test_parse(code, parsed):
    assert parse_industry(code) == parsed


@pytest.mark.parametrize("code", ["", "U", "F13", "C44", "00", "98", "C1", "C13111", "5211x", None, 5211])
def test_parse_rejects(code):
    assert parse_industry(code) is None
    assert industry_section(code) is None
    assert is_tertiary(code) is None
    assert is_manufacturing(code) is None


def test_section_and_division():
    assert industry_section("F5211") == "F"
    assert industry_division("F5211") == "52"
    assert industry_division("F") is None
    assert industry_division("C131") == "13"


@pytest.mark.parametrize("code,expected", [
    # 第一产业: A01–A04.
    ("A0111", 1), ("A02", 1), ("A03", 1), ("A0411", 1), ("A04", 1),
    # A05 农、林、牧、渔专业及辅助性活动 is 第三产业.
    ("A05", 3), ("A0511", 3), ("A0541", 3),
    # 第二产业: B except B11, C except C43, D, E.
    ("B06", 2), ("B10", 2), ("B12", 2), ("C13", 2), ("C42", 2), ("C3511", 2),
    ("D44", 2), ("D4611", 2), ("E47", 2), ("E50", 2), ("E", 2), ("D", 2),
    # B11 开采专业及辅助性活动 and C43 金属制品、机械和设备修理业 are 第三产业.
    ("B11", 3), ("B1120", 3), ("C43", 3), ("C4320", 3),
    # Everything else is 第三产业.
    ("F5211", 3), ("G53", 3), ("I65", 3), ("J66", 3), ("K7010", 3), ("S91", 3), ("T97", 3), ("F", 3),
    # A bare A/B/C spans two sectors.
    ("A", None), ("B", None), ("C", None),
])
def test_sector(code, expected):
    assert sector(code) == expected
    assert is_tertiary(code) == (None if expected is None else expected == 3)


def test_manufacturing_is_section_c():
    assert is_manufacturing("C13") is True
    assert is_manufacturing("C") is True
    assert is_manufacturing("C43") is True  # still 制造业 although 第三产业
    assert is_manufacturing("B0610") is False
    assert is_manufacturing("D44") is False
    assert is_manufacturing("F5211") is False
