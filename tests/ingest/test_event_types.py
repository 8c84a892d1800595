"""Each event type is one module: its record is complete, and a new module is all a new type needs."""

from __future__ import annotations

import dataclasses
import json
import re
import sys
import textwrap

import pytest

from engine.console import labels
from engine.ingest import folding, synth, synth_data, validation
from engine.ingest.event_types import REGISTRY, Registry, discover
from engine.ingest.event_types.record import EventType, SynthHook
from engine.judging.derive import activity, size_class
from engine.judging.derive.attributes import ATTRIBUTE_TYPES
from tests import factories


def _envelope(event_type: EventType, data) -> dict:
    item = {"type": event_type.name, "occurred_at": "2022-05-01T09:00:00+08:00", "data": dict(data)}
    if event_type.scope == "firm":
        item["uscc"] = factories.uscc(1)
    return item


def _matches(path: str, patterns: tuple[str, ...]) -> bool:
    """Whether `path` is one of `patterns`, each `<name>` standing for one path segment."""
    return any(re.fullmatch(re.sub(r"<[a-z_]+>", "[^.]+", re.escape(p).replace(r"\<", "<").replace(r"\>", ">")), path)
               for p in patterns)


@pytest.mark.parametrize("kind", validation.event_types())
def test_every_type_has_a_label_a_valid_example_and_a_fold_onto_its_documented_paths(kind):
    event_type = REGISTRY.get(kind)
    assert re.search(r"[\u4e00-\u9fff]", event_type.label), "operators read a Chinese label"
    envelope = validation.validate(_envelope(event_type, event_type.example), webhook_id="example")
    if event_type.scope == "region":
        assert event_type.fold is None and event_type.sets == ()
        with pytest.raises(validation.Invalid):  # a region event names no firm
            validation.validate({**_envelope(event_type, event_type.example), "uscc": factories.uscc(1)}, webhook_id="example")
        return
    fields = folding.assignments(envelope)
    assert fields, "a firm event sets some field"
    undocumented = [path for path in fields if not _matches(path, event_type.sets)]
    assert undocumented == [], f"{kind} sets paths its record (and docs/events.md) does not list"


@pytest.mark.parametrize("kind", validation.event_types())
def test_every_type_feeds_attributes_the_rules_see(kind):
    known = set(ATTRIBUTE_TYPES)
    for name in REGISTRY.get(kind).feeds:
        expanded = {name.replace("<kind>", cert) for cert in activity.CERT_KINDS}
        assert expanded <= known, f"{kind} feeds {name}, which is no attribute"


@pytest.mark.parametrize("kind", ["certification.granted", "certification.revoked"])
def test_certification_events_accept_exactly_the_kinds_and_levels_the_rules_see(kind):
    properties = REGISTRY.get(kind).schema["properties"]
    assert tuple(properties["kind"]["enum"]) == activity.CERT_KINDS
    if "level" in properties:
        assert tuple(properties["level"]["enum"]) == activity.CERT_LEVELS


def test_a_paths_placeholder_stands_for_one_segment_only():
    assert _matches("tax.vat.2022-04.sales", ("tax.vat.<period>.sales",))
    assert not _matches("tax.vat.2022.04.sales", ("tax.vat.<period>.sales",))
    assert not _matches("tax.vat.2022-04.months", ("tax.vat.<period>.sales",))


def test_the_envelope_type_list_region_types_and_console_labels_come_from_the_registry():
    assert validation.schema("envelope")["properties"]["type"]["enum"] == list(REGISTRY.names())
    assert validation.REGION_TYPES == {t.name for t in REGISTRY if t.scope == "region"} == {"region.risk_designated", "region.demo_county_designated"}
    assert labels.EVENT_TYPE == {t.name: t.label for t in REGISTRY}


def test_synth_size_classes_are_spelled_as_the_judging_code_spells_them():
    assert (synth_data.LARGE, synth_data.MEDIUM, synth_data.SMALL, synth_data.MICRO) == (
        size_class.LARGE, size_class.MEDIUM, size_class.SMALL, size_class.MICRO)


# Adding a type ------------------------------------------------------------------------------------

