"""Scenarios: worked examples of the rules (``rules/<slug>/scenarios.yaml``), run through both evaluators.

Each document folder's scenario file is a list of::

    - name: 服务业小微企业承租国有房屋月租8000元——减免3个月   # unique across all files
      clause: yunnan-2022-2-1
      as_of: 2022-06-15
      attributes: {region: "530102", tertiary: true, ...}       # given directly, not derived
      granted: 0                       # only for a clause with a cap: what it already granted this period
      expect: {status: met, amount: 24000.0}                     # amount?, missing? optional

Attributes given at the attribute level pin the rule, not the derivation. A scenario may give a
``profile`` instead (the shape of docs/profile.md, as the events build it), with ``designations``
(kind → years of its county's designations, which the profile does not hold: ``epidemic_risk``,
``sme_demo_county``, matching.DESIGNATION_KINDS): its attributes are
then derived exactly as the pipeline derives them (``inputs.prepare``), so the derivations (quarterly
sales ÷ 3, the 5% rate cap, lease months inside a year, size class from staff and revenue) are
tested end to end with the clause's own numbers.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import yaml

from engine.core import matching
from engine.judging.catalogue import inputs, loader, model, yamlio

#: The scenario file of a document folder.
SCENARIOS_FILE = "scenarios.yaml"
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
#: How a scenario gives its firm: attributes as the rules see them, or a profile they are derived from.
_GIVEN = frozenset({"attributes", "profile"})
#: Amounts are compared to the fen.
_TOLERANCE = 0.005


class AttributeMatcher(Protocol):
    """What a scenario needs of a matcher: decisions from attributes given directly."""

    def evaluate(
        self, attributes: Mapping[str, Any], as_of: dt.date, *, overrides: Any = None, clause_ids: Any = None
    ) -> list[matching.Decision]: ...


@dataclasses.dataclass(frozen=True)
class Scenario:
    """One worked example: a clause, a date, attributes and the expected verdict."""

    name: str
    clause: str
    as_of: dt.date
    attributes: Mapping[str, Any]
    status: matching.Verdict
    amount: float | None = None
    has_amount: bool = False
    missing: tuple[str, ...] | None = None
    source: str = ""
    #: For a clause with a cap: what it already granted the firm in the cap's period (None: unknown).
    granted: float | None = None
    #: The profile the attributes were derived from (None: attributes given directly), and the
    #: per-clause accumulator overrides derived with them (inputs.prepare).
    profile: Mapping[str, Any] | None = None
    overrides: Mapping[str, Mapping[str, float]] | None = None


def scenario_files(rules: str | os.PathLike[str] | None = None) -> list[Path]:
    """Every document folder's ``scenarios.yaml`` in the rules directory, sorted by slug."""
    return sorted(loader.rules_dir(rules).glob(f"*/{SCENARIOS_FILE}"))


def check(catalogue: model.Catalogue, rules: str | os.PathLike[str] | None = None) -> tuple[list[Scenario], list[str]]:
    """Load every scenario file of the rules directory strictly; return the scenarios and every problem found."""
    folder = loader.rules_dir(rules)
    found: list[Scenario] = []
    problems: list[str] = []
    names: dict[str, str] = {}
    for path in scenario_files(folder):
        source = f"{folder.name}/{path.parent.name}/{path.name}"
        try:
            items = yamlio.load(path)
        except (OSError, yaml.YAMLError, ValueError) as exc:
            problems.append(f"{source}: cannot read YAML: {yamlio.describe(exc)}")
            continue
        if not isinstance(items, list):
            problems.append(f"{source}: must be a list of scenarios")
            continue
        for i, raw in enumerate(items):
            scenario, trouble = _scenario(raw, f"[{i}]", path.parent.name, catalogue)
            problems += [f"{source}: {t}" for t in trouble]
            if scenario is None:
                continue
            if scenario.name in names:
                problems.append(f"{source}: [{i}].name: {scenario.name!r} duplicated (also in {names[scenario.name]})")
                continue
            names[scenario.name] = source
            found.append(dataclasses.replace(scenario, source=source))
    if not found and not problems:
        problems.append(f"{folder}: no scenarios")
    return found, problems


