"""The pure-Python reference evaluator: three-valued verdicts with full explanations.

It is the specification the durable-rules matcher is tested against, the source of every
explanation and amount, and the fallback where the durable-rules extension cannot be imported.

A clause is judged as the ``all`` of three parts: the firm's region inside its jurisdiction,
``as_of`` inside its validity window, and its condition tree. Three-valued logic:

* ``all``: not_met if any part is not_met, else unknown if any is unknown, else met;
* ``any``: met if any part is met, else unknown if any is unknown, else not_met;
* a leaf on an absent attribute is unknown, and its attribute is named in ``missing`` (only
  attributes that actually leave the verdict open are named).

A firm-facing clause with ``needs`` (data no event carries) is at best unknown. A condition comparing
with a dated parameter compares with the value in force on ``as_of`` (unknown where none holds), and
a formula is computed with its parameters' values then (no amount where one has none).
"""

from __future__ import annotations

import datetime as dt
import operator
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

from engine import constants
from engine.core import matching, regions
from engine.judging.catalogue import formula, inputs, model

MET, NOT_MET, UNKNOWN = matching.Verdict.MET, matching.Verdict.NOT_MET, matching.Verdict.UNKNOWN
_VALUE = matching.VERDICT_TEXT

# regions.in_jurisdiction checks codes with `^\d{6}$`, which also accepts non-ASCII digits and a
# trailing newline; a region must first be six ASCII digits (durable-rules' `[0-9]` agrees).
_ASCII_CODE = re.compile(r"[0-9]{6}")

_COMPARE = {
    "eq": operator.eq, "ne": operator.ne, "lt": operator.lt, "le": operator.le,
    "gt": operator.gt, "ge": operator.ge,
    "in": lambda seen, values: seen in values,
    "prefix": lambda seen, value: seen.startswith(value),
}


def combine_all(verdicts: Collection[matching.Verdict]) -> matching.Verdict:
    if NOT_MET in verdicts:
        return NOT_MET
    return UNKNOWN if UNKNOWN in verdicts else MET


def combine_any(verdicts: Collection[matching.Verdict]) -> matching.Verdict:
    if MET in verdicts:
        return MET
    return UNKNOWN if UNKNOWN in verdicts else NOT_MET


def in_jurisdiction(region: Any, jurisdiction: str) -> bool:
    """The firm's region lies in ``jurisdiction`` (six ASCII digits, then GB/T 2260 nesting)."""
    return isinstance(region, str) and bool(_ASCII_CODE.fullmatch(region)) \
        and regions.in_jurisdiction(region, jurisdiction)


class ProfileMatcher:
    """The :class:`engine.matching.Matcher` part both evaluators share: profile → attributes → evaluate."""

    catalogue: model.Catalogue

    def match(
        self, profile: Mapping[str, Any], as_of: dt.date, context: matching.MatchContext
    ) -> Sequence[matching.Decision]:
        """Decisions on every firm-facing clause for a profile (docs/profile.md shape)."""
        attributes, overrides = inputs.prepare(self.catalogue, profile, as_of, context)
        return self.evaluate(attributes, as_of, overrides=overrides)

    def evaluate(
        self,
        attributes: Mapping[str, Any],
        as_of: dt.date,
        *,
        overrides: inputs.Overrides | None = None,
        clause_ids: Collection[str] | None = None,
    ) -> list[matching.Decision]:
        raise NotImplementedError


