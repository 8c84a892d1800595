"""The documents operators and senders read stay true to the code."""

from __future__ import annotations

import json
import pathlib
import re

import pytest
from stdnum.cn import uscc as stdnum_uscc

from engine.core import glossary
from engine.ingest import validation
from engine.ingest.event_types import REGISTRY
from engine.judging.catalogue import model
from tests import factories

ROOT = pathlib.Path(__file__).resolve().parents[1]
EVENTS_DOC = (ROOT / "docs/events.md").read_text(encoding="utf-8")


def _section(kind: str) -> str:
    assert f"### `{kind}` — " in EVENTS_DOC, f"docs/events.md has no section for {kind}"
    return EVENTS_DOC.split(f"### `{kind}` — ", 1)[1].split("\n### ", 1)[0]


def _line(section: str, label: str) -> str:
    found = re.search(rf"^{label}: .*$", section, flags=re.MULTILINE)
    assert found, f"no {label} line"
    return found.group(0)


def _paths(line: str) -> set[str]:
    """The code-quoted paths of a "Sets:" or "Feeds:" line, `a.{b, c}` standing for a.b and a.c."""
    paths = set()
    for quoted in re.findall(r"`([^`]+)`", line):
        braced = re.fullmatch(r"(.*)\{(.*)\}", quoted)
        paths |= {braced.group(1) + part for part in braced.group(2).split(", ")} if braced else {quoted}
    return paths


def test_events_doc_has_a_section_for_each_registered_type_and_no_other():
    documented = re.findall(r"^### `([^`]+)` — ", EVENTS_DOC, flags=re.MULTILINE)
    assert sorted(documented) == sorted(validation.event_types())


@pytest.mark.parametrize("kind", validation.event_types())
def test_events_doc_section_agrees_with_the_type(kind):
    event_type = REGISTRY.get(kind)
    section = _section(kind)
    assert EVENTS_DOC.count(f"### `{kind}` — {event_type.label}\n") == 1, "the heading carries the type's label"
    for field in event_type.schema["properties"]:
        assert f"| `{field}` |" in section, f"{kind}.{field} is not documented"
    schema_file = re.search(r"Schema: `([^`]+)`", section).group(1)
    assert json.loads((ROOT / schema_file).read_text(encoding="utf-8")) == event_type.schema
    assert _paths(_line(section, "Sets")) == set(event_type.sets)
    assert _paths(_line(section, "Feeds")) == set(event_type.feeds)


@pytest.mark.parametrize("kind", validation.event_types())
def test_events_doc_example_validates_as_its_type(kind):
    example = re.search(r"Example `data`:\n\n```json\n(.*?)\n```", _section(kind), flags=re.DOTALL)
    assert example, f"{kind} has no example"
    envelope = factories.event(kind)
    envelope["data"] = json.loads(example.group(1))
    validation.validate(envelope, webhook_id="doc-example")  # raises Invalid naming the problem


def test_attributes_the_types_feed_are_documented_in_the_profile():
    profile_doc = (ROOT / "docs/profile.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^\| `([^`]+)` \|", profile_doc, flags=re.MULTILINE))
    for event_type in REGISTRY:
        assert set(event_type.feeds) <= documented, event_type.name


def test_profile_doc_names_every_attribute_and_enum_value_as_the_glossary_does():
    """docs/profile.md's 名称 column and its lists of kinds are the glossary's words: an attribute added
    to the glossary, or relabelled there, fails here until the page says the same."""
    profile_doc = (ROOT / "docs/profile.md").read_text(encoding="utf-8")
    words = glossary.load()
    documented = {}
    for attr, label in re.findall(r"^\| `([^`]+)` \| ([^|]+?) \|", profile_doc, flags=re.MULTILINE):
        if "<kind>" in attr:  # one row for every certification kind
            kinds = words.enums["cert_kind"].items()
            documented |= {attr.replace("<kind>", kind): label.replace("<kind>", name) for kind, name in kinds}
        else:
            documented[attr] = label
    assert documented == {attr: term.label for attr, term in words.attributes.items() if attr != model.GRANTED}
    listed = dict(re.findall(r"`([a-z_]+)` \(([^)`]+)\)", profile_doc))
    for enum in ("cert_kind", "cert_level", "landlord_type", "loan_kind", "legal_form", "taxpayer_type"):
        assert {code: listed.get(code) for code in words.enums[enum]} == dict(words.enums[enum]), enum


def test_example_usccs_in_the_docs_are_valid():
    for doc in ("docs/events.md", "docs/profile.md", "README.md"):
        for code in re.findall(r"\b9[0-9A-Z]{17}\b", (ROOT / doc).read_text(encoding="utf-8")):
            assert stdnum_uscc.is_valid(code), f"{doc}: {code}"


def test_readme_starts_with_the_two_commands_and_ci_calls_the_test_one():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    commands = re.findall(r"^make (\w+)", readme, flags=re.MULTILINE)
    assert commands[:2] == ["run", "test"]
    assert "make test" in (ROOT / ".ci/run").read_text()
