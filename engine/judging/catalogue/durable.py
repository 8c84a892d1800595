"""The production matcher: durable-rules decides which clauses are met.

The catalogue is compiled by :mod:`engine.catalogue.compiler` into several rulesets and driven
through the low-level ``durable_rules_engine`` module (no ``Host``: it starts timer threads and
is ~4x slower). Per evaluation, for each ruleset: assert the firm fact under one fixed sid,
drain the actions (each names a met clause; ``$or`` fires per branch, so names are de-duplicated),
and retract the fact in a ``finally``.

durable-rules is two-valued, so it only decides the *met* set. Not-met versus unknown, the
explanations and the amounts come from the reference evaluator run on the same input; a clause
is met only when both agree, and a disagreement (a bug in one of them) is logged and reported as
``unknown`` so nothing is granted on a verdict that cannot be explained.

The C engine has no locks and an assert→drain→retract cycle is not atomic, so an
:class:`Evaluator` belongs to the thread that created it and refuses any other; the matcher
keeps one evaluator per thread.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import json
import logging
import os
import threading
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from engine.core import matching
from engine.judging.catalogue import compiler, inputs, model, reference

try:  # the extension ships as an sdist and does not build everywhere (e.g. Python 3.13)
    import durable_rules_engine as engine
except ImportError:  # pragma: no cover - exercised by monkeypatching in the tests
    engine = None

log = logging.getLogger(__name__)

_SID = "0"
_FACT_ID = "firm"
_RETRACT = json.dumps({"sid": _SID, "id": _FACT_ID})
_names = itertools.count()


class EngineError(RuntimeError):
    """durable-rules failed during an evaluation; the evaluator is rebuilt on next use.

    It propagates (no silent fallback to the reference): the event's processing fails visibly
    and is retried, rather than storing verdicts the production engine never confirmed.
    """


class Evaluator:
    """Compiled rulesets in the C engine, one fixed sid, usable from one thread only."""

    def __init__(self, rulesets: Sequence[Mapping[str, Any]]) -> None:
        if engine is None:
            raise EngineError("durable_rules_engine is not importable")
        self.thread = threading.get_ident()
        self.broken = False
        # Names are unique per process: several evaluators (threads, tests) may coexist.
        prefix = f"policy_push_{os.getpid()}_{next(_names)}"
        self.handles = [
            engine.create_ruleset(f"{prefix}_{n}", compiler.dumps(dict(ruleset)))
            for n, ruleset in enumerate(rulesets)
        ]

    def fired(self, fact_json: str) -> set[str]:
        """Names of the rules that fire for ``fact_json`` (a firm fact without sid/id)."""
        if threading.get_ident() != self.thread:
            raise RuntimeError("a durable-rules evaluator is bound to the thread that created it")
        if self.broken:
            raise EngineError("evaluator unusable after an earlier engine error")
        document = f'{{"sid":"{_SID}","id":"{_FACT_ID}",{fact_json[1:]}'
        names: set[str] = set()
        try:
            for handle in self.handles:
                self._cycle(handle, document, names)
        except BaseException:
            # Actions may still be queued for the session: never reuse it.
            self.broken = True
            raise
        return names

    @staticmethod
    def _cycle(handle: int, document: str, names: set[str]) -> None:
        try:
            code, state = engine.assert_fact(handle, document)
            if code == 0:  # stored and matched: actions are pending
                result = engine.start_action_for_state(handle, state)
                while result:
                    names.add(_rule_name(result[1]))
                    message = engine.complete_and_start_action(handle, state)
                    result = (None, message) if message else None
            elif code != 1:  # 1: matched no rule (not stored)
                raise EngineError(f"assert_fact returned code {code}")
        except engine.error as exc:
            raise EngineError(str(exc)) from exc
        finally:
            try:
                engine.retract_fact(handle, _RETRACT)
            except engine.error as exc:
                raise EngineError(f"retract_fact failed: {exc}") from exc


def _rule_name(message: str) -> str:
    """The rule an action message is for: its only top-level key (``{"<rule>": {"m": ...}}``)."""
    # Rule names are clause ids (ASCII, no quotes): read the key without parsing the whole fact.
    if message.startswith('{"'):
        end = message.find('"', 2)
        if end > 2:
            return message[2:end]
    (name,) = json.loads(message).keys()
    return name


class DurableMatcher(reference.ProfileMatcher):
    """Implements :class:`engine.matching.Matcher` with durable-rules deciding ``met``."""

    def __init__(self, catalogue: model.Catalogue, *, max_branches: int = compiler.MAX_BRANCHES) -> None:
        self.catalogue = catalogue
        self.reference = reference.ReferenceMatcher(catalogue)
        self.rulesets = compiler.plan(catalogue, max_branches)
        self.reads = compiler.accumulator_reads(catalogue)
        self.facts = compiler.FactEncoder(catalogue, self.reads)
        self._local = threading.local()
        self._executable = frozenset(c.id for c in catalogue.executable())

    def evaluator(self) -> Evaluator:
        """This thread's evaluator, created on first use (or after an engine error)."""
        current = getattr(self._local, "evaluator", None)
        if current is None or current.broken:
            current = self._local.evaluator = Evaluator(self.rulesets)
        return current

    def met_ids(
        self, attributes: Mapping[str, Any], as_of: dt.date, *, overrides: inputs.Overrides | None = None
    ) -> frozenset[str]:
        """Ids of the clauses durable-rules finds met."""
        return self._met(inputs.normalise(attributes), as_of, overrides)

    def _met(self, attributes: dict[str, Any], as_of: dt.date, overrides: inputs.Overrides | None) -> frozenset[str]:
        return frozenset(self.evaluator().fired(self.facts.encode(attributes, as_of, overrides)))

    def evaluate(
        self,
        attributes: Mapping[str, Any],
        as_of: dt.date,
        *,
        overrides: inputs.Overrides | None = None,
        clause_ids: Collection[str] | None = None,
    ) -> list[matching.Decision]:
        """Decisions from attributes given directly (same arguments as the reference's)."""
        attributes = inputs.normalise(attributes)
        met = self._met(attributes, as_of, overrides)
        return self.decisions(attributes, as_of, met, overrides=overrides, clause_ids=clause_ids)

    def decisions(
        self,
        attributes: dict[str, Any],
        as_of: dt.date,
        met: Collection[str],
        *,
        overrides: inputs.Overrides | None = None,
        clause_ids: Collection[str] | None = None,
    ) -> list[matching.Decision]:
        """:meth:`evaluate` on attributes already checked by :func:`inputs.normalise`, given ``met``: the
        clauses durable-rules fired for exactly these attributes, date and overrides (a caller that has
        asked the engine already need not build the fact and assert it again)."""
        decisions = self.reference.judge_all(attributes, as_of, overrides, clause_ids)
        return [self._reconcile(d, d.clause_id in met) for d in decisions]

    def _reconcile(self, decision: matching.Decision, engine_met: bool) -> matching.Decision:
        if engine_met == (decision.status == matching.Verdict.MET):
            return decision
        log.error(
            "durable-rules and the reference disagree on %s: engine %s, reference %s",
            decision.clause_id, "met" if engine_met else "not met", decision.status.value,
        )
        explanation = {
            **decision.explanation,
            "status": matching.Verdict.UNKNOWN.value,
            "engine": {"durable_met": engine_met, "reference": decision.status.value, "agrees": False},
        }
        return dataclasses.replace(decision, status=matching.Verdict.UNKNOWN, amount=None, explanation=explanation)


def create_matcher(catalogue: model.Catalogue) -> DurableMatcher | reference.ReferenceMatcher:
    """The durable-rules matcher, or the reference evaluator (with a warning) without the extension."""
    if engine is None:
        log.warning("durable_rules_engine cannot be imported: matching with the pure-Python reference evaluator")
        return reference.ReferenceMatcher(catalogue)
    return DurableMatcher(catalogue)
