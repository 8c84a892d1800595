"""The interface between the pipeline and the rules engine.

The pipeline hands a matcher the firm's current profile and the as-of date (the event's
`occurred_at` date) and stores each returned decision that differs from the firm's previous
decision for that clause.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
from collections.abc import Collection, Mapping, Sequence
from typing import Any, NamedTuple, Protocol

from engine.core import money


class Verdict(str, enum.Enum):
    """Three-valued outcome of a clause for a firm."""

    #: Every condition holds on the facts known.
    MET = "met"
    #: At least one condition definitely fails (or the firm is out of the clause's jurisdiction or window).
    NOT_MET = "not_met"
    #: No condition fails, but some need data the profile lacks; the decision names it.
    UNKNOWN = "unknown"


#: Each verdict's text as stored: ``Verdict.value`` goes through the enum's descriptor, and a lookup is
#: several times cheaper where millions of decisions are explained or written.
VERDICT_TEXT: dict[Verdict, str] = {verdict: verdict.value for verdict in Verdict}


@dataclasses.dataclass(frozen=True)
class Decision:
    """A matcher's verdict on one clause for one firm, with what it was based on."""

    clause_id: str
    cite: str
    rule_version: str
    status: Verdict
    amount: float | None = None
    explanation: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    facts: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    #: False when the clause does not reach this firm at all (another jurisdiction, or not in force on
    #: the date): such a `not_met` is worth storing only as a change from an earlier verdict.
    in_scope: bool = True
    #: When `met`, the notice period this decision entitles the firm to (period_for);
    #: None means the decision causes no notice.
    period: str | None = None
    #: True when the amount is one grant under a cumulative cap (a clause's ``benefit.cap``): each `met`
    #: with an amount is an entry of the period's ledger, so an equal amount after an earlier one is a
    #: second grant, not a repeat, and a zero amount grants nothing new.
    cumulative: bool = False
    #: When `met`: the last day of the clause's window (its valid_to); None when the document sets no end.
    closes: datetime.date | None = None
    #: Whether its notices go by SMS as well as email (a concrete benefit: catalogue Clause.by_sms).
    by_sms: bool = True

    def as_dict(self) -> dict[str, Any]:
        """The decision as JSON-ready data (API, CLI, audit)."""
        return {
            "clause_id": self.clause_id,
            "cite": self.cite,
            "rule_version": self.rule_version,
            "status": self.status.value,
            "amount": self.amount,
            "explanation": dict(self.explanation),
            "facts": dict(self.facts),
        }

    def same_outcome(self, other: Decision | None) -> bool:
        """True when storing this decision after `other` would record nothing new."""
        return other is not None and same_outcome(
            other.status, other.rule_version, other.amount, self.status, self.rule_version, self.amount, self.cumulative
        )


def same_outcome(
    status: Verdict, rule_version: str, amount: float | None,
    new_status: Verdict, new_rule_version: str, new_amount: float | None, cumulative: bool,
) -> bool:
    """Whether a new outcome after a stored one records nothing new (the rule `Decision.same_outcome` and
    the backfill's fast path share).

    Under a cumulative cap a `met` amount is a grant: any positive one is new (two equal purchases are
    two grants), and a zero after a `met` is nothing new (the cap, or the activity, is already paid).
    """
    if status != new_status or rule_version != new_rule_version:
        return False
    if cumulative and new_status == Verdict.MET:
        return not money.rounded(new_amount)
    return money.rounded(amount) == money.rounded(new_amount)


#: A county had a medium/high epidemic risk area in the year (region.risk_designated).
EPIDEMIC_RISK = "epidemic_risk"
#: A county was named a 中小企业高质量发展示范县 创建县 in the year (region.demo_county_designated).
SME_DEMO_COUNTY = "sme_demo_county"
#: Every kind of county designation the rules read.
DESIGNATION_KINDS = (EPIDEMIC_RISK, SME_DEMO_COUNTY)


class Designation(NamedTuple):
    """One designation of the firm's county by a public body: its kind (`DESIGNATION_KINDS`) and year."""

    kind: str
    year: int


def designations(**years_by_kind: Collection[int]) -> frozenset[Designation]:
    """`designations(epidemic_risk=[2022])`: the designations of the given kinds in the given years."""
    return frozenset(Designation(kind, int(year)) for kind, years in years_by_kind.items() for year in years)


@dataclasses.dataclass(frozen=True)
class MatchContext:
    """Facts outside the firm's own events that a matcher may need."""

    #: The designations of the firm's county (risk areas, demonstration counties), every year's.
    designations: frozenset[Designation] = frozenset()
    #: The firm's latest stored decision per clause id (for changes and accumulating caps).
    previous: Mapping[str, Decision] = dataclasses.field(default_factory=dict)
    #: Every stored `met` decision of the firm, oldest first (earlier grants, for caps per year).
    grants: Sequence[tuple[datetime.date, Decision]] = ()

    def years(self, kind: str) -> list[int]:
        """The years, ascending, in which the firm's county had a designation of `kind`."""
        return sorted(d.year for d in self.designations if d.kind == kind)


class Matcher(Protocol):
    """Judges a firm profile against the catalogue as of a date."""

    def match(
        self, profile: Mapping[str, Any], as_of: datetime.date, context: MatchContext
    ) -> Sequence[Decision]: ...


class NullMatcher:
    """Matches nothing: the pipeline's default until a catalogue is configured."""

    def match(
        self, profile: Mapping[str, Any], as_of: datetime.date, context: MatchContext
    ) -> Sequence[Decision]:
        return ()


def period_for(mode: str, as_of: datetime.date) -> str:
    """The notice period of a clause of `mode` decided on `as_of`: the period within which the firm is
    told of a benefit once.

    - `auto_grant` and `apply` clauses: the calendar year of the decision date (benefits and
      subsidies here are granted per year, and the accumulating caps are per year too);
    - `inform` clauses: `once` — a firm is told about a service a single time.
    """
    return "once" if mode == "inform" else str(as_of.year)
