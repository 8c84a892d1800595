"""The glossary (engine/core/data/glossary.yaml) is complete and strict: every attribute the rules read,
every enum value the event schemas allow, every profile path an event sets, every event type, notice
and event state has its Chinese label, so nothing new reaches a reader as a code; and a malformed
file is refused, naming the file and the key."""

from __future__ import annotations

import re

import pytest
import yaml

from engine.core import event_status, glossary, notice_status
from engine.ingest.event_types import REGISTRY
from engine.judging.catalogue import loader, model
from engine.judging.derive import activity
from engine.judging.derive.attributes import ATTRIBUTE_TYPES
from engine.notices import outbox

G = glossary.load()
_ASCII_WORD = re.compile(r"[A-Za-z_]")


def test_every_attribute_the_rules_read_has_a_chinese_label_unit_and_holder():
    catalogue = loader.load()
    read = {leaf.attr for clause in catalogue.clauses for leaf in clause.leaves()}
    read |= {name for clause in catalogue.clauses if clause.benefit is not None for name in clause.benefit.inputs}
    assert read <= set(G.attributes), sorted(read - set(G.attributes))
    assert set(G.attributes) == set(ATTRIBUTE_TYPES) | {model.GRANTED}
    for name, term in G.attributes.items():
        # What a firm reads: no codes or English in the label or the agency.
        assert not _ASCII_WORD.search(term.label + (term.held_by or "")), (name, term)
        assert term.unit in glossary.UNITS or term.enum in G.enums, name


def test_every_input_of_a_benefit_formula_has_a_short_name_for_notices():
    inputs = {name for clause in loader.load().clauses if clause.benefit is not None for name in clause.benefit.inputs}
    assert {name for name in inputs - {model.GRANTED} if G.attributes[name].short is None} == set()


def test_every_enum_value_of_the_event_schemas_has_a_label():
    declared = {where: name for name, places in G.enum_schema.items() for where in places}
    seen = set()
    for event_type in REGISTRY:
        for prop, values in glossary.schema_enums(event_type.schema):
            where = f"{event_type.name}/{prop}"
            seen.add(where)
            assert where in declared, f"{where}: no glossary enum lists it under schema"
            assert set(map(str, values)) <= set(G.enums[declared[where]]), (where, set(values) - set(G.enums[declared[where]]))
    assert set(declared) == seen, "a glossary enum lists a schema place that does not exist"
    # The kinds the derivation knows, whether or not a schema spells them as an enum.
    assert set(activity.HIRE_KINDS) == set(G.enums["hire_category"])
    assert set(activity.CERT_KINDS) == set(G.enums["cert_kind"])
    assert set(activity.LANDLORD_TYPES) == set(G.enums["landlord_type"])
    assert set(activity.LOAN_KINDS) == set(G.enums["loan_kind"])


def test_every_profile_path_an_event_sets_has_a_label():
    sets = {path for event_type in REGISTRY for path in event_type.sets}
    assert sets == set(G.fields)
    assert G.field("leases.L0-2022.landlord_type")[0] == "房屋租赁 L0-2022：出租方类型"
    assert G.field("certifications.little_giant.level")[0] == "专精特新“小巨人”企业：认定级别"
    assert G.field("tax.vat.2022Q1.sales")[0] == "增值税申报（2022Q1）：销售额"
    assert G.field("nonsense.path") is None


def test_every_event_type_and_state_has_a_label():
    assert set(G.event_types) == set(REGISTRY.names())
    assert all(REGISTRY.get(name).label == label for name, label in G.event_types.items())
    assert set(G.table("notice_status")) == {s.value for s in notice_status.NoticeStatus}
    assert set(G.table("event_status")) == {s.value for s in event_status.EventStatus}
    assert set(G.table("mode")) == set(model.MODES) and set(G.table("op")) == set(model.OPS)
    assert set(G.table("answer")) == set(G.table("verdict")) and set(G.table("group")) == set(model.GROUP_KINDS)
    assert set(G.table("sms_preference")) == set(G.table("sms_choice")) == set(outbox.SMS_PREFERENCES)
    assert set(G.table("benefit_unit")) == set(model.UNITS) and set(G.table("mode_reason")) == set(model.MODE_REASONS)


