"""Statistics an officer reports with, rolled up from the read model's aggregates
(ConsoleReadModel.stat_counts): per clause, document, responsible agency, city and county, per
month, and the reach funnel.

Definitions (shown on the page too):
- matches: `met` decisions, not counting those an operator rejected at the 二次确认 gate;
- amount: the sum of those decisions' computed amounts;
- notices by their current status, each counted in exactly one column (NOTICE_COLUMN): 已送达,
  已发送待回执 (accepted by the provider, no receipt yet), 发送失败 (to be retried, or reported
  undelivered), 已终止 (given up), 待发送 (pending, deferred, sending, waiting for contact details,
  held for an operator) and 按规则未发送 (skipped: the firm opted out, or the benefit stopped applying);
- months are China months of when the decision, notice or firm's answer was recorded;
- the funnel counts matches: all of them, those with a notice the provider accepted, those with a
  notice delivered, and those the firm confirmed on its page (its latest answer).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import Any

from engine.console import labels
from engine.console.read_model import ConsoleReadModel
from engine.core.notice_status import NoticeStatus
from engine.core.scopes import Scope

S = NoticeStatus
#: The notice columns, in the order shown, with their headings.
NOTICE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("delivered", "已送达"), ("sent", "已发送待回执"), ("failed", "发送失败"), ("dead", "已终止"),
    ("waiting", "待发送"), ("skipped", "按规则未发送"),
)
#: Notice status → its column. Every status has one (tests/console/test_stats.py holds this to
#: engine.core.notice_status), so no notice is left out of the totals.
NOTICE_COLUMN: Mapping[str, str] = {
    S.DELIVERED: "delivered", S.SENT: "sent", S.UNDELIVERED: "failed", S.FAILED: "failed", S.DEAD: "dead",
    S.PENDING: "waiting", S.DEFERRED: "waiting", S.SENDING: "waiting", S.WAITING: "waiting", S.HELD: "waiting",
    S.SKIPPED: "skipped",
}
#: Where a status the table does not know is counted: not yet settled, so still to be sent.
UNKNOWN_COLUMN = "waiting"
UNKNOWN_REGION = "未知地区"
UNKNOWN_AGENCY = "未列明责任部门"
#: The steps of the reach funnel.
FUNNEL_STEPS = ("符合判定", "已通知（服务商已受理）", "已送达", "企业已确认")


def notice_column(status: str) -> str:
    """The column a notice in `status` is counted in."""
    return NOTICE_COLUMN.get(status, UNKNOWN_COLUMN)


def _zero() -> dict[str, int]:
    return {column: 0 for column, _ in NOTICE_COLUMNS}


@dataclasses.dataclass
class StatRow:
    """One line of a statistics table: `label` is the full name shown in the table and the chart."""

    key: str
    label: str
    matches: int = 0
    amount: Decimal = Decimal(0)
    notices: dict[str, int] = dataclasses.field(default_factory=_zero)
    #: Granted decisions confirmed by their firms (monthly rows only).
    confirmed: int = 0

    @property
    def notice_total(self) -> int:
        return sum(self.notices.values())

    def add_notices(self, status: str, n: int) -> None:
        self.notices[notice_column(status)] += n

    def absorb(self, other: StatRow) -> None:
        self.matches += other.matches
        self.amount += other.amount
        self.confirmed += other.confirmed
        for column, n in other.notices.items():
            self.notices[column] += n


@dataclasses.dataclass(frozen=True)
class FunnelStep:
    """One step of the reach funnel, with its share of the matches and of the step before."""

    label: str
    count: int
    of_matches: Decimal | None
    of_previous: Decimal | None


@dataclasses.dataclass(frozen=True)
class Stats:
    """Every table (sorted by matches, then amount, then key) with a total line; months in order."""

    clauses: list[StatRow]
    documents: list[StatRow]
    agencies: list[StatRow]
    cities: list[StatRow]
    counties: list[StatRow]
    months: list[StatRow]
    funnel: list[FunnelStep]
    total: StatRow

    def table(self, name: str) -> list[StatRow]:
        """A table by its section id (clause, document, agency, city, county, month)."""
        return {"clause": self.clauses, "document": self.documents, "agency": self.agencies, "city": self.cities,
                "county": self.counties, "month": self.months}[name]


def _amount(value: Any) -> Decimal:
    return Decimal(str(value)) if value is not None else Decimal(0)


def _ordered(rows: Iterable[StatRow]) -> list[StatRow]:
    return sorted(rows, key=lambda r: (-r.matches, -r.amount, -r.notice_total, r.key))


def by_amount(rows: Iterable[StatRow]) -> list[StatRow]:
    """The rows with an amount, largest first (what the amounts chart shows)."""
    return sorted((r for r in rows if r.amount), key=lambda r: (-r.amount, r.key))


def _share(part: int, whole: int) -> Decimal | None:
    return (Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.1")) if whole else None


def funnel(counts: tuple[int, int, int, int]) -> list[FunnelStep]:
    """The funnel's steps with their shares (None where the share would divide by nothing)."""
    steps = []
    for index, (label, count) in enumerate(zip(FUNNEL_STEPS, counts, strict=True)):
        steps.append(FunnelStep(label, count, _share(count, counts[0]), _share(count, counts[index - 1]) if index else None))
    return steps


