"""Re-judging one stored firm, fast: outcomes for every clause, full decisions only where they change.

The pipeline's matcher explains all ~100 firm-facing clauses on every call, which is what an
event needs (few firms) and far too slow for a province (millions). A backfill mostly confirms
what is stored, so it judges in two tiers:

1. every selected clause gets an *outcome*: durable-rules decides ``met`` (as in the pipeline),
   the reference's short-circuited three-valued logic separates ``not_met`` from ``unknown``,
   and a met clause's formula gives its amount;
2. only an outcome that differs from the firm's latest stored decision (the pipeline's rule,
   :func:`engine.judging.recording.changed_decisions`) is judged again in full, with its explanation.

Both tiers read the same attributes the pipeline's matcher would (``inputs.prepare`` with the
context storage would build), so a backfill stores exactly what
``changed_decisions(matcher.match(...), previous)`` would; ``tests/backfill`` checks that on
synthetic firms.
"""

from __future__ import annotations

import bisect
import datetime as dt
import typing
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from engine import constants
from engine.core import matching, money, profile
from engine.judging import firm_input
from engine.judging.catalogue import durable, formula, inputs, model, reference

MET, NOT_MET, UNKNOWN = matching.Verdict.MET, matching.Verdict.NOT_MET, matching.Verdict.UNKNOWN


class Outcome(typing.NamedTuple):
    """One clause's outcome for a firm: enough to compare, count and preview, not to explain."""

    clause_id: str
    status: matching.Verdict
    amount: float | None
    in_scope: bool
    #: True when it differs from what is stored, so a real run records it.
    changed: bool
    #: The firm's latest stored decision on the clause, if any (a Prior when read by a backfill).
    prior: firm_input.Prior | matching.Decision | None


class Compiled:
    """What judging needs of a catalogue's clauses (or some of them) whatever the date, built once.

    The condition trees compiled, and per *span* of dates (the days between two consecutive window
    boundaries, where the same clauses are in force) those clauses and, per region, the ones that may
    reach it. Dates are keyed by the span they fall in, not by themselves: a historical load whose
    events carry hundreds of different dates shares the few spans the catalogue's windows make.
    """

    def __init__(self, catalogue: model.Catalogue, clause_ids: Collection[str] | None = None) -> None:
        wanted = None if clause_ids is None else frozenset(clause_ids)
        self.clauses = tuple(c for c in catalogue.firm_facing() if wanted is None or c.id in wanted)
        self.clause_ids = frozenset(c.id for c in self.clauses)
        self.by_id = {c.id: c for c in self.clauses}
        #: Clause id → its place in the catalogue: the order the matcher's ``match`` returns decisions in.
        self.position = {c.id: n for n, c in enumerate(self.clauses)}
        # Condition trees compiled once: a backfill evaluates each of them millions of times. A tree
        # comparing with a dated parameter is compiled per span (its values change only at bounds).
        self.conditions = {c.id: reference.verdict_of(c.conditions) for c in self.clauses if not c.dated}
        self.dated = tuple(c for c in self.clauses if c.dated)
        # in_window(d) changes only where d reaches a valid_from or passes a valid_to, and a dated
        # threshold where one of its values starts or ends: the number of these boundaries on or before d
        # names the set of clauses in force on d and the thresholds they compare with.
        bounds = {c.valid_from for c in self.clauses} | {day for c in self.dated for day in c.changes}
        bounds |= {c.valid_to + dt.timedelta(days=1) for c in self.clauses if c.valid_to is not None and c.valid_to < dt.date.max}
        self.bounds = sorted(bounds)
        self._spans: dict[int, _Span] = {}  # at most len(bounds) + 1
        self._periods: dict[int, dict[str, str]] = {}

    def span(self, as_of: dt.date) -> _Span:
        """The clauses in force on ``as_of`` and the region scopes of its span (built on first use)."""
        index = bisect.bisect_right(self.bounds, as_of)
        found = self._spans.get(index)
        if found is None:
            conditions = {**self.conditions, **{c.id: reference.verdict_of(c.conditions, as_of) for c in self.dated}}
            found = self._spans[index] = _Span(tuple(c for c in self.clauses if c.in_window(as_of)), {}, conditions)
        return found

    def periods(self, as_of: dt.date) -> Mapping[str, str]:
        """Clause id → its notice period for decisions on ``as_of`` (periods depend on the year only)."""
        found = self._periods.get(as_of.year)
        if found is None:
            found = self._periods[as_of.year] = {c.id: matching.period_for(c.mode, as_of) for c in self.clauses}
        return found