def load(catalogue: model.Catalogue, rules: str | os.PathLike[str] | None = None) -> list[Scenario]:
    """Like :func:`check`, raising :class:`loader.CatalogueError` on any problem."""
    found, problems = check(catalogue, rules)
    if problems:
        raise loader.CatalogueError(problems)
    return found


def _designations(raw: Any) -> tuple[frozenset[matching.Designation], str | None]:
    """A scenario's ``designations``: kind → list of years; the designations, or what is wrong."""
    if not isinstance(raw, Mapping):
        return frozenset(), "must be a mapping of designation kinds to lists of years"
    unknown = sorted(str(k) for k in raw if k not in matching.DESIGNATION_KINDS)
    if unknown:
        return frozenset(), f"unknown kind {', '.join(unknown)} (known: {', '.join(matching.DESIGNATION_KINDS)})"
    for kind, years in raw.items():
        if not isinstance(years, list) or not all(isinstance(y, int) and not isinstance(y, bool) for y in years):
            return frozenset(), f"{kind}: must be a list of years"
    return matching.designations(**raw), None


def _scenario(raw: Any, where: str, slug: str, catalogue: model.Catalogue) -> tuple[Scenario | None, list[str]]:
    problems: list[str] = []
    required = {"name", "clause", "as_of", "expect"}
    if not isinstance(raw, Mapping):
        return None, [f"{where}: must be a mapping"]
    problems += [f"{where}.{k}: unknown key" for k in sorted(set(raw) - required - _GIVEN - {"granted", "designations"}, key=str)]
    problems += [f"{where}.{k}: missing required key" for k in sorted(required - set(raw))]
    given = _GIVEN & set(raw)
    if len(given) != 1:
        problems.append(f"{where}: give either attributes or a profile ({'both' if given else 'neither'} given)")
    elif "designations" in raw and "profile" not in raw:
        problems.append(f"{where}.designations: only with a profile (attributes give county_risk_2022, "
                        "county_sme_demo directly)")
    if problems:
        return None, problems
    clauses = catalogue.by_id
    name, clause_id = raw["name"], raw["clause"]
    if not isinstance(name, str) or not name.strip():
        problems.append(f"{where}.name: must be a non-empty string")
    clause = clauses.get(clause_id) if isinstance(clause_id, str) else None
    if clause is None:
        problems.append(f"{where}.clause: unknown clause {clause_id!r}")
    elif clause.slug != slug:
        problems.append(f"{where}.clause: {clause_id} belongs to {clause.slug}, not {slug}")
    elif not clause.firm_facing:
        problems.append(f"{where}.clause: {clause_id} is not firm-facing (never judged)")
    as_of = raw["as_of"]
    if not (isinstance(as_of, str) and _DATE.fullmatch(as_of)):
        problems.append(f"{where}.as_of: bad date {as_of!r}")
    else:
        try:
            as_of = dt.date.fromisoformat(as_of)
        except ValueError:
            problems.append(f"{where}.as_of: bad date {as_of!r}")
    attributes: dict[str, Any] = {}
    profile, overrides = raw.get("profile"), None
    if "attributes" in raw and not isinstance(raw["attributes"], Mapping):
        problems.append(f"{where}.attributes: must be a mapping")
    elif "attributes" in raw:
        try:
            attributes = inputs.normalise(raw["attributes"])
        except ValueError as exc:
            problems.append(f"{where}.attributes: {exc}")
    elif not isinstance(profile, Mapping):
        problems.append(f"{where}.profile: must be a mapping (the shape of docs/profile.md)")
    elif isinstance(as_of, dt.date):
        designations, problem = _designations(raw.get("designations", {}))
        if problem:
            problems.append(f"{where}.designations: {problem}")
        else:
            try:
                attributes, overrides = inputs.prepare(
                    catalogue, profile, as_of, matching.MatchContext(designations=designations))
            except (ValueError, TypeError) as exc:
                problems.append(f"{where}.profile: cannot be derived: {exc}")
    granted = raw.get("granted")
    if granted is not None:
        if isinstance(granted, bool) or not isinstance(granted, (int, float)) or granted < 0:
            problems.append(f"{where}.granted: must be an amount (a number, 0 or more)")
        elif clause is not None and clause.cap is None:
            problems.append(f"{where}.granted: {clause_id} declares no cap")
        else:
            granted = float(granted)
    expect, trouble = _expect(raw["expect"], f"{where}.expect")
    problems += trouble
    if problems:
        return None, problems
    return Scenario(name=name, clause=clause_id, as_of=as_of, attributes=attributes, granted=granted,
                    profile=profile, overrides=overrides, **expect), []


