"""What the judge reads of a stored firm, and the change it asks a store to record."""

from __future__ import annotations

import dataclasses
import datetime as dt
import typing
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from engine.core import matching

# Prior, Grant and FirmInput are named tuples, not frozen dataclasses: a province's backfill
# builds tens of millions of them, and a tuple is several times cheaper to make.


class Prior(typing.NamedTuple):
    """The firm's latest stored decision on a clause, as far as a comparison needs it."""

    decision_id: int
    status: matching.Verdict
    rule_version: str
    amount: float | None


class Grant(typing.NamedTuple):
    """A stored ``met`` decision with an amount: what accumulating caps add up."""

    as_of: dt.date
    clause_id: str
    amount: float | None


class FirmInput(typing.NamedTuple):
    """What storage holds for one firm: its profile fields and what was decided before."""

    uscc: str
    fields: Mapping[str, Any]
    #: ``firm.events_applied`` when read: the writer refuses changes if the profile moved since.
    version: int
    priors: Mapping[str, Prior]
    grants: Sequence[Grant] = ()
    #: The designations of the firm's county (matching.MatchContext.designations).
    designations: frozenset[matching.Designation] = frozenset()


@dataclasses.dataclass(frozen=True, slots=True)
class Change:
    """A decision to record: the firm and what the outcome was compared against."""

    uscc: str
    firm_version: int
    prior_id: int | None
    decision: matching.Decision
    #: The decision's explanation and facts as JSON text (:func:`encoded`), its dicts then left empty: what
    #: a backfill's worker process sends its writer, which stores the text as it is.
    explanation_json: str | None = None
    facts_json: str | None = None


def encoded(change: Change) -> Change:
    """``change`` with its decision's explanation and facts encoded as JSON text, for storing as is (a
    string crosses processes and reaches the database several times cheaper than the dicts it holds)."""
    decision = change.decision
    return Change(
        change.uscc, change.firm_version, change.prior_id, dataclasses.replace(decision, explanation={}, facts={}),
        json_text(decision.explanation), json_text(decision.facts),
    )


def json_text(value: Mapping[str, Any]) -> str:
    """Compact JSON, non-ASCII kept (UTF-8 stores 中文 in 3 bytes, an escape in 6); orjson encodes an
    explanation about seven times faster than the standard library, which made encoding the costliest
    step of a first backfill's judging."""
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
