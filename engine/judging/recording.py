"""Which decisions a judgement changed: the rule that decides what is worth recording.

Pure functions over what a store holds for a firm; the pipeline's fold (both stores), a region
designation's re-judging and the backfill all record exactly what these return. The policy
calculator builds its context with the same functions (`stored_context`), so it judges a profile
as the pipeline would.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from engine import audit
from engine.audit import summaries
from engine.core import matching, profile, records, stores

#: What folding passes a judge: profile (nested), as-of date and context → decisions.
Judge = Callable[[Mapping[str, Any], datetime.date, matching.MatchContext], Sequence[matching.Decision]]


def match_context(
    designations: frozenset[matching.Designation], decisions: Sequence[records.StoredDecision]
) -> matching.MatchContext:
    """Build the context a judge sees from what storage holds for a firm and its county's designations."""
    return context_of(designations, [(stored.as_of, stored.decision) for stored in decisions])


def context_of(
    designations: frozenset[matching.Designation], known: Sequence[tuple[datetime.date, matching.Decision]]
) -> matching.MatchContext:
    """`match_context` from (as-of date, decision) pairs in the order stored: all a judge reads of them."""
    return matching.MatchContext(
        designations=designations,
        previous={decision.clause_id: decision for _, decision in known},
        grants=tuple((as_of, decision) for as_of, decision in known if decision.status == matching.Verdict.MET),
    )


async def stored_context(
    store: stores.FirmReader, firm_profile: Mapping[str, Any], risk_years: frozenset[int] | None = None
) -> matching.MatchContext:
    """The context the pipeline would judge `firm_profile` in, read from `store`: the calculator's default.

    Designations: those stored for the profile's county (its `region`); `risk_years`, when given,
    replaces the stored epidemic-risk ones (an explicit override wins). When the profile's `uscc` names a stored firm, its stored decisions
    give the previous verdicts and the grants already made (cumulative caps), as `match_context`
    builds them for the pipeline; a profile without `uscc` is judged as a firm with no decisions.
    """
    county, uscc = firm_profile.get("region"), firm_profile.get("uscc")
    designations = await store.designations(county) if isinstance(county, str) else frozenset()
    if risk_years is not None:
        designations = frozenset(d for d in designations if d.kind != matching.EPIDEMIC_RISK) \
            | matching.designations(epidemic_risk=risk_years)
    decisions = await store.decisions(uscc.strip().upper()) if isinstance(uscc, str) else []
    return match_context(designations, decisions)


def changed_decisions(
    new: Sequence[matching.Decision], previous: Mapping[str, matching.Decision]
) -> list[matching.Decision]:
    """The decisions worth storing: those that differ from the firm's previous one for the clause.

    A clause that never reached the firm (out of scope, never judged before) is not recorded: a
    firm in 青海 gets no rows for 云南's clauses, while an in-scope `not_met` is kept so operators
    can see why a firm did not match.
    """
    return [
        decision
        for decision in new
        if not decision.same_outcome(prior := previous.get(decision.clause_id))
        and not (prior is None and decision.status == matching.Verdict.NOT_MET and not decision.in_scope)
    ]


def judge_firm(
    uscc: str,
    fields: Mapping[str, Any],
    as_of: datetime.date,
    designations: frozenset[matching.Designation],
    known: Sequence[tuple[datetime.date, matching.Decision]],
    judge: Judge,
) -> list[matching.Decision]:
    """Judge a firm's flat profile as of a date against what is stored for it and its county's
    designations; return what changed."""
    context = context_of(designations, known)
    return changed_decisions(judge(profile.nest(uscc, fields), as_of, context), context.previous)


def decision_member(stored: records.StoredDecision) -> dict[str, Any]:
    """A recorded decision as a backfill batch's audit summary covers it (engine.audit.summaries)."""
    return member_of(stored.id, stored.uscc, stored.as_of, stored.decision, stored.approval)


def member_of(id_: int, uscc: str, as_of: datetime.date, d: matching.Decision, approval: str | None) -> dict[str, Any]:
    """:func:`decision_member` of a decision recorded with this id, firm, day and approval state."""
    return summaries.decision_member(id_, uscc, d.clause_id, d.cite, d.rule_version, matching.VERDICT_TEXT[d.status],
                                     d.amount, as_of, d.period, approval is not None)


def decision_audit(stored: records.StoredDecision, actor: str = "pipeline") -> audit.Draft:
    """The audit entry for a recorded decision."""
    d = stored.decision
    return audit.Draft(
        actor=actor,
        action="decision.recorded",
        subject_type="decision",
        subject_id=str(stored.id),
        payload={
            "uscc": stored.uscc, "clause_id": d.clause_id, "cite": d.cite, "rule_version": d.rule_version,
            "status": d.status.value, "amount": d.amount, "as_of": stored.as_of.isoformat(),
            "event_id": stored.event_id, "approval": stored.approval,
        },
    )
