"""GB/T 4754-2017 《国民经济行业分类》: the code table shipped in engine/core/data/gbt4754_2017.tsv."""

from __future__ import annotations

import functools
import pathlib
import re

TABLE = pathlib.Path(__file__).parent / "data" / "gbt4754_2017.tsv"

#: A code as events carry it: the section letter, then the division, group or class digits.
CODE_PATTERN = re.compile(r"^([A-T])(\d{2,4})?$")


@functools.cache
def names() -> dict[str, str]:
    """Every code in the table (sections as letters, others as digits) → its Chinese name."""
    table: dict[str, str] = {}
    with TABLE.open(encoding="utf-8") as rows:
        next(rows)  # header
        for row in rows:
            code, name, _level = row.rstrip("\n").split("\t")
            table[code] = name
    return table


@functools.cache
def section_of_division() -> dict[str, str]:
    """Division (two digits) → its section letter, from the table's order (divisions follow their section)."""
    mapping: dict[str, str] = {}
    section = None
    with TABLE.open(encoding="utf-8") as rows:
        next(rows)
        for row in rows:
            code, _name, level = row.rstrip("\n").split("\t")
            if level == "section":
                section = code
            elif level == "division":
                assert section is not None, "the table lists a division before any section"
                mapping[code] = section
    return mapping


def check(code: str) -> str | None:
    """None if `code` is a known GB/T 4754-2017 code written as letter + digits, else the reason."""
    match = CODE_PATTERN.match(code)
    if match is None:
        return "must be a section letter A–T followed by 2 to 4 digits, e.g. F5211"
    section, digits = match.groups()
    if digits is None:
        return None
    if digits not in names():
        return f"{digits} is not a GB/T 4754-2017 code"
    if section_of_division().get(digits[:2]) != section:
        return f"{digits} belongs to section {section_of_division().get(digits[:2])}, not {section}"
    return None


def name(code: str) -> str | None:
    """The Chinese name of a letter+digits code, or None."""
    match = CODE_PATTERN.match(code)
    if match is None:
        return None
    section, digits = match.groups()
    return names().get(digits or section)
