"""What the judge reads of a stored firm, and the change it asks a store to record."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import operator
import typing
from collections.abc import Iterable, Mapping, Sequence
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


class Encoded(typing.NamedTuple):
    """A decision's explanation and facts as the database stores them: JSON text, the explanation named by
    the SHA-256 of its text (stored once however many decisions read alike)."""

    explanation_sha256: str
    explanation: str
    facts: str


def encode(decision: matching.Decision) -> Encoded:
    """The decision's explanation and facts as stored (see :class:`Encoded`)."""
    explanation = json_text(decision.explanation)
    return Encoded(hashlib.sha256(explanation.encode()).hexdigest(), explanation, json_text(decision.facts))


class Change(typing.NamedTuple):
    """A decision to record: the firm and what the outcome was compared against.

    A named tuple because a backfill makes millions of them: a tuple is built, pickled and unpickled several
    times faster than a frozen dataclass (when a separate writer process received them, its unpickling had
    been a fifth of its time)."""

    uscc: str
    firm_version: int
    prior_id: int | None
    decision: matching.Decision
    #: The decision's explanation and facts as stored (:func:`encoded`), its dicts then left empty: what a
    #: backfill writes as it is.
    encoded: Encoded | None = None


def encoding(change: Change) -> Encoded:
    """The change's decision as stored: encoded already (:func:`encoded`) or now."""
    return change.encoded or encode(change.decision)


#: Everything of a decision but its explanation and facts: equal for equal outcomes.
_outcome_of = operator.attrgetter(
    *(field.name for field in dataclasses.fields(matching.Decision) if field.name not in ("explanation", "facts"))
)


def encoded(changes: Iterable[Change]) -> list[Change]:
    """``changes`` with each decision's explanation and facts encoded (:func:`encode`: what the database
    stores; a string also reaches it several times cheaper than the dicts it holds).

    Firms share decisions: the reference evaluator returns one object for equal inputs, so each is
    encoded once here and its text is one string object for every firm that shares it. Without
    their explanations more still are equal (same clause, verdict, amount and period for thousands of
    firms: under a hundred distinct ones in 500 firms); equal ones become one bare object."""
    bare_of: dict[tuple[Any, ...], matching.Decision] = {}
    # By identity; each entry keeps its decision alive, so no id is reused while this runs.
    done: dict[int, tuple[matching.Decision, tuple[matching.Decision, Encoded]]] = {}
    result = []
    for change in changes:
        decision = change.decision
        if (seen := done.get(id(decision))) is None:
            key = _outcome_of(decision)
            if (bare := bare_of.get(key)) is None:
                bare = bare_of[key] = dataclasses.replace(decision, explanation={}, facts={})
            seen = done[id(decision)] = (decision, (bare, encode(decision)))
        result.append(Change(change.uscc, change.firm_version, change.prior_id, *seen[1]))
    return result


def json_text(value: Mapping[str, Any]) -> str:
    """Compact JSON, non-ASCII kept (UTF-8 stores 中文 in 3 bytes, an escape in 6); orjson encodes an
    explanation about seven times faster than the standard library, which made encoding the costliest
    step of a first backfill's judging."""
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
