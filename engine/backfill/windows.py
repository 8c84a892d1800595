"""Clause windows that open or close as the days pass: which ones did since the last check, and what to do.

A clause is judged only inside its window ([valid_from, valid_to]). The pipeline judges a firm as of
the day of each event, so a firm whose facts all arrived before a window opened (a measure published
now that takes effect next month, a document replayed after the events) is never judged under it by
the pipeline alone. These pure rules say, for a catalogue and a day, which windows opened and closed
since the day last checked, and which openings are due to be judged (:mod:`engine.backfill.opening`
runs them).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Collection, Iterable

from engine.judging.catalogue import model

OPENS = "opens"
CLOSES = "closes"
#: A dated parameter of the clause takes a new value on the day (or stops having one): every firm is
#: judged again under it as of that day, those already judged included (their amount or verdict may change).
CHANGES = "changes"

#: One opening: the clause and the first day of its window.
Opening = tuple[str, dt.date]


@dataclasses.dataclass(frozen=True, order=True)
class Change:
    """A window boundary: clause ``clause_id``'s window opens on ``on`` (its first day, ``valid_from``), or
    closes on ``on`` (the day after ``valid_to``: the first day the clause is no longer in force), or a
    dated parameter of it changes value on ``on`` (:attr:`model.Clause.changes`)."""

    on: dt.date
    kind: str
    clause_id: str


@dataclasses.dataclass(frozen=True)
class Due:
    """What a check finds to do.

    ``judge``: per opening day, the clauses to judge every firm against as of that day (their window
    is open today). ``lapsed``: openings found only after their window had closed again (the service
    was down all that time): nothing is judged or pushed under them, and they count as handled.
    ``closed``: windows that closed since the last check (for the log; nothing is pushed under them
    any more, see ``engine.notices.notice_rules.held``).
    """

    judge: dict[dt.date, frozenset[str]]
    lapsed: tuple[Opening, ...]
    closed: tuple[Change, ...]
    #: Per day a dated parameter changes, the clauses to judge every firm against again as of that day
    #: (those with a decision on the clause too). Handled and lapsed as openings are.
    rejudge: dict[dt.date, frozenset[str]] = dataclasses.field(default_factory=dict)

    @property
    def openings(self) -> list[Opening]:
        """Every opening to judge, by day then clause."""
        return sorted((clause_id, day) for day, clause_ids in self.judge.items() for clause_id in clause_ids)


def boundaries(clauses: Iterable[model.Clause]) -> list[Change]:
    """Every opening and closing of the given clauses' windows, in date order."""
    found = []
    for clause in clauses:
        found.append(Change(clause.valid_from, OPENS, clause.id))
        if clause.valid_to is not None and clause.valid_to < dt.date.max:
            found.append(Change(clause.valid_to + dt.timedelta(days=1), CLOSES, clause.id))
        found += [Change(day, CHANGES, clause.id) for day in clause.changes]
    return sorted(found)


def between(catalogue: model.Catalogue, after: dt.date, through: dt.date) -> list[Change]:
    """The firm-facing clauses' window boundaries on a day in ``(after, through]``: what changed since
    ``after`` was checked, as of ``through``."""
    return [change for change in boundaries(catalogue.firm_facing()) if after < change.on <= through]


def upcoming(catalogue: model.Catalogue, today: dt.date, days: int) -> list[Change]:
    """Window boundaries from ``today`` (included) to ``days`` days later: what an operator should expect."""
    return [change for change in boundaries(catalogue.firm_facing())
            if today <= change.on <= today + dt.timedelta(days=days)]


def due(
    catalogue: model.Catalogue, checked_through: dt.date | None, today: dt.date, handled: Collection[Opening]
) -> Due:
    """What a check on ``today`` has to do, given the last day fully checked (None: never) and the
    openings already handled.

    Never checked: nothing (the service starts watching from today; windows already open are the
    pipeline's and an operator's backfill's business, see docs/backfill.md). Otherwise each window
    that opened in ``(checked_through, today]`` and is not handled yet: judged as of its first day if
    it is still open today, else lapsed. An opening handled before is never judged again, so a
    check interrupted half-way redoes only what it had not finished.
    """
    if checked_through is None or today <= checked_through:
        return Due({}, (), ())
    handled = frozenset(handled)
    by_id = catalogue.by_id
    judge: dict[dt.date, set[str]] = {}
    rejudge: dict[dt.date, set[str]] = {}
    lapsed: list[Opening] = []
    closed: list[Change] = []
    for change in between(catalogue, checked_through, today):
        if change.kind == CLOSES:
            closed.append(change)
            continue
        if (change.clause_id, change.on) in handled:
            continue
        if by_id[change.clause_id].in_window(today):
            (judge if change.kind == OPENS else rejudge).setdefault(change.on, set()).add(change.clause_id)
        else:
            lapsed.append((change.clause_id, change.on))
    return Due({day: frozenset(ids) for day, ids in sorted(judge.items())}, tuple(lapsed), tuple(closed),
               {day: frozenset(ids) for day, ids in sorted(rejudge.items())})