def _region_row(code: str) -> StatRow:
    name = labels.region_name(code)
    return StatRow(code, f"{name}（{code}）" if name else code or UNKNOWN_REGION)


def _roll_up(rows: Iterable[StatRow], keys_of: Callable[[StatRow], Iterable[str]], make: Callable[[str], StatRow]) -> list[StatRow]:
    """Rows summed into groups; a row with several keys counts in each of them."""
    groups: dict[str, StatRow] = {}
    for row in rows:
        for key in keys_of(row):
            if key not in groups:
                groups[key] = make(key)
            groups[key].absorb(row)
    return _ordered(groups.values())


def _months(first: str, last: str) -> list[str]:
    """Every month from `first` to `last` ("YYYY-MM"), so the time axis has no gaps."""
    year, month = int(first[:4]), int(first[5:7])
    out = []
    while f"{year:04d}-{month:02d}" <= last:
        out.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return out


async def collect(reads: ConsoleReadModel, catalogue: Any, scope: Scope) -> Stats:
    """Read the aggregates of the firms in `scope` and roll them up."""
    counts = await reads.stat_counts(scope=scope)
    by_id = catalogue.by_id if catalogue is not None else {}
    documents = {d.slug: d for d in catalogue.documents} if catalogue is not None else {}
    clauses: dict[str, StatRow] = {}

    def clause_row(clause_id: str, cite: str | None = None) -> StatRow:
        if clause_id not in clauses:
            known = by_id.get(clause_id)
            clauses[clause_id] = StatRow(clause_id, f"{known.cite} {known.display_title}" if known else (cite or clause_id))
        return clauses[clause_id]

    for clause_id, cite, n, amount in counts.granted_by_clause:
        row = clause_row(clause_id, cite)
        row.matches += n
        row.amount += _amount(amount)
    for clause_id, status, n in counts.notices_by_clause:
        clause_row(clause_id).add_notices(status, n)

    def slug_of(row: StatRow) -> list[str]:
        known = by_id.get(row.key)
        return [known.slug if known else row.key.rsplit("-", 1)[0]]

    def agencies_of(row: StatRow) -> list[str]:
        known = by_id.get(row.key)
        if known is None:
            return [UNKNOWN_AGENCY]
        document = documents.get(known.slug)
        return list(dict.fromkeys(known.agencies)) or ([document.issuer] if document is not None else [UNKNOWN_AGENCY])

    def document_row(slug: str) -> StatRow:
        document = documents.get(slug)
        return StatRow(slug, f"{document.display_title}（{slug}）" if document is not None else slug)

    counties: dict[str, StatRow] = {}
    for region, n, amount in counts.granted_by_region:
        row = counties.setdefault(region or "", _region_row(region or ""))
        row.matches += n
        row.amount += _amount(amount)
    for region, status, n in counts.notices_by_region:
        counties.setdefault(region or "", _region_row(region or "")).add_notices(status, n)

    months: dict[str, StatRow] = {}

    def month_row(month: str) -> StatRow:
        return months.setdefault(month, StatRow(month, f"{month[:4]}年{int(month[5:7])}月"))

    for month, n, amount in counts.granted_by_month:
        month_row(month).matches += n
        month_row(month).amount += _amount(amount)
    for month, status, n in counts.notices_by_month:
        month_row(month).add_notices(status, n)
    for month, n in counts.confirmed_by_month:
        month_row(month).confirmed += n
    if months:
        for month in _months(min(months), max(months)):
            month_row(month)

    total = StatRow("", "合计")
    for row in clauses.values():
        total.absorb(row)
    total.confirmed = counts.funnel[3]
    return Stats(
        clauses=_ordered(clauses.values()),
        documents=_roll_up(clauses.values(), slug_of, document_row),
        agencies=_roll_up(clauses.values(), agencies_of, lambda name: StatRow(name, name)),
        cities=_roll_up(counties.values(), lambda r: [f"{r.key[:4]}00" if r.key else ""], _region_row),
        counties=_ordered(counties.values()),
        months=[months[m] for m in sorted(months)],
        funnel=funnel(counts.funnel),
        total=total,
    )
