"""Industry codes (GB/T 4754-2017) and the three-sector split (国家统计局《三次产业划分规定》).

A code is a section letter optionally followed by 2-4 digits ("F", "F52", "F521", "F5211").
The letter may be omitted when digits are given, since every 大类 belongs to exactly one 门类.
"""

from __future__ import annotations

import functools
import re

#: 门类 → (first, last) 大类 of GB/T 4754-2017; the divisions are contiguous within a section.
SECTION_DIVISIONS: dict[str, tuple[int, int]] = {
    "A": (1, 5), "B": (6, 12), "C": (13, 43), "D": (44, 46), "E": (47, 50),
    "F": (51, 52), "G": (53, 60), "H": (61, 62), "I": (63, 65), "J": (66, 69),
    "K": (70, 70), "L": (71, 72), "M": (73, 75), "N": (76, 79), "O": (80, 82),
    "P": (83, 83), "Q": (84, 85), "R": (86, 90), "S": (91, 96), "T": (97, 97),
}

_CODE = re.compile(r"^([A-T])?(\d{2,4})?$")


def _section_of_division(division: int) -> str | None:
    for letter, (first, last) in SECTION_DIVISIONS.items():
        if first <= division <= last:
            return letter
    return None


def parse_industry(code: str | None) -> tuple[str, str] | None:
    """Split a GB/T 4754-2017 code into (门类 letter, digits), or None if it is not a valid code.

    Source: GB/T 4754-2017《国民经济行业分类》, 门类 A–T and their 大类 01–97.
    Digits may be "" (section only). A letter that disagrees with the division is rejected,
    because guessing which half is wrong would silently misclassify the firm.
    """
    if not isinstance(code, str):
        return None
    return _parse_code(code)


@functools.lru_cache(maxsize=4096)  # ~1,400 classes exist; derived attributes parse a firm's code several times
def _parse_code(code: str) -> tuple[str, str] | None:
    m = _CODE.match(code.strip().upper())
    if not m or (m.group(1) is None and m.group(2) is None):
        return None
    letter, digits = m.group(1), m.group(2) or ""
    if digits:
        section = _section_of_division(int(digits[:2]))
        if section is None or (letter is not None and letter != section):
            return None
        letter = section
    return letter, digits


def industry_section(code: str | None) -> str | None:
    """门类 letter of a GB/T 4754-2017 code ("F5211" → "F"); None if the code is invalid."""
    parsed = parse_industry(code)
    return parsed[0] if parsed else None


def industry_division(code: str | None) -> str | None:
    """大类 (two digits) of a GB/T 4754-2017 code ("F5211" → "52"); None if only a section is given."""
    parsed = parse_industry(code)
    if not parsed or not parsed[1]:
        return None
    return parsed[1][:2]


def sector(code: str | None) -> int | None:
    """Economic sector 1/2/3 per 国家统计局《三次产业划分规定》(2012, revised 2018 for GB/T 4754-2017).

    第一产业: 农、林、牧、渔业 (A01–A04), excluding A05 农、林、牧、渔专业及辅助性活动.
    第二产业: 采矿业 B (excluding B11 开采专业及辅助性活动), 制造业 C (excluding C43
    金属制品、机械和设备修理业), D 电力、热力、燃气及水生产和供应业, E 建筑业.
    第三产业 (服务业): everything else, including A05, B11 and C43.
    Returns None when the code is invalid or is a bare section (A, B, C) that spans two sectors.
    """
    parsed = parse_industry(code)
    if not parsed:
        return None
    section, digits = parsed
    # The exceptions (A05, B11, C43) are whole divisions, so sections A/B/C need a division.
    exception = {"A": "05", "B": "11", "C": "43"}.get(section)
    if exception is not None:
        if not digits:
            return None
        if digits[:2] == exception:
            return 3
        return 1 if section == "A" else 2
    return 2 if section in ("D", "E") else 3


def is_tertiary(code: str | None) -> bool | None:
    """True for 第三产业 per《三次产业划分规定》(see :func:`sector`); None when undeterminable."""
    s = sector(code)
    return None if s is None else s == 3


def is_manufacturing(code: str | None) -> bool | None:
    """True for 门类 C 制造业 of GB/T 4754-2017 (C43 repair included); None if the code is invalid."""
    section = industry_section(code)
    return None if section is None else section == "C"
