"""The catalogue as frozen data: documents, clauses, condition trees and benefits.

These types are what :mod:`engine.catalogue.loader` builds from ``rules/<slug>/clauses.yaml`` (schema in
``rules/README.md``); both evaluators read only these, never the YAML.

Words keep two forms. The fields (``Clause.text``, ``Clause.title`` …) are as written in the rule
file: ``text`` is the verbatim extraction that ``rules lint`` checks against ``source.txt``. The
``display_*`` properties are what firms and officers read: the same words with the extraction's
artefacts removed (line-break spaces inside Chinese, full-width digits, "." for "。"; see
:func:`engine.core.cjk_text.normalise`).
"""

from __future__ import annotations

import bisect
import dataclasses
import datetime as dt
import functools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Union

from engine.core import cjk_text

#: Enumerations of rules/README.md.
CATEGORIES = ("减免", "奖补", "权益", "资质", "服务", "机构职责")
MODES = ("auto_grant", "apply", "inform")
UNITS = ("yuan", "percent", "months", "none")
OPS = ("eq", "ne", "lt", "le", "gt", "ge", "in", "prefix")
GROUP_KINDS = ("all", "any")

#: Periods a cumulative cap may run over (``benefit.cap.per``): the calendar year of the decision.
CAP_PERIODS = ("year",)
#: What a clause with a cap has already granted the firm in the cap's period. Not a firm attribute:
#: evaluators give it per clause (its *own* earlier grants; a cap belongs to its clause), and the
#: loader writes it into the clause's condition and formula from the ``cap`` declaration.
GRANTED = "granted_year"

#: Why a clause may be ``auto_grant`` (``basis.mode.reason``), each with the words one of which its
#: quotation must contain: the clause itself makes the benefit automatic (免申即享, 直接享受, 自动…),
#: or it is a tax reduction a firm takes when it files (免征, 减征 …), or a waiver the clause orders of
#: a state payee, with no application.
MODE_REASONS: dict[str, tuple[str, ...]] = {
    "no_application": ("免申即享", "免申", "直接享受", "自动", "无需申请", "直达"),
    "at_filing": ("免征", "减征", "减免", "减半", "加计扣除", "加速折旧"),
    # The clause itself orders a waiver of what the firm owes a state body (rent of state-owned
    # premises), for a class the data decides, and names no application: the payee applies it.
    "ordered_waiver": ("减免", "免收"),
}
#: Where a date comes from (``basis.valid_from`` / ``basis.valid_to``): words of the text, the
#: document's own date (clauses only), or a note that the text states none (``valid_to`` null).
DATE_SOURCES = ("quote", "document", "unstated")


@dataclasses.dataclass(frozen=True)
class Leaf:
    """One condition ``{attr, op, value}``; ``path`` locates it in the clause (for explanations)."""

    attr: str
    op: str
    value: Any
    path: str
    #: The clause's own words this condition implements (``quote`` in the YAML), shown beside its verdict.
    quote: str | None = None
    #: The clause parameter (``params``) the value is, where it is a number the text states.
    param: str | None = None
    #: Where that parameter is dated: its values by date (``value`` is then None; the value compared
    #: with is the one in force on the judging date, :meth:`threshold`).
    dated: tuple[ParamValue, ...] = ()

    def threshold(self, day: dt.date) -> ParamValue | None:
        """The dated value this condition compares with on ``day`` (None when none holds, or not dated)."""
        return in_force(self.dated, day)


@dataclasses.dataclass(frozen=True)
class Group:
    """An ``all:`` / ``any:`` group of conditions."""

    kind: str
    children: tuple[Condition, ...]
    path: str


Condition = Union[Leaf, Group]


@dataclasses.dataclass(frozen=True)
class Cap:
    """A cumulative cap (``benefit.cap``): the clause grants a firm at most ``amount`` per ``per``."""

    amount: float
    per: str
    #: The words of the source text that set the cap.
    quote: str


