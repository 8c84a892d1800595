"""Statistics per clause, per document and per region (city level), rolled up from the read model's
aggregates (ConsoleReadModel.stat_counts).

Definitions (shown on the page too):
- matches: `met` decisions, not counting those an operator rejected at the 二次确认 gate;
- amount: the sum of those decisions' computed amounts;
- notices by their current status: *sent* counts every notice a provider accepted (sent,
  delivered, undelivered), *delivered* the receipts that said so, *failed* the ones waiting to be
  retried or reported undelivered, *dead* the ones given up.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from engine.console import labels
from engine.console.read_model import ConsoleReadModel
from engine.core.scopes import Scope

#: Notice status → the columns it counts in.
BUCKETS = {
    "sent": ("sent",), "delivered": ("sent", "delivered"), "undelivered": ("sent", "failed"),
    "failed": ("failed",), "dead": ("dead",),
}
UNKNOWN_REGION = "未知地区"


@dataclasses.dataclass
class StatRow:
    """One line of a statistics table."""

    key: str
    label: str
    #: A shorter label for charts (the table shows `label`).
    short: str = ""
    matches: int = 0
    amount: Decimal = Decimal(0)
    sent: int = 0
    delivered: int = 0
    failed: int = 0
    dead: int = 0

    def add_notices(self, state: str, n: int) -> None:
        for column in BUCKETS.get(state, ()):
            setattr(self, column, getattr(self, column) + n)

    def absorb(self, other: StatRow) -> None:
        self.matches += other.matches
        self.amount += other.amount
        for column in ("sent", "delivered", "failed", "dead"):
            setattr(self, column, getattr(self, column) + getattr(other, column))


@dataclasses.dataclass(frozen=True)
class Stats:
    """The three tables, each sorted by matches then key, with a total line."""

    clauses: list[StatRow]
    documents: list[StatRow]
    regions: list[StatRow]
    total: StatRow


def _amount(value: Any) -> Decimal:
    return Decimal(str(value)) if value is not None else Decimal(0)


def _ordered(rows: Iterable[StatRow]) -> list[StatRow]:
    return sorted(rows, key=lambda r: (-r.matches, -r.sent, r.key))


def _document_of(clause_id: str, catalogue: Any) -> str:
    clause = catalogue.by_id.get(clause_id) if catalogue is not None else None
    return clause.slug if clause is not None else clause_id.rsplit("-", 1)[0]


def _region_key(prefix: str | None) -> str:
    return f"{prefix}00" if prefix else ""


def _region_row(key: str) -> StatRow:
    """A city's line: its name and code (the chart shows the name alone)."""
    name = labels.region_name(key)
    return StatRow(key, f"{name}（{key}）" if name else key or UNKNOWN_REGION, name or key or UNKNOWN_REGION)


async def collect(reads: ConsoleReadModel, catalogue: Any, scope: Scope) -> Stats:
    """Read the aggregates of the firms in `scope` and roll clauses up into documents."""
    counts = await reads.stat_counts(scope=scope)

    by_id = catalogue.by_id if catalogue is not None else {}
    clauses: dict[str, StatRow] = {}

    def clause_row(clause_id: str, cite: str | None = None) -> StatRow:
        if clause_id not in clauses:
            known = by_id.get(clause_id)
            label = f"{known.cite} {known.display_title}" if known else (cite or clause_id)
            clauses[clause_id] = StatRow(clause_id, label, known.cite if known else (cite or clause_id))
        return clauses[clause_id]

    for clause_id, cite, n, amount in counts.granted_by_clause:
        row = clause_row(clause_id, cite)
        row.matches += n
        row.amount += _amount(amount)
    for clause_id, state, n in counts.notices_by_clause:
        clause_row(clause_id).add_notices(state, n)

    titles = {d.slug: d.display_title for d in catalogue.documents} if catalogue is not None else {}
    documents: dict[str, StatRow] = {}
    for row in clauses.values():
        slug = _document_of(row.key, catalogue)
        documents.setdefault(slug, StatRow(slug, f"{titles[slug]}（{slug}）" if slug in titles else slug, slug)).absorb(row)

    regions: dict[str, StatRow] = {}
    for prefix, n, amount in counts.granted_by_city:
        key = _region_key(prefix)
        row = regions.setdefault(key, _region_row(key))
        row.matches += n
        row.amount += _amount(amount)
    for prefix, state, n in counts.notices_by_city:
        key = _region_key(prefix)
        regions.setdefault(key, _region_row(key)).add_notices(state, n)

    total = StatRow("", "合计")
    for row in clauses.values():
        total.absorb(row)
    return Stats(_ordered(clauses.values()), _ordered(documents.values()), _ordered(regions.values()), total)