class ReferenceMatcher(ProfileMatcher):
    """The reference evaluator; implements :class:`engine.matching.Matcher`."""

    def __init__(self, catalogue: model.Catalogue) -> None:
        self.catalogue = catalogue
        # Only firm-facing clauses are ever judged: agency duties concern no firm.
        self.clauses = catalogue.firm_facing()
        self._judged: dict[tuple[Any, ...], matching.Decision] = {}

    def evaluate(
        self,
        attributes: Mapping[str, Any],
        as_of: dt.date,
        *,
        overrides: inputs.Overrides | None = None,
        clause_ids: Collection[str] | None = None,
    ) -> list[matching.Decision]:
        """Decisions from attributes given directly (scenarios, tests, the durable matcher).

        ``overrides``: clause id → attribute values that clause sees instead (grant
        accumulators); ``clause_ids`` limits the clauses judged.
        """
        return self.judge_all(inputs.normalise(attributes), as_of, overrides, clause_ids)

    def judge_all(
        self,
        attributes: dict[str, Any],
        as_of: dt.date,
        overrides: inputs.Overrides | None = None,
        clause_ids: Collection[str] | None = None,
    ) -> list[matching.Decision]:
        """:meth:`evaluate` on attributes already checked by :func:`inputs.normalise`."""
        overrides = overrides or {}
        run = Run(attributes.get("region"), as_of)
        return [
            self._judge(run, clause, _view(attributes, overrides.get(clause.id)))
            for clause in self.clauses
            if clause_ids is None or clause.id in clause_ids
        ]

    def _judge(self, run: Run, clause: model.Clause, attributes: Mapping[str, Any]) -> matching.Decision:
        """``run.judge(clause, attributes)``, one decision object for equal inputs.

        A decision is a function of the clause, the day and the values of the attributes the clause reads
        (:attr:`model.Clause.reads`, region included), and firms share them: 500 firms' ~15,000 explained
        decisions of a first backfill hold under a thousand distinct ones. Building an explanation was
        the largest part of judging a first run; equal decisions are now built, encoded and sent to the
        writer once (pickle and :func:`engine.judging.firm_input.encoded` reuse the same object). Each value
        is keyed with its type, since ``1 == 1.0 == True`` and the explanation shows which one was seen.
        Decisions are immutable and no reader changes their explanation in place.
        """
        key = (clause.id, run.as_of, *(
            (name, type(value), value) for name in clause.reads if (value := attributes.get(name, _ABSENT)) is not _ABSENT
        ))
        try:
            decision = self._judged.get(key)
        except TypeError:  # an unhashable value (none of today's attribute types): judged afresh
            return run.judge(clause, attributes)
        if decision is None:
            if len(self._judged) >= constants.DECISIONS_CACHED:
                self._judged.clear()
            decision = self._judged[key] = run.judge(clause, attributes)
        return decision

    def met_ids(
        self, attributes: Mapping[str, Any], as_of: dt.date, *, overrides: inputs.Overrides | None = None
    ) -> frozenset[str]:
        """Ids of the clauses met (what the differential test compares)."""
        return frozenset(d.clause_id for d in self.evaluate(attributes, as_of, overrides=overrides) if d.status == MET)


#: Marks an attribute the firm's profile lacks (a present None is a value).
_ABSENT = object()