@dataclasses.dataclass(frozen=True)
class ParamValue:
    """One value of a parameter and the days it holds, ``since`` to ``until`` (both inclusive; ``until``
    None: to the end of the clause's window), with the words that state it."""

    value: float
    quote: str
    since: dt.date
    until: dt.date | None = None

    def holds(self, day: dt.date) -> bool:
        """Whether this value is the one in force on ``day``."""
        return self.since <= day and (self.until is None or day <= self.until)


def in_force(values: Sequence[ParamValue], day: dt.date) -> ParamValue | None:
    """The value of ``values`` (ascending, not overlapping) in force on ``day``; None when none holds."""
    return next((value for value in values if value.holds(day)), None)


def turns(values: Iterable[ParamValue]) -> list[dt.date]:
    """The days, in order, on which one of ``values`` starts to hold or stops (the day after its ``until``):
    between two of them the values in force do not change."""
    days = set()
    for value in values:
        days.add(value.since)
        if value.until is not None and value.until < dt.date.max:
            days.add(value.until + dt.timedelta(days=1))
    return sorted(days)


@dataclasses.dataclass(frozen=True)
class Param:
    """A number the text states, named, with its words: of a condition (the clause's ``params``) or of a
    benefit formula (``benefit.params``). As OpenFisca's parameters, each value holds from a date: the
    shorthand ``{value, quote}`` is one value from the clause's ``valid_from`` (``dated`` False); the
    dated form a list of ``{from, value, quote}`` (``dated`` True), which explanations show with its date."""

    name: str
    values: tuple[ParamValue, ...]
    dated: bool = False

    def on(self, day: dt.date) -> ParamValue | None:
        """The value in force on ``day`` (None when none holds): :func:`in_force`."""
        return in_force(self.values, day)

    @property
    def value(self) -> float:
        """The value of a parameter written as the shorthand (one value over the whole window)."""
        return self._single().value

    @property
    def quote(self) -> str:
        """The words of a parameter written as the shorthand."""
        return self._single().quote

    def _single(self) -> ParamValue:
        if self.dated:
            raise ValueError(f"parameter {self.name} is dated: ask for its value on a date (Param.on)")
        return self.values[0]


@dataclasses.dataclass(frozen=True)
class ModeBasis:
    """Why a clause is ``auto_grant``: the clause's own words (``quote``) and the kind of reason."""

    quote: str
    reason: str


@dataclasses.dataclass(frozen=True)
class DateBasis:
    """Where a ``valid_from`` / ``valid_to`` comes from: one of :data:`DATE_SOURCES`, its words, a note."""

    source: str
    quote: str | None = None
    note: str | None = None


@dataclasses.dataclass(frozen=True)
class Note:
    """A reading of the text answered in the rule file: the words it rests on and what follows from them."""

    quote: str
    note: str


@dataclasses.dataclass(frozen=True)
class Benefit:
    """What a clause grants; ``formula`` (if any) computes the amount in ``unit``.

    With a ``cap``, ``formula`` is what evaluators run: the declared formula (what the period's
    activity earns) capped and less :data:`GRANTED`, ``max(0, min(<declared>, <cap>) - granted_year)``.
    """

    kind: str
    unit: str
    description: str
    formula: str | None = None
    #: Attribute names the formula reads.
    inputs: frozenset[str] = frozenset()
    cap: Cap | None = None
    #: The formula's numbers, named (the formula above has their values written in).
    params: tuple[Param, ...] = ()
    #: The clause's words making the amount a maximum (不超过, 最高 …): the formula computes the most the
    #: firm may get, not what it gets. None where the clause fixes the amount.
    at_most: str | None = None
    #: Where a parameter is dated (``formula`` then names it): from each day a value changes, the formula
    #: with the values in force written in, None from a day some parameter has no value. Empty: none is.
    schedule: tuple[tuple[dt.date, str | None], ...] = ()

    def formula_on(self, day: dt.date) -> str | None:
        """The formula evaluators run on ``day``: :attr:`formula`, or where a parameter is dated, the formula
        with the values in force on ``day`` written in; None when one has no value then (no amount is given)."""
        if not self.schedule:
            return self.formula
        index = bisect.bisect_right(self.schedule, day, key=lambda entry: entry[0]) - 1
        return self.schedule[index][1] if index >= 0 else None

    @functools.cached_property
    def display_description(self) -> str:
        """The description as firms and officers read it (normalised)."""
        return cjk_text.normalise(self.description)


