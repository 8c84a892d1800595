"""What both evaluators are fed: checked attributes and per-clause grant totals.

Both matchers go through these functions, so the reference and durable-rules always judge
exactly the same input.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from typing import Any

from engine.core import matching
from engine.judging import derive
from engine.judging.catalogue import model

#: Per clause id, per grant accumulator, the value that clause sees (its own grants this year).
Overrides = Mapping[str, Mapping[str, float]]


def normalise(attributes: Mapping[str, Any]) -> dict[str, Any]:
    """Check attribute names and types against ``ATTRIBUTE_TYPES``; drop None (= absent).

    Ints are accepted for float attributes (and integral floats for int ones) and converted,
    so both evaluators compare the same Python values. Raises ValueError on an unknown name,
    a wrong type or a non-finite number: silently judging bad input would be worse.
    """
    out: dict[str, Any] = {}
    types = derive.ATTRIBUTE_TYPES
    for name, value in attributes.items():
        kind = types.get(name)
        if kind is None:
            raise ValueError(f"unknown attribute {name!r}")
        if value is None:
            continue
        # Derived attributes almost always have their exact type already: skip the full check then.
        if type(value) is kind and (kind is not float or math.isfinite(value)):
            out[name] = value
        else:
            out[name] = _coerce(name, kind, value)
    return out


def _coerce(name: str, kind: type, value: Any) -> Any:
    if kind is bool or kind is str:
        if type(value) is not kind:
            raise ValueError(f"attribute {name!r} must be {kind.__name__}, got {value!r}")
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"attribute {name!r} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"attribute {name!r} must be finite, got {value!r}")
    if kind is int:
        if isinstance(value, float) and not value.is_integer():
            raise ValueError(f"attribute {name!r} must be a whole number, got {value!r}")
        return int(value)
    return float(value)


def accumulating(catalogue: model.Catalogue) -> Mapping[str, frozenset[str]]:
    """Firm-facing clause id → the grant accumulators it reads (only clauses reading one)."""
    return catalogue.accumulating


def same_period(per: str, when: dt.date, as_of: dt.date) -> bool:
    """Whether ``when`` falls in the cap period (one of :data:`model.CAP_PERIODS`) holding ``as_of``."""
    if per == "year":
        return when.year == as_of.year
    raise ValueError(f"unknown cap period {per!r}")


def grants_by_clause(
    catalogue: model.Catalogue, as_of: dt.date, grants: Any
) -> dict[str, float]:
    """Amounts already granted in the cap's period, per clause declaring a cap.

    Sums the ``met`` decisions in ``MatchContext.grants`` of the same clause whose date falls in
    the period (``cap.per``: the calendar year) holding ``as_of``. Every stored grant of that
    period counts, even one dated after ``as_of`` (an event arriving late): what was paid out
    is paid, and counting it keeps the period's total within the cap whatever order events are
    processed in.
    """
    periods = {clause_id: catalogue.by_id[clause_id].cap.per for clause_id in accumulating(catalogue)}  # type: ignore[union-attr]
    totals = {clause_id: 0.0 for clause_id in periods}
    for when, decision in grants:
        if (
            decision.clause_id in totals
            and decision.status == matching.Verdict.MET
            and decision.amount is not None
            and same_period(periods[decision.clause_id], when, as_of)
        ):
            totals[decision.clause_id] += float(decision.amount)
    return totals


def prepare(
    catalogue: model.Catalogue,
    profile: Mapping[str, Any],
    as_of: dt.date,
    context: matching.MatchContext,
) -> tuple[dict[str, Any], dict[str, dict[str, float]]]:
    """The attributes of ``profile`` as of ``as_of`` and the per-clause accumulator overrides.

    Each clause declaring a cap sees its own total (:data:`model.GRANTED`) through the
    overrides, so two caps never eat into each other.
    """
    totals = grants_by_clause(catalogue, as_of, context.grants)
    attributes = derive.attributes(profile, as_of, designations=context.designations)
    overrides = {
        clause_id: {name: totals[clause_id] for name in names}
        for clause_id, names in accumulating(catalogue).items()
    }
    return normalise(attributes), overrides