def _view(attributes: dict[str, Any], override: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return {**attributes, **override} if override else attributes


def judge(clause: model.Clause, attributes: Mapping[str, Any], as_of: dt.date) -> matching.Decision:
    """One clause against checked attributes (see the module docstring for the logic)."""
    return Run(attributes.get("region"), as_of).judge(clause, attributes)


class Run:
    """What one evaluation shares across clauses (the date as text, jurisdiction verdicts)."""

    def __init__(self, region: Any, as_of: dt.date) -> None:
        self.region, self.as_of, self.seen = region, as_of, as_of.isoformat()
        self.places: dict[str, matching.Verdict] = {}

    def place(self, jurisdiction: str) -> matching.Verdict:
        verdict = self.places.get(jurisdiction)
        if verdict is None:
            if self.region is None:
                verdict = UNKNOWN
            else:
                verdict = MET if in_jurisdiction(self.region, jurisdiction) else NOT_MET
            self.places[jurisdiction] = verdict
        return verdict

    def judge(self, clause: model.Clause, attributes: Mapping[str, Any]) -> matching.Decision:
        return _judge(clause, attributes, self)

    def status(
        self, clause: model.Clause, attributes: Mapping[str, Any], conditions: Verdicts
    ) -> tuple[matching.Verdict, bool]:
        """The verdict :meth:`judge` gives and whether the clause reaches the firm, without explaining it.

        What a backfill needs for the ~100 clauses per firm whose outcome it only compares: the
        same three-valued logic, short-circuited, and no explanation built. ``conditions`` is
        :func:`verdict_of` the clause's conditions, compiled once by the caller.
        """
        place = self.place(clause.jurisdiction)
        if place is NOT_MET or not clause.in_window(self.as_of):
            return NOT_MET, False
        return settle(place, conditions(attributes), bool(clause.needs)), True


def settle(place: matching.Verdict, conditions: matching.Verdict, needs: bool) -> matching.Verdict:
    """The verdict of a clause in force whose jurisdiction may hold the firm (``place`` met or unknown):
    ``all`` of place and conditions, and at best unknown when it ``needs`` data no event carries."""
    if conditions is MET and (place is UNKNOWN or needs):
        return UNKNOWN
    return conditions


def _judge(clause: model.Clause, attributes: Mapping[str, Any], run: Run) -> matching.Decision:
    region, as_of = run.region, run.as_of
    place = run.place(clause.jurisdiction)
    place_missing = {"region"} if region is None else set()
    window = MET if clause.in_window(as_of) else NOT_MET
    leaves: list[dict[str, Any]] = []
    if clause.conditions is None:
        conditions, missing = UNKNOWN, set()  # a firm-facing clause not yet expressed as conditions
    else:
        conditions, missing = _condition(clause.conditions, attributes, leaves, as_of)
    status = combine_all((place, window, conditions))
    if status == MET and clause.needs:
        status = UNKNOWN  # the clause needs data no event carries
    explanation: dict[str, Any] = {
        "status": _VALUE[status],
        "jurisdiction": {"required": clause.jurisdiction, "seen": region, "verdict": _VALUE[place]},
        "validity": {"required": dict(clause.window), "seen": run.seen, "verdict": _VALUE[window]},
        "conditions": leaves,
        "missing": sorted(place_missing | missing) if status == UNKNOWN else [],
    }
    if clause.needs:
        explanation["needs"] = list(clause.needs)
    if clause.mode_basis is not None:
        explanation["basis"] = {"mode": clause.mode, "quote": clause.mode_basis.quote, "reason": clause.mode_basis.reason}
    amount = None
    if status == MET and clause.benefit is not None and clause.benefit.formula:
        explanation["amount"] = _amount(clause.benefit, attributes, as_of)
        amount = explanation["amount"]["amount"]
    facts = {name: attributes[name] for name in clause.reads if name in attributes}
    period = matching.period_for(clause.mode, as_of) if status == MET else None
    return matching.Decision(
        clause_id=clause.id, cite=clause.cite, rule_version=clause.rule_version, status=status,
        amount=amount, explanation=explanation, facts=facts, in_scope=place != NOT_MET and window == MET,
        period=period, cumulative=clause.cap is not None,
        closes=clause.valid_to if status == MET else None, by_sms=clause.by_sms,
    )


def _amount(benefit: model.Benefit, attributes: Mapping[str, Any], as_of: dt.date) -> dict[str, Any]:
    """The amount's explanation: the formula run (its parameters' values in force on ``as_of`` written in),
    its inputs and result, and each parameter with its words (and, if dated, the day its value holds from).
    A parameter with no value on ``as_of`` leaves the amount undecided (None), never guessed."""
    text = benefit.formula_on(as_of)
    result = formula.evaluate(text, attributes) if text is not None else formula.Result(None, {})
    values = {p.name: (p, p.on(as_of)) for p in benefit.params}
    return {
        "formula": text or benefit.formula, "unit": benefit.unit,
        "inputs": dict(result.inputs), "amount": result.amount,
        **({"params": {name: param_entry(p, v) for name, (p, v) in values.items() if v is not None}}
           if benefit.params else {}),
        **({"unset": sorted(name for name, (_, v) in values.items() if v is None)} if text is None else {}),
        **({"at_most": benefit.at_most} if benefit.at_most else {}),
        **({"missing": list(result.missing)} if result.missing else {}),
        **({"error": result.error} if result.error else {}),
    }


def param_entry(param: model.Param, value: model.ParamValue) -> dict[str, Any]:
    """A parameter's value as explanations record it: ``{value, quote}``, and ``from`` (ISO) where it is dated."""
    return {"value": value.value, "quote": value.quote, **({"from": value.since.isoformat()} if param.dated else {})}


#: A condition tree compiled by :func:`verdict_of`: attributes → verdict.
Verdicts = Callable[[Mapping[str, Any]], matching.Verdict]


def verdict_of(node: model.Condition | None, as_of: dt.date | None = None) -> Verdicts:
    """The verdict :func:`_condition` gives on ``node``, as a function of the attributes: short-circuited
    (a decided `all`/`any` stops early) and with the tree walked once, here, not on every call. A tree
    comparing with a dated parameter (:attr:`model.Clause.dated`) is compiled for one date, ``as_of``."""
    if node is None:
        return _unexpressed
    if isinstance(node, model.Leaf):
        attr, value, compare = node.attr, node.value, _COMPARE[node.op]
        if node.dated:
            if as_of is None:
                raise ValueError(f"{node.path}: a dated threshold is compiled for a date")
            threshold = node.threshold(as_of)
            if threshold is None:
                return _unexpressed  # no value holds on the date: the condition cannot be decided
            value = threshold.value

        def leaf(attributes: Mapping[str, Any]) -> matching.Verdict:
            seen = attributes.get(attr)
            if seen is None:
                return UNKNOWN
            return MET if compare(seen, value) else NOT_MET

        return leaf
    children = tuple(verdict_of(child, as_of) for child in node.children)
    if len(children) == 1:
        return children[0]
    decisive, settled = (NOT_MET, MET) if node.kind == "all" else (MET, NOT_MET)

    def group(attributes: Mapping[str, Any]) -> matching.Verdict:
        open_ = False
        for child in children:
            verdict = child(attributes)
            if verdict is decisive:
                return decisive
            if verdict is UNKNOWN:
                open_ = True
        return UNKNOWN if open_ else settled

    return group


def _unexpressed(attributes: Mapping[str, Any]) -> matching.Verdict:
    return UNKNOWN  # a firm-facing clause not yet expressed as conditions


def _condition(
    node: model.Condition, attributes: Mapping[str, Any], leaves: list[dict[str, Any]], as_of: dt.date
) -> tuple[matching.Verdict, set[str]]:
    """Verdict of a condition tree and the attributes that leave it open; appends leaf entries."""
    if isinstance(node, model.Leaf):
        seen, value = attributes.get(node.attr), node.value
        threshold = node.threshold(as_of) if node.dated else None
        if threshold is not None:
            value = threshold.value  # the dated parameter's value in force on the judging date
        if node.dated and threshold is None:
            verdict = UNKNOWN  # no value holds on the date: undecided, whatever the firm's data
        elif seen is None:
            verdict = UNKNOWN
        else:
            verdict = MET if _COMPARE[node.op](seen, value) else NOT_MET
        required = list(value) if isinstance(value, tuple) else value
        entry = {"path": node.path, "attr": node.attr, "op": node.op,
                 "required": required, "seen": seen, "verdict": _VALUE[verdict]}
        if node.quote is not None:
            entry["quote"] = node.quote  # the clause's words this condition implements, beside its verdict
        if node.param is not None:
            entry["param"] = node.param  # the named number the value is (its words: the clause's params)
        if threshold is not None:
            entry["from"] = threshold.since.isoformat()  # the day the dated value compared with holds from
            entry["param_quote"] = threshold.quote
        elif node.dated:
            entry["unset"] = True
        leaves.append(entry)
        return verdict, ({node.attr} if verdict == UNKNOWN and seen is None and "unset" not in entry else set())
    results = [_condition(child, attributes, leaves, as_of) for child in node.children]
    verdicts = [v for v, _ in results]
    verdict = combine_all(verdicts) if node.kind == "all" else combine_any(verdicts)
    if verdict != UNKNOWN:
        return verdict, set()
    return verdict, set().union(*(m for v, m in results if v == UNKNOWN))