@dataclasses.dataclass(frozen=True)
class Document:
    """One source document (``document:`` of a rule file)."""

    slug: str
    title: str
    number: str | None
    issuer: str
    jurisdiction: str
    valid_from: dt.date
    valid_to: dt.date | None
    source: str  # the rule file, as shown in error messages (e.g. "rules/yunnan-2022/clauses.yaml")
    #: Where ``valid_from`` and ``valid_to`` come from (``basis.valid_from`` / ``basis.valid_to``).
    from_basis: DateBasis | None = None
    to_basis: DateBasis | None = None
    #: Readings of the text answered in the rule file, each with its quotation.
    notes: tuple[Note, ...] = ()

    @functools.cached_property
    def display_title(self) -> str:
        """The title as firms and officers read it (normalised)."""
        return cjk_text.normalise(self.title)


@dataclasses.dataclass(frozen=True)
class Clause:
    """One clause of a document, with its conditions and benefit."""

    id: str
    cite: str
    slug: str
    title: str
    #: The clause as extracted from the document, verbatim: what quotations are checked against.
    #: Readers see :attr:`display_text`.
    text: str
    category: str
    firm_facing: bool
    mode: str
    agencies: tuple[str, ...]
    jurisdiction: str
    valid_from: dt.date
    valid_to: dt.date | None
    conditions: Condition | None
    benefit: Benefit | None
    needs: tuple[str, ...]
    application: str | None
    #: Short sha256 of the clause's canonical JSON: changes whenever anything in it changes.
    rule_version: str
    #: Judged automatically: firm-facing, with conditions, needing no data outside the profile.
    executable: bool
    #: The clause's own say on SMS (``sms: true|false`` in its YAML); None: the default rule (:attr:`by_sms`).
    sms: bool | None = None
    #: The part of the clause this entry judges, where the clause mixes parts of different modes
    #: (several entries then share the cite); None for a whole clause.
    part: str | None = None
    #: Why the clause is ``auto_grant`` (required of every auto_grant clause); None otherwise.
    mode_basis: ModeBasis | None = None
    #: Where ``valid_from`` and ``valid_to`` come from (``basis.valid_from`` / ``basis.valid_to``).
    from_basis: DateBasis | None = None
    to_basis: DateBasis | None = None
    #: Readings of the text answered in the rule file, each with its quotation.
    notes: tuple[Note, ...] = ()
    #: The last day to apply, where the text states one (``application_deadline: {date, quote}``); None
    #: where it states none. Not ``valid_to``: a window for what qualifies (2022 loans) is no deadline to apply.
    application_deadline: dt.date | None = None
    #: The numbers its conditions compare with (thresholds, dates), named, with their words.
    params: tuple[Param, ...] = ()

    @property
    def by_sms(self) -> bool:
        """Whether a firm is told of this clause by SMS as well as by email. An SMS is worth sending for a
        concrete benefit only: an automatic grant (免申即享), or an application the firm can make
        (快申快享) for a stated benefit. A service or right merely made known (``inform``) goes by email
        and on the firm's page. The clause's ``sms`` key overrides this."""
        if self.sms is not None:
            return self.sms
        return self.mode == "auto_grant" or (self.mode == "apply" and self.benefit is not None)

    @functools.cached_property
    def display_title(self) -> str:
        """The title as firms and officers read it (normalised)."""
        return cjk_text.normalise(self.title)

    @functools.cached_property
    def display_text(self) -> str:
        """The clause's words as firms and officers read them: :attr:`text` normalised."""
        return cjk_text.normalise(self.text)

    @functools.cached_property
    def display_application(self) -> str | None:
        """How to apply, as firms read it (normalised); None where the clause says nothing."""
        return None if self.application is None else cjk_text.normalise(self.application)

    @functools.cached_property
    def dated(self) -> bool:
        """Whether a condition compares with a dated parameter (its verdict then depends on the date
        beyond the window)."""
        return any(leaf.dated for leaf in self.leaves())

    @functools.cached_property
    def changes(self) -> tuple[dt.date, ...]:
        """Days inside the window, after its first, on which a dated parameter of the clause (of a condition
        or of the formula) takes a new value or stops having one: days its firms are judged anew."""
        values = [v for leaf in self.leaves() for v in leaf.dated]
        if self.benefit is not None:
            values += [v for param in self.benefit.params if param.dated for v in param.values]
        return tuple(d for d in turns(values) if self.valid_from < d and (self.valid_to is None or d <= self.valid_to))

    def leaves(self) -> Iterator[Leaf]:
        """Every leaf condition, in document order."""
        if self.conditions is not None:
            yield from iter_leaves(self.conditions)

    # Cached: evaluators ask for every clause on every evaluation (works on a frozen dataclass,
    # which forbids setattr but leaves the instance __dict__ to cached_property).
    @functools.cached_property
    def reads(self) -> tuple[str, ...]:
        """Attribute names the conditions and the formula read, plus region (sorted)."""
        names = {leaf.attr for leaf in self.leaves()} | {"region"}
        if self.benefit is not None:
            names |= self.benefit.inputs
        return tuple(sorted(names))

    @functools.cached_property
    def window(self) -> Mapping[str, str | None]:
        """The validity window as ISO dates: ``{"from": ..., "to": ... or None}`` (copy before changing)."""
        return {"from": self.valid_from.isoformat(), "to": self.valid_to.isoformat() if self.valid_to else None}

    def attributes_read(self) -> frozenset[str]:
        """Attribute names the conditions and the formula read (region for the jurisdiction)."""
        return frozenset(self.reads)

    def accumulators(self) -> frozenset[str]:
        """The per-clause grant totals this clause reads: :data:`GRANTED` if it declares a cap."""
        return frozenset({GRANTED}) if self.cap is not None else frozenset()

    @property
    def cap(self) -> Cap | None:
        """The clause's cumulative cap, if its benefit declares one."""
        return self.benefit.cap if self.benefit is not None else None

    def in_window(self, as_of: dt.date) -> bool:
        """Whether ``as_of`` lies in [valid_from, valid_to] (both inclusive; open end if None)."""
        return self.valid_from <= as_of and (self.valid_to is None or as_of <= self.valid_to)


@dataclasses.dataclass(frozen=True)
class Catalogue:
    """Every document and clause, in file then document order."""

    documents: tuple[Document, ...]
    clauses: tuple[Clause, ...]

    # Cached like Clause.reads: matchers ask for these per firm, and a backfill judges millions.
    @functools.cached_property
    def by_id(self) -> Mapping[str, Clause]:
        return {clause.id: clause for clause in self.clauses}

    @functools.cached_property
    def _firm_facing(self) -> tuple[Clause, ...]:
        return tuple(c for c in self.clauses if c.firm_facing)

    def firm_facing(self) -> tuple[Clause, ...]:
        return self._firm_facing

    @functools.cached_property
    def accumulating(self) -> Mapping[str, frozenset[str]]:
        """Firm-facing clause id → the grant accumulators it reads (only clauses reading one)."""
        return {c.id: c.accumulators() for c in self.firm_facing() if c.accumulators()}

    def executable(self) -> tuple[Clause, ...]:
        return tuple(c for c in self.clauses if c.executable)


def iter_leaves(node: Condition) -> Iterator[Leaf]:
    """Leaves of a condition tree, depth first, in order."""
    if isinstance(node, Leaf):
        yield node
    else:
        for child in node.children:
            yield from iter_leaves(child)
