"""A small pytest plugin, OpenFisca-style: each scenario in a document folder's
``rules/<slug>/scenarios.yaml`` is a test item, run through both evaluators (the reference and
durable-rules) over the catalogue of the rules directory that holds the folder.

Enabled by the repository's root conftest.py; `policy-push rules test` runs the same scenarios.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.judging.catalogue import durable, loader, reference, scenarios


@functools.cache
def _catalogue_and_matchers(rules: Path) -> tuple[Any, dict[str, scenarios.AttributeMatcher]]:
    catalogue = loader.load(rules)
    return catalogue, {
        "reference": reference.ReferenceMatcher(catalogue),
        "durable": durable.DurableMatcher(catalogue),
    }


def pytest_collect_file(parent: pytest.Collector, file_path: Path) -> pytest.Collector | None:
    if file_path.name == scenarios.SCENARIOS_FILE and (file_path.parent / loader.CLAUSES_FILE).is_file():
        return ScenarioFile.from_parent(parent, path=file_path)
    return None


def _rules_of(path: Path) -> Path:
    """The rules directory holding the document folder of a scenario file."""
    return path.parent.parent


class ScenarioFile(pytest.File):
    """One scenario file; its items are (scenario, evaluator) pairs."""

    def collect(self) -> Iterator[pytest.Item]:
        rules = _rules_of(self.path)
        catalogue, matchers = _catalogue_and_matchers(rules)
        for scenario in scenarios.load(catalogue, rules):
            if Path(scenario.source).parent.name != self.path.parent.name:
                continue
            for evaluator in matchers:
                yield ScenarioItem.from_parent(self, name=f"{scenario.name}[{evaluator}]", scenario=scenario, evaluator=evaluator)


class ScenarioFailure(AssertionError):
    """A scenario's expectation did not hold."""


class ScenarioItem(pytest.Item):
    """One scenario through one evaluator."""

    def __init__(self, *, scenario: scenarios.Scenario, evaluator: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.scenario = scenario
        self.evaluator = evaluator

    def runtest(self) -> None:
        _catalogue, matchers = _catalogue_and_matchers(_rules_of(self.path))
        problems = scenarios.run(self.scenario, matchers[self.evaluator])
        if problems:
            raise ScenarioFailure(problems)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, ScenarioFailure):
            s = self.scenario
            return (
                f"scenario {s.name!r} ({s.clause}, as of {s.as_of}, {self.evaluator}): "
                + "; ".join(excinfo.value.args[0])
                + f"\n  attributes: {dict(s.attributes)}"
            )
        return super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, 0, f"scenario: {self.name}"