_MODULE = '''
"""`waste.reported`: a test type: tonnes of waste a firm reported for a month."""

from engine.ingest.event_types.record import EventType, SynthHook, load_schema

NAME = "waste.reported"


def fold(data):
    return {f"waste.{data['period']}.tonnes": data["tonnes"]}


def draw(ctx):
    ctx.add(NAME, ctx.firm.registered_on, {"period": "2022-05", "tonnes": ctx.rng.randint(1, 9)})


EVENT_TYPE = EventType(
    name=NAME, label="固废申报", scope="firm", schema=load_schema(__file__, NAME),
    example={"period": "2022-05", "tonnes": 3.5}, sets=("waste.<period>.tonnes",), feeds=(),
    fold=fold, synth=SynthHook(stage="once", order=99, draw=draw),
)
'''

_SCHEMA = {
    "type": "object", "additionalProperties": False, "required": ["period", "tonnes"],
    "properties": {"period": {"type": "string", "format": "month"}, "tonnes": {"type": "number", "minimum": 0}},
}


@pytest.fixture
def registry_with_waste(tmp_path, monkeypatch):
    """The service's registry plus a type declared by one module (and its schema) in a package of its own."""
    package = tmp_path / "extra_event_types"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "waste_reported.py").write_text(textwrap.dedent(_MODULE), encoding="utf-8")
    (package / "waste.reported.schema.json").write_text(json.dumps(_SCHEMA), encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    found = discover("extra_event_types")
    yield REGISTRY.with_types(*found)
    for name in [m for m in sys.modules if m.startswith("extra_event_types")]:
        del sys.modules[name]


def test_adding_a_type_is_adding_one_module(registry_with_waste):
    registry = registry_with_waste
    assert "waste.reported" in validation.event_types(registry)
    assert "waste.reported" not in validation.event_types()  # the service's own registry is untouched
    assert "waste.reported" in validation.schema("envelope", registry)["properties"]["type"]["enum"]

    item = {"type": "waste.reported", "occurred_at": "2022-06-01T09:00:00+08:00", "uscc": factories.uscc(1),
            "data": {"period": "2022-05", "tonnes": 3.5}}
    envelope = validation.validate(item, webhook_id="w1", registry=registry)
    assert folding.assignments(envelope, registry) == {"waste.2022-05.tonnes": 3.5}

    bad = {**item, "data": {"period": "2022-13", "tonnes": -1}}
    with pytest.raises(validation.Invalid) as caught:
        validation.validate(bad, webhook_id="w2", registry=registry)
    assert {p.path for p in caught.value.problems} == {"/data/period", "/data/tonnes"}
    with pytest.raises(validation.Invalid):  # unknown to the service until its module is in the package
        validation.validate(item, webhook_id="w3")

    _, events = synth.firm_events(4, 0, registry)
    assert [e["data"] for e in events if e["type"] == "waste.reported"] and events[0]["type"] == "firm.registered"
    assert registry.labels()["waste.reported"] == "固废申报"


def test_a_second_declaration_of_a_type_is_refused():
    with pytest.raises(ValueError, match="declared twice"):
        REGISTRY.with_types(REGISTRY.get("loan.issued"))


def test_a_region_type_is_one_without_a_fold_and_its_events_carry_no_uscc():
    county = dataclasses.replace(REGISTRY.get("region.risk_designated"), name="region.flood_designated", label="洪涝地区认定")
    registry = REGISTRY.with_types(county)
    assert "region.flood_designated" in registry.region_types()
    item = {"type": "region.flood_designated", "occurred_at": "2022-06-01T09:00:00+08:00",
            "data": {"county": "140302", "year": 2022, "level": "high"}}
    validation.validate(item, webhook_id="r1", registry=registry)
    with pytest.raises(validation.Invalid) as caught:
        validation.validate({**item, "uscc": factories.uscc(1)}, webhook_id="r2", registry=registry)
    assert caught.value.problems[0].path == "/uscc"
    with pytest.raises(ValueError, match="needs a fold"):
        dataclasses.replace(county, scope="firm")


def test_synth_calls_each_stage_in_the_order_the_hooks_state():
    seen: list[str] = []

    def hook(name):
        return SynthHook(stage="once", order={"b": 1, "a": 2}[name], draw=lambda ctx: seen.append(name))

    extra = [dataclasses.replace(REGISTRY.get("certification.revoked"), name=f"test.{n}", synth=hook(n)) for n in "ab"]
    for stage_hook in Registry(extra).generators("once"):
        stage_hook.draw(None)
    assert seen == ["b", "a"]
    assert Registry(extra).generators("yearly") == []
