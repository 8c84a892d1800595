"""The plain-Chinese names of profile attributes: every attribute is named with the agency holding it,
and the loader refuses a malformed file naming the file and the key."""

from __future__ import annotations

import re

import pytest

from engine.judging.derive import names
from engine.judging.derive.attributes import ATTRIBUTE_TYPES

_ASCII_WORD = re.compile(r"[A-Za-z_]")


def test_every_profile_attribute_has_a_chinese_name_and_the_agency_that_holds_it():
    named = names.attribute_names()
    assert set(named) == set(ATTRIBUTE_TYPES)
    for key, entry in named.items():
        assert entry.name and entry.held_by, key
        # What a firm reads: no codes or English in either.
        assert not _ASCII_WORD.search(entry.name + entry.held_by), (key, entry)


def test_the_formula_inputs_keep_their_meaning():
    named = names.attribute_names()
    assert named["ip_buy_amount_year"].told_in_notices and named["ip_buy_amount_year"].unit == "yuan"
    assert named["county_risk_2022"].value_text(True) == "是"
    assert not named["region"].told_in_notices


@pytest.mark.parametrize(
    ("body", "complaint"),
    [
        ("region:\n  name: 地区\n", "region: needs name and held_by"),
        ("region:\n  name: 地区\n  held_by: 市场监管\n  short: 地区\n", "region: short and unit go together"),
        ("region:\n  name: 地区\n  held_by: ''\n", "region.held_by: must be non-empty"),
        ("nonsense:\n  name: 地区\n  held_by: 市场监管\n", "nonsense: not a profile attribute"),
        ("region:\n  name: 地区\n  held_by: 市场监管\n  colour: red\n", "region: needs name and held_by"),
    ],
)
def test_a_malformed_names_file_is_refused_naming_the_file_and_key(tmp_path, body, complaint):
    path = tmp_path / "attribute_names.yaml"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(names.NamesError, match=re.escape(f"attribute_names.yaml: {complaint}")):
        names.attribute_names(path)
