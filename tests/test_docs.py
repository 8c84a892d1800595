"""The documents operators and senders read stay true to the code."""

from __future__ import annotations

import json
import pathlib
import re

from stdnum.cn import uscc as stdnum_uscc

from engine.ingest import validation

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_events_doc_covers_every_type_and_field():
    text = (ROOT / "docs/events.md").read_text(encoding="utf-8")
    for kind in validation.event_types():
        assert f"### `{kind}`" in text, kind
        schema = json.loads((validation.SCHEMAS / f"{kind}.json").read_text(encoding="utf-8"))
        section = text.split(f"### `{kind}`", 1)[1].split("\n### ", 1)[0]
        for field in schema["properties"]:
            assert f"| `{field}` |" in section, f"{kind}.{field} is not documented"


def test_example_usccs_in_the_docs_are_valid():
    for doc in ("docs/events.md", "docs/profile.md", "README.md"):
        for code in re.findall(r"\b9[0-9A-Z]{17}\b", (ROOT / doc).read_text(encoding="utf-8")):
            assert stdnum_uscc.is_valid(code), f"{doc}: {code}"


def test_readme_starts_with_the_two_commands_and_ci_calls_the_test_one():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    commands = re.findall(r"^make (\w+)", readme, flags=re.MULTILINE)
    assert commands[:2] == ["run", "test"]
    assert "make test" in (ROOT / ".ci/run").read_text()