def _expect(raw: Any, where: str) -> tuple[dict[str, Any], list[str]]:
    if not isinstance(raw, Mapping) or "status" not in raw:
        return {}, [f"{where}: must be a mapping with a status"]
    problems = [f"{where}.{k}: unknown key" for k in sorted(set(raw) - {"status", "amount", "missing"}, key=str)]
    out: dict[str, Any] = {}
    try:
        out["status"] = matching.Verdict(raw["status"])
    except ValueError:
        problems.append(f"{where}.status: bad status {raw['status']!r} (met, not_met or unknown)")
    if "amount" in raw:
        amount = raw["amount"]
        if amount is not None and (isinstance(amount, bool) or not isinstance(amount, (int, float))):
            problems.append(f"{where}.amount: must be a number or null")
        else:
            out.update(amount=None if amount is None else float(amount), has_amount=True)
    if "missing" in raw:
        missing = raw["missing"]
        if not isinstance(missing, list) or not all(isinstance(m, str) for m in missing):
            problems.append(f"{where}.missing: must be a list of attribute names")
        else:
            out["missing"] = tuple(missing)
    return out, problems


def run(scenario: Scenario, evaluator: AttributeMatcher) -> list[str]:
    """What ``evaluator`` gets wrong on ``scenario`` (empty when it agrees with the expectation)."""
    overrides = dict(scenario.overrides or {})
    if scenario.granted is not None:
        overrides[scenario.clause] = {model.GRANTED: scenario.granted}
    decisions = evaluator.evaluate(scenario.attributes, scenario.as_of, overrides=overrides or None, clause_ids={scenario.clause})
    if len(decisions) != 1:
        return [f"expected one decision on {scenario.clause}, got {len(decisions)}"]
    decision = decisions[0]
    wrong: list[str] = []
    if decision.status != scenario.status:
        wrong.append(f"status {decision.status.value}, expected {scenario.status.value}")
    if scenario.has_amount and not _same_amount(decision.amount, scenario.amount):
        wrong.append(f"amount {decision.amount}, expected {scenario.amount}")
    if scenario.missing is not None:
        seen = sorted(decision.explanation.get("missing", []))
        if seen != sorted(scenario.missing):
            wrong.append(f"missing {seen}, expected {sorted(scenario.missing)}")
    return wrong


def _same_amount(got: float | None, expected: float | None) -> bool:
    if got is None or expected is None:
        return got is expected
    return abs(got - expected) < _TOLERANCE


def coverage_problems(catalogue: model.Catalogue, scenarios: Sequence[Scenario]) -> list[str]:
    """Executable clauses lacking a met scenario or a not-met/unknown one; and clauses computing an amount
    without a met scenario from a profile (their amount's derivation untested end to end)."""
    problems = []
    for clause in catalogue.executable():
        statuses = {s.status for s in scenarios if s.clause == clause.id}
        if matching.Verdict.MET not in statuses:
            problems.append(f"{clause.id} ({clause.cite}): no scenario where it is met")
        if not statuses & {matching.Verdict.NOT_MET, matching.Verdict.UNKNOWN}:
            problems.append(f"{clause.id} ({clause.cite}): no scenario where it is not met or unknown")
        computes = clause.benefit is not None and clause.benefit.formula is not None
        if computes and not any(s.clause == clause.id and s.profile is not None and s.status == matching.Verdict.MET
                                for s in scenarios):
            problems.append(f"{clause.id} ({clause.cite}): computes an amount but no met scenario gives a profile")
    return problems