class _Span(typing.NamedTuple):
    in_force: tuple[model.Clause, ...]
    #: Region → the in-force clauses that may reach it; bounded by the number of counties (~3,000).
    scopes: dict[Any, _Scope]
    #: Clause id → its compiled condition tree, dated thresholds at their values on the span's days.
    conditions: Mapping[str, reference.Verdicts]


class Judge:
    """Judges stored firms against the catalogue (or some of its clauses) as of one date."""

    def __init__(
        self,
        matcher: durable.DurableMatcher | reference.ReferenceMatcher,
        as_of: dt.date,
        clause_ids: Collection[str] | None = None,
        *,
        compiled: Compiled | None = None,
    ) -> None:
        """``compiled``: shared by judges of other dates (the pipeline's); built here when not given."""
        self.matcher = matcher
        self.catalogue: model.Catalogue = matcher.catalogue
        self.as_of = as_of
        if compiled is None:
            compiled = Compiled(self.catalogue, clause_ids)
        elif clause_ids is not None and frozenset(clause_ids) != compiled.clause_ids:
            raise ValueError("clause_ids differ from the clauses the shared Compiled was built for")
        self.clauses, self.clause_ids, self.by_id = compiled.clauses, compiled.clause_ids, compiled.by_id
        self.position = compiled.position
        self.engine = matcher if isinstance(matcher, durable.DurableMatcher) else None
        span = compiled.span(as_of)
        self.conditions = span.conditions
        self.in_force = span.in_force
        self.periods = compiled.periods(as_of)
        self._scopes = span.scopes

    def attributes(self, firm: firm_input.FirmInput) -> tuple[dict[str, Any], Mapping[str, Mapping[str, float]]]:
        """The checked attributes and per-clause accumulator overrides the pipeline's matcher would see."""
        grants = [
            (grant.as_of, matching.Decision(grant.clause_id, "", "", MET, grant.amount))
            for grant in firm.grants
        ]
        context = matching.MatchContext(designations=firm.designations, grants=grants)
        return inputs.prepare(self.catalogue, profile.nest(firm.uscc, firm.fields), self.as_of, context)

    def changed_decisions(self, nested: Mapping[str, Any], context: matching.MatchContext) -> list[matching.Decision]:
        """``recording.changed_decisions(matcher.match(nested, as_of, context), context.previous)``, the fast way.

        What the pipeline stores after an event: only the decisions that change, explained.
        """
        attributes, overrides = inputs.prepare(self.catalogue, nested, self.as_of, context)
        return self.changed_from(attributes, overrides, context.previous)

    def changed_from(
        self, attributes: dict[str, Any], overrides: Mapping[str, Mapping[str, float]],
        previous: Mapping[str, matching.Decision],
    ) -> list[matching.Decision]:
        """:meth:`changed_decisions` from attributes already prepared (``inputs.prepare``, checked by
        ``inputs.normalise``): verdicts for every clause, explanations only for those that change."""
        met = self._met(attributes, overrides)
        # A stored Decision has the three fields a comparison reads: no Prior built per clause.
        changed = [o for o in self._outcomes(attributes, overrides, previous, met, changed_only=True) if o.changed]
        return self.explain(attributes, overrides, self._in_order(changed), met=met) if changed else []

    def _in_order(self, changed: Sequence[Outcome]) -> list[str]:
        """The changed clause ids in catalogue order, as the eager path records them: outcomes list the
        clauses reaching the firm first, then any stored decision on a clause that no longer does."""
        return sorted((o.clause_id for o in changed), key=self.position.__getitem__)

    def outcomes(self, firm: firm_input.FirmInput) -> tuple[list[Outcome], dict[str, Any], Mapping[str, Mapping[str, float]]]:
        """The outcomes for ``firm`` of every selected clause that reaches it, and of any other selected
        clause whose stored decision it changes (plus the attributes, for :meth:`explain`)."""
        attributes, overrides = self.attributes(firm)
        return self._outcomes(attributes, overrides, firm.priors, self._met(attributes, overrides)), attributes, overrides

    def _outcomes(
        self, attributes: dict[str, Any], overrides: Mapping[str, Mapping[str, float]], priors: Mapping[str, _Stored],
        met: frozenset[str], *, changed_only: bool = False,
    ) -> list[Outcome]:
        """The outcomes :meth:`outcomes` describes; with `changed_only`, those that do not change a stored
        decision may be left out (the pipeline records only changes)."""
        engine = self.engine is not None
        region = attributes.get("region")
        scope = self._scope(region)
        results: list[Outcome] = []
        prior_of = priors.get
        # One pass over the clauses that reach the firm (~20 of ~100): this loop runs per event.
        for clause_id, clause, conditions, capped in scope.entries:
            override = overrides.get(clause_id) if overrides else None
            view = {**attributes, **override} if override else attributes
            status = conditions(view)
            if status is MET and capped:
                status = UNKNOWN  # reference.settle: place unknown, or data no event carries
            prior = prior_of(clause_id)
            if changed_only and status is not MET and prior is not None and prior.status == status \
                    and prior.amount is None and prior.rule_version == clause.rule_version and clause_id not in met:
                continue  # what _outcome finds for most clauses on most events: no amount, nothing changed
            results.append(self._outcome(clause, status, True, view, clause_id in met, engine, prior))
        outside = met - scope.ids
        if outside:
            # durable-rules fired for a clause that cannot reach the firm: judge that one in full too,
            # so the disagreement is handled exactly as the pipeline's matcher handles it.
            run = reference.Run(region, self.as_of)
            for clause_id in sorted(outside):
                if clause_id in self.by_id:
                    clause = self.by_id[clause_id]
                    view = {**attributes, **((overrides or {}).get(clause_id) or {})}
                    status, in_scope = run.status(clause, view, self.conditions[clause_id])
                    results.append(self._outcome(clause, status, in_scope, view, True, engine, prior_of(clause_id)))
        if priors:
            for clause_id, prior in priors.items():
                # A clause that no longer reaches the firm is not_met; worth a row only as a change.
                if clause_id not in scope.ids and clause_id not in outside and clause_id in self.by_id \
                        and not _same(prior, NOT_MET, self.by_id[clause_id].rule_version, None):
                    results.append(Outcome(clause_id, NOT_MET, None, False, True, prior))
        return results

    def _outcome(
        self, clause: model.Clause, status: matching.Verdict, in_scope: bool, view: Mapping[str, Any],
        engine_met: bool, engine: bool, prior: _Stored | None,
    ) -> Outcome:
        if engine and engine_met != (status is MET):
            status = UNKNOWN  # the two engines disagree: nothing is granted (see durable._reconcile)
        amount = None
        text = clause.benefit.formula_on(self.as_of) if status is MET and clause.benefit is not None else None
        if text:  # None: no formula, or a parameter with no value on the date (no amount, as the reference)
            amount = formula.evaluate(text, view).amount
        # _same, with its two cheap cases first: no prior, or another status or rule version.
        if prior is None:
            changed = not (status is NOT_MET and not in_scope)
        elif prior.status != status or prior.rule_version != clause.rule_version:
            changed = True
        else:
            changed = not _same(prior, status, clause.rule_version, amount, clause.cap is not None)
        return Outcome(clause.id, status, amount, in_scope, changed, prior)

    def _scope(self, region: Any) -> _Scope:
        """The selected clauses in force on the date whose jurisdiction may hold ``region`` (cached per region)."""
        cached = self._scopes.get(region)
        if cached is None:
            run = reference.Run(region, self.as_of)
            entries = []
            for clause in self.in_force:
                place = run.place(clause.jurisdiction)
                if place is not NOT_MET:
                    # Whether a met condition tree still leaves the clause open (computed once per region).
                    capped = reference.settle(place, MET, bool(clause.needs)) is not MET
                    entries.append((clause.id, clause, self.conditions[clause.id], capped))
            if len(self._scopes) >= constants.SCOPES_KEPT:
                self._scopes.clear()  # shared by every date of the span: bounded, whatever regions arrive
            cached = self._scopes[region] = _Scope(tuple(entries), frozenset(entry[0] for entry in entries))
        return cached

    def changes(self, firm: firm_input.FirmInput) -> tuple[list[Outcome], list[firm_input.Change]]:
        """The outcomes and, for those that changed, the full decisions to record."""
        attributes, overrides = self.attributes(firm)
        met = self._met(attributes, overrides)
        results = self._outcomes(attributes, overrides, firm.priors, met)
        changed = sorted((o for o in results if o.changed), key=lambda o: self.position[o.clause_id])
        if not changed:
            return results, []
        decisions = self.explain(attributes, overrides, [o.clause_id for o in changed], met=met)
        records = []
        for result, decision in zip(changed, decisions, strict=True):
            if decision.status != result.status or money.rounded(decision.amount) != money.rounded(result.amount):
                # Both tiers run the same logic on the same input; a difference is a defect, never a verdict.
                raise RuntimeError(
                    f"backfill outcome {result.status.value}/{result.amount} of {firm.uscc} {result.clause_id} "
                    f"differs from its full judgement {decision.status.value}/{decision.amount}"
                )
            records.append(firm_input.Change(firm.uscc, firm.version, result.prior.decision_id if result.prior else None, decision))
        return results, records

    def explain(
        self, attributes: dict[str, Any], overrides: Mapping[str, Mapping[str, float]], clause_ids: Sequence[str],
        *, met: frozenset[str] | None = None,
    ) -> list[matching.Decision]:
        """Full decisions (explanation, facts, period) for ``clause_ids``, in that order.

        ``met``: what durable-rules found met on these attributes (:meth:`_met`), so the engine is not
        asked again and the fact is built once per firm; without it the matcher judges from scratch.
        """
        wanted = frozenset(clause_ids)
        if met is not None and self.engine is not None:
            decisions = self.engine.decisions(attributes, self.as_of, met, overrides=overrides, clause_ids=wanted)
        else:
            decisions = self.matcher.evaluate(attributes, self.as_of, overrides=overrides, clause_ids=wanted)
        by_id = {d.clause_id: d for d in decisions}
        return [by_id[clause_id] for clause_id in clause_ids]

    def _engine_met(self, attributes: dict[str, Any], overrides: Mapping[str, Mapping[str, float]]) -> frozenset[str]:
        assert self.engine is not None
        return frozenset(self.engine.evaluator().fired(self.engine.facts.encode(attributes, self.as_of, overrides)))

    def _met(self, attributes: dict[str, Any], overrides: Mapping[str, Mapping[str, float]]) -> frozenset[str]:
        """The clauses durable-rules finds met (none asked without the engine: the reference decides alone)."""
        return self._engine_met(attributes, overrides) if self.engine is not None else frozenset()


