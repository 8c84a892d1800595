"""What a backfill found: counts by clause, region and status, amounts, and the notices it causes.

A :class:`Tally` is filled per batch (in the worker process that judged it) and merged in the
parent, so only counters cross process boundaries. The same tally is printed for a dry run
(what *would* happen) and a real run (what did).
"""

from __future__ import annotations

import collections
import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

from engine.backfill import store
from engine.core import matching, regions
from engine.judging import firm_input, judge
from engine.notices import notice_rules

MET, NOT_MET, UNKNOWN = matching.Verdict.MET, matching.Verdict.NOT_MET, matching.Verdict.UNKNOWN

# Verdict.value goes through the enum descriptor; this lookup is several times cheaper per outcome.
_VALUE = {v: v.value for v in matching.Verdict}

#: Columns per clause: the outcomes in scope, then how many differ from what is stored.
CLAUSE_COLUMNS = ("met", "unknown", "not_met", "changed", "newly_met", "no_longer_met")


def city_of(region: Any) -> str:
    """The prefecture-level code of a county (``140212`` → ``140200``); ``unknown`` without one."""
    if not isinstance(region, str) or len(region) != 6:
        return "unknown"
    return region[:4] + "00"


STATUSES = ("met", "unknown", "not_met")


@dataclasses.dataclass
class Tally:
    """Mergeable counters over the firms and clauses a backfill judged.

    Counts are kept in flat counters keyed by tuples, so a firm's outcomes are added with one
    C-level ``Counter.update`` rather than an increment per outcome (a province's dry run counts
    tens of millions of outcomes); :attr:`by_clause`, :attr:`by_region` and :attr:`by_status`
    give the nested views.
    """

    firms: int = 0
    firms_changed: int = 0
    #: (clause id, one of CLAUSE_COLUMNS) → outcomes.
    clause_counts: collections.Counter[tuple[str, str]] = dataclasses.field(default_factory=collections.Counter)
    #: Sum of the amounts of ``met`` outcomes per clause (yuan, or the clause's unit).
    amounts: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    #: (city code, "firms", a status or "changed") → count.
    region_counts: collections.Counter[tuple[str, str]] = dataclasses.field(default_factory=collections.Counter)
    #: Notices the changes create, per channel (a dry run subtracts those that already exist).
    notices: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    #: New ``met`` decisions held for 二次确认 instead of notifying.
    pending_approval: int = 0
    #: Real runs only: what the transactions stored, and firms skipped because they moved meanwhile.
    recorded: int = 0
    notices_created: int = 0
    recorded_pending: int = 0
    skipped_firms: int = 0
    #: Real runs only: decisions recorded per clause.
    recorded_by_clause: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)

    def count_firm(
        self,
        firm: firm_input.FirmInput,
        outcomes: Iterable[judge.Outcome],
        judged: judge.Judge,
        batch: store.Batch,
    ) -> None:
        """Add one firm's outcomes (and, for changed ``met`` outcomes, the notices they would create)."""
        self.firms += 1
        city = city_of(firm.fields.get("region"))
        counted: list[tuple[str, str]] = []
        in_region: list[tuple[str, str]] = [(city, "firms")]
        channels: list[str] = []
        told, gated, changes = batch.told, batch.gated, 0
        for outcome in outcomes:
            clause_id, status, amount, in_scope, changed, prior = outcome
            if in_scope:
                text = _VALUE[status]
                counted.append((clause_id, text))
                in_region.append((city, text))
                if status is MET and amount is not None:
                    self.amounts[clause_id] += amount
            if not changed:
                continue
            changes += 1
            counted.append((clause_id, "changed"))
            was_met = prior is not None and prior.status is MET
            if status is MET and not was_met:
                counted.append((clause_id, "newly_met"))
            elif was_met and status is not MET:
                counted.append((clause_id, "no_longer_met"))
            keys = notice_keys(outcome, judged.periods, judged.by_id[clause_id].by_sms)
            if keys and clause_id in gated:
                self.pending_approval += 1
            elif keys:
                cumulative = judged.by_id[clause_id].cap is not None
                channels += [
                    channel for channel, period in keys
                    if notice_rules.announcement(amount, cumulative, told.get((firm.uscc, clause_id, channel, period))) is not None
                ]
        if changes:
            in_region += [(city, "changed")] * changes
            self.firms_changed += 1
        self.clause_counts.update(counted)
        self.region_counts.update(in_region)
        if channels:
            self.notices.update(channels)

    def merge(self, other: Tally) -> None:
        """Add another tally's counts to this one."""
        self.firms += other.firms
        self.firms_changed += other.firms_changed
        self.clause_counts.update(other.clause_counts)
        self.region_counts.update(other.region_counts)
        self.amounts.update(other.amounts)
        self.notices.update(other.notices)
        self.pending_approval += other.pending_approval
        self.recorded += other.recorded
        self.notices_created += other.notices_created
        self.recorded_pending += other.recorded_pending
        self.skipped_firms += other.skipped_firms
        self.recorded_by_clause.update(other.recorded_by_clause)

    @property
    def by_clause(self) -> dict[str, collections.Counter[str]]:
        """Clause id → counts by column (CLAUSE_COLUMNS)."""
        return _nested(self.clause_counts)

    @property
    def by_region(self) -> dict[str, collections.Counter[str]]:
        """City code → firms, outcomes in scope by status, and changes."""
        return _nested(self.region_counts)

    @property
    def by_status(self) -> collections.Counter[str]:
        """Outcomes in scope by status, over all clauses."""
        totals: collections.Counter[str] = collections.Counter()
        for (_clause_id, column), count in self.clause_counts.items():
            if column in STATUSES:
                totals[column] += count
        return totals

    def changes(self) -> int:
        """Decisions that differ from what is stored (a real run records them)."""
        return sum(count for (_clause_id, column), count in self.clause_counts.items() if column == "changed")

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (``--json``)."""
        return {
            "firms": self.firms,
            "firms_changed": self.firms_changed,
            "changes": self.changes(),
            "by_status": dict(self.by_status),
            "by_clause": {k: {c: v[c] for c in CLAUSE_COLUMNS} | {"amount": round(self.amounts[k], 2)}
                          for k, v in sorted(self.by_clause.items())},
            "by_region": {k: dict(v) for k, v in sorted(self.by_region.items())},
            "notices": dict(self.notices),
            "pending_approval": self.pending_approval,
            "recorded": self.recorded,
            "notices_created": self.notices_created,
            "recorded_pending": self.recorded_pending,
            "skipped_firms": self.skipped_firms,
        }


def _nested(flat: collections.Counter[tuple[str, str]]) -> dict[str, collections.Counter[str]]:
    nested: dict[str, collections.Counter[str]] = {}
    for (outer, inner), count in flat.items():
        nested.setdefault(outer, collections.Counter())[inner] += count
    return nested


def render(tally: Tally, *, dry_run: bool, cites: dict[str, str]) -> str:
    """The preview (or the report of a real run) as plain-text tables."""
    if dry_run:
        notices = (", ".join(f"{c} {n:,}" for c, n in sorted(tally.notices.items())) or "none") \
            + f"; held for 二次确认: {tally.pending_approval:,}"
    else:
        notices = f"{tally.notices_created:,}; held for 二次确认: {tally.recorded_pending:,}"
    lines = [
        f"firms judged: {tally.firms:,}; firms whose decisions change: {tally.firms_changed:,}",
        "outcomes in scope: " + ", ".join(f"{s} {tally.by_status[s]:,}" for s in ("met", "unknown", "not_met")),
        f"decisions that change: {tally.changes():,}"
        + ("" if dry_run else f" (recorded {tally.recorded:,}; firms skipped because they moved meanwhile: {tally.skipped_firms:,})"),
        f"notices {'that would be created' if dry_run else 'created'}: {notices}",
        f"total amount of met outcomes: {sum(tally.amounts.values()):,.2f}",
        "",
        "by clause:",
        _table(
            ("clause", *CLAUSE_COLUMNS, "amount"),
            [
                (cites.get(clause_id, clause_id), *(f"{counts[c]:,}" for c in CLAUSE_COLUMNS), f"{tally.amounts[clause_id]:,.2f}")
                for clause_id, counts in sorted(tally.by_clause.items())
                if any(counts[c] for c in CLAUSE_COLUMNS)
            ],
        ),
        "",
        "by region (city):",
        _table(
            ("region", "name", "firms", "met", "unknown", "not_met", "changed"),
            [
                (code, _region_name(code), *(f"{counts[c]:,}" for c in ("firms", "met", "unknown", "not_met", "changed")))
                for code, counts in sorted(tally.by_region.items())
            ],
            left=2,
        ),
    ]
    return "\n".join(lines)


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]], left: int = 1) -> str:
    """Columns padded to their widest cell; the first ``left`` are text (left-aligned), the rest numbers."""
    if not rows:
        return "  (none)"
    widths = [max(_width(row[i]) for row in (header, *rows)) for i in range(len(header))]
    out = []
    for row in (header, *rows):
        cells = [
            cell + " " * (width - _width(cell)) if i < left else " " * (width - _width(cell)) + cell
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        out.append("  " + "  ".join(cells).rstrip())
    return "\n".join(out)


def _region_name(code: str) -> str:
    return (regions.region_name(code) or "") if code != "unknown" else ""


def _width(text: str) -> int:
    """Display width: CJK characters take two columns in a terminal."""
    return sum(2 if ord(ch) > 0x2E7F else 1 for ch in text)


def notice_keys(outcome: judge.Outcome, periods: Mapping[str, str], by_sms: bool = True) -> list[tuple[str, str]]:
    """(channel, period) of the notices recording ``outcome`` would create (notice_rules.notice_keys)."""
    if outcome.status != matching.Verdict.MET:
        return []
    return notice_rules.notice_keys_of(outcome.status, outcome.amount, periods[outcome.clause_id], by_sms)