@pytest.mark.parametrize(("unit", "value", "text"), [
    ("yuan", 8000, "8,000.00元"), ("yuan", 1234567.5, "1,234,567.50元"), ("months", 6, "6个月"), ("persons", 35.0, "35人"),
    ("percent", 4.35, "4.35%"), ("year", 2022, "2022年"), ("years", 3, "3年"), ("date", 20220227, "2022-02-27"),
    ("date", "2021-07-01", "2021-07-01"), ("yes_no", False, "否"), ("region", "530102", "昆明市五华区"),
    ("industry", "C3372", "建筑装饰搪瓷制品制造"), ("industry", "52", "零售业"), ("text", None, "—"),
])
def test_values_read_in_their_units(unit, value, text):
    assert G.value_text(glossary.Term("", unit), value) == text


def test_enum_values_read_by_their_labels():
    assert G.value_text(G.attributes["legal_form"], ["enterprise", "individual_business"]) == "企业、个体工商户"
    assert G.value_text(G.attributes["cert_high_tech_level"], "province") == "省级"
    assert G.value_text(G.attributes["legal_form"], "cooperative") == "cooperative"  # unknown: shown, not hidden


_GOOD_REST = """
fields:
  name: {label: 企业名称, unit: text}
enums:
  legal_form: {schema: [], values: {enterprise: 企业}}
event_types: {firm.registered: 企业登记}
labels: {verdict: {met: 符合}}
notice_reasons:
  exact: {"worker stopping": 发送进程停止}
  patterns: []
  provider_silent: 服务商未说明原因
  operator_actions: {requeued: 重新发送}
  smtp: {timeout: 超时}
csv: {decisions: [记录编号]}
"""


@pytest.mark.parametrize(("attributes", "rest", "complaint"), [
    ("region: {label: 地区, unit: region}", "", "attributes.region.held_by: must be non-empty text"),
    ("region: {label: 地区, held_by: 市场监管}", "", "attributes.region: needs a unit or an enum"),
    ("region: {label: 地区, unit: miles, held_by: 市场监管}", "", "attributes.region.unit: 'miles' is not one of"),
    ("region: {label: 地区, enum: colour, held_by: 市场监管}", "", "attributes.region.enum: 'colour' is not an enum"),
    ("region: {label: 地区, unit: region, held_by: 市场监管, colour: red}", "", "attributes.region: unknown key(s) colour"),
    ("region: {label: '', unit: region, held_by: 市场监管}", "", "attributes.region.label: must be non-empty text"),
    ("revenue: {label: 营业收入, unit: yuan, held_by: 税务, short: 一二三四五六七八九十一二三四五六七八九十一}", "",
     "attributes.revenue.short: 21 characters, at most 20"),
    ("region: {label: 地区, unit: region, held_by: 市场监管}",
     "fields:\n  leases.<lease_id>.end: {label: 租赁截止日期, unit: date}\n",
     "fields.leases.<lease_id>.end.label: must say each <placeholder>"),
    ("region: {label: 地区, unit: region, held_by: 市场监管}",
     "event_types: {firm.registered: ''}\n", "event_types.firm.registered: must be non-empty text"),
])
def test_a_malformed_glossary_is_refused_naming_the_file_and_key(tmp_path, attributes, rest, complaint):
    body = yaml.safe_load(_GOOD_REST)
    body.update(yaml.safe_load(rest) or {})
    text = f"attributes:\n  {attributes}\n" + yaml.safe_dump(body, allow_unicode=True)
    path = tmp_path / "glossary.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(glossary.GlossaryError, match=re.escape(f"glossary.yaml: {complaint}")):
        glossary.load(path)


def test_a_reason_pattern_must_name_only_its_own_parts(tmp_path):
    body = yaml.safe_load(_GOOD_REST)
    body["notice_reasons"]["patterns"] = [{"name": "x", "pattern": "gave up after (?P<n>\\d+)", "say": "尝试 {count} 次"}]
    path = tmp_path / "glossary.yaml"
    path.write_text("attributes:\n  region: {label: 地区, unit: region, held_by: 市场监管}\n"
                    + yaml.safe_dump(body, allow_unicode=True), encoding="utf-8")
    with pytest.raises(glossary.GlossaryError, match=re.escape("glossary.yaml: notice_reasons.patterns[0].say: names count")):
        glossary.load(path)