class _Scope(typing.NamedTuple):
    #: (clause id, clause, compiled condition tree, whether a met tree is capped at unknown).
    entries: tuple[tuple[str, model.Clause, reference.Verdicts, bool], ...]
    ids: frozenset[str]


#: What an outcome is compared with: a backfill's Prior or the pipeline's stored Decision.
_Stored = firm_input.Prior | matching.Decision


def _same(
    prior: _Stored | None, status: matching.Verdict, rule_version: str, amount: float | None, cumulative: bool = False
) -> bool:
    """matching.Decision.same_outcome, on a stored Prior or Decision."""
    return prior is not None and matching.same_outcome(
        prior.status, prior.rule_version, prior.amount, status, rule_version, amount, cumulative
    )


class ChangesMatcher:
    """The pipeline's judge: what ``recording.changed_decisions(matcher.match(...), previous)`` would keep,
    computed with the two tiers, so an event costs explanations only for the decisions it changes.

    Implements :class:`engine.matching.Matcher`, but returns only the changed decisions, in catalogue
    order, each exactly as the eager path explains it; the pipeline's storage filters with
    ``changed_decisions`` again, which keeps all of them (tests/backfill/test_pipeline_judge.py).
    """

    def __init__(self, matcher: durable.DurableMatcher | reference.ReferenceMatcher) -> None:
        self.matcher = matcher
        self.catalogue = matcher.catalogue
        # Compiled once for every date: a judge per date is then a few lookups, so events with varied
        # dates (a historical load) cost what events of one day cost.
        self.compiled = Compiled(self.catalogue)
        self._judges: dict[dt.date, Judge] = {}

    def match(
        self, nested: Mapping[str, Any], as_of: dt.date, context: matching.MatchContext
    ) -> list[matching.Decision]:
        judge = self._judges.get(as_of)
        if judge is None:
            if len(self._judges) >= constants.JUDGES_KEPT:
                self._judges.clear()
            judge = self._judges[as_of] = Judge(self.matcher, as_of, compiled=self.compiled)
        return judge.changed_decisions(nested, context)
