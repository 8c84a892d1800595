"""What the console reads, as one interface: the match log, decisions, firms, clause counts, the
figures behind the statistics and the home page, and the audit trail.

The console never queries tables itself; it asks a `ConsoleReadModel` (the SQL one is
connectors/sql_console.py, set on the app as `READ_MODEL` by the app factory). Nothing here writes.
Lists are ordered by id, newest first, which is stable under concurrent inserts for keyset
batches (the CSV export) and good enough for offset pages (new rows push old ones down a page,
they never reorder them). The value types the pages and templates use live here too, as plain
dataclasses, so any implementation returns the same things.
"""

from __future__ import annotations

import abc
import dataclasses
import datetime
import math
import re
from collections.abc import AsyncGenerator, Mapping, Sequence
from decimal import Decimal
from typing import Any

from aiohttp import web

from engine import audit, constants
from engine.core import matching
from engine.core.scopes import Scope

PAGE_SIZE = 50
#: Rows per database round trip when streaming the CSV export.
CSV_BATCH = 500
#: Audit entries per read when the chain is verified.
VERIFY_BATCH = 1000

VERDICTS = tuple(v.value for v in matching.Verdict)
APPROVALS = ("none", "pending", "approved", "rejected")


@dataclasses.dataclass(frozen=True)
class Page:
    """One page of a list: the rows, which page it is and how many rows match in all."""

    items: Sequence[Any]
    number: int
    size: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.size))

    @property
    def has_prev(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number < self.pages


_PAGE = re.compile(r"[0-9]{1,20}")


def page_number(query: Mapping[str, str]) -> int:
    """The ?page= parameter (1 when absent or empty). Anything but a whole number from 1 to
    constants.MAX_PAGE is a 400 naming the value: a link that says "page -1" or "page x" is broken,
    and showing page 1 instead would hide that; an offset past MAX_PAGE would overflow the database's
    integers."""
    text = query.get("page", "").strip()
    if not text:
        return 1
    shown = text if len(text) <= 30 else text[:30] + "…"
    if not _PAGE.fullmatch(text) or int(text) < 1:
        raise web.HTTPBadRequest(text=f"页码应为 1 到 {constants.MAX_PAGE} 之间的整数，而不是“{shown}”。")
    number = int(text)
    if number > constants.MAX_PAGE:
        raise web.HTTPBadRequest(text=f"页码超出范围（最大为 {constants.MAX_PAGE}）：{shown}。")
    return number


def _date(text: str, label: str, errors: list[str]) -> datetime.date | None:
    if not text:
        return None
    try:
        return datetime.date.fromisoformat(text)
    except ValueError:
        errors.append(f"{label}格式应为 YYYY-MM-DD：{text}")
        return None


@dataclasses.dataclass(frozen=True)
class DecisionFilters:
    """The match log's filters, as given in the query string (empty means "any").

    `firm` matches a part of the USCC or the firm's name; `document` a document's slug (the start
    of the cite); `region` a prefix of the county code. The tables do not hold a clause's mode, so
    a `mode` filter needs the clauses of that mode from the catalogue: `for_catalogue` fills
    `mode_clauses`, and a read model refuses a mode filter without them."""

    firm: str = ""
    clause: str = ""
    document: str = ""
    region: str = ""
    status: str = ""
    mode: str = ""
    approval: str = ""
    date_from: datetime.date | None = None
    date_to: datetime.date | None = None
    mode_clauses: frozenset[str] | None = None

    @classmethod
    def parse(cls, query: Mapping[str, str]) -> tuple[DecisionFilters, list[str]]:
        """Filters from a query string, and the problems found (in Chinese); bad values are ignored."""
        errors: list[str] = []
        text = {key: query.get(key, "").strip() for key in ("firm", "clause", "document", "region", "status", "mode", "approval")}
        if text["status"] and text["status"] not in VERDICTS:
            errors.append(f"未知的判定结果：{text['status']}")
            text["status"] = ""
        if text["approval"] and text["approval"] not in APPROVALS:
            errors.append(f"未知的审批状态：{text['approval']}")
            text["approval"] = ""
        if text["region"] and not text["region"].isdigit():
            errors.append(f"地区代码应为数字前缀：{text['region']}")
            text["region"] = ""
        since = _date(query.get("from", "").strip(), "起始日期", errors)
        until = _date(query.get("to", "").strip(), "截止日期", errors)
        return cls(**text, date_from=since, date_to=until), errors

    def for_catalogue(self, catalogue: Any) -> DecisionFilters:
        """These filters with the mode resolved to the catalogue's clauses of that mode (none
        without a catalogue)."""
        if not self.mode:
            return self
        ids = frozenset(c.id for c in catalogue.clauses if c.mode == self.mode) if catalogue is not None else frozenset()
        return dataclasses.replace(self, mode_clauses=ids)

    def as_query(self) -> dict[str, str]:
        """The non-empty filters as query parameters (for pagination and export links)."""
        plain = ("firm", "clause", "document", "region", "status", "mode", "approval")
        values = {**{name: getattr(self, name) for name in plain},
                  "from": self.date_from.isoformat() if self.date_from else "",
                  "to": self.date_to.isoformat() if self.date_to else ""}
        return {key: value for key, value in values.items() if value}


@dataclasses.dataclass(frozen=True)
class PendingPage(Page):
    """A page of decisions waiting for 二次确认; `newest` is the highest matching id (None when
    none match), which bounds an action on "all matching" to what the operator saw counted."""

    newest: int | None = None


@dataclasses.dataclass(frozen=True)
class PendingFilters:
    """The approvals list's filters: a clause id and a region prefix (2, 4 or 6 digits); empty
    means "any". Checking them is the page's business (engine.console.approval_pages)."""

    clause: str = ""
    region: str = ""

    def as_query(self) -> dict[str, str]:
        """The non-empty filters as query parameters (for pagination links and redirects)."""
        return {key: value for key, value in dataclasses.asdict(self).items() if value}


@dataclasses.dataclass(frozen=True)
class DecisionRow:
    """One line of the match log (`mobile` and `email` are filled for the CSV export only)."""

    id: int
    created_at: datetime.datetime
    as_of: datetime.date
    uscc: str
    firm_name: str | None
    region: str | None
    clause_id: str
    cite: str
    status: str
    amount: Decimal | None
    approval: str | None
    mobile: str | None = None
    email: str | None = None


@dataclasses.dataclass(frozen=True)
class DecisionDetail:
    """Everything stored on one decision, with the firm's name and region (UTC times)."""

    id: int
    uscc: str
    firm_name: str | None
    region: str | None
    clause_id: str
    cite: str
    rule_version: str
    status: str
    amount: Decimal | None
    explanation: Mapping[str, Any]
    facts: Mapping[str, Any]
    as_of: datetime.date
    event_id: str | None
    created_at: datetime.datetime
    period: str | None
    approval: str | None
    approval_by: str | None
    approval_at: datetime.datetime | None
    approval_reason: str | None
    #: A grant under a cumulative cap (each one an entry of the period's ledger).
    cumulative: bool = False
    #: The last day of the clause's window, if it has one.
    closes: datetime.date | None = None
    #: Whether its notices go by SMS as well as email.
    by_sms: bool = True


@dataclasses.dataclass(frozen=True)
class FirmRow:
    """One line of the firm search."""

    uscc: str
    name: str | None
    region: str | None
    updated_at: datetime.datetime
    decisions: int


@dataclasses.dataclass(frozen=True)
class StatCounts:
    """The aggregates the statistics are built from. "Granted" decisions are `met` ones an operator
    did not reject; a region is the firm's county code (None if unknown); a month is "YYYY-MM" in
    China time, of when the decision, notice or firm's answer was recorded."""

    #: (clause id, cite, granted decisions, sum of their amounts or None)
    granted_by_clause: Sequence[tuple[str, str, int, Decimal | None]]
    #: (clause id, notice status, notices)
    notices_by_clause: Sequence[tuple[str, str, int]]
    #: (county code, granted decisions, sum of their amounts or None)
    granted_by_region: Sequence[tuple[str | None, int, Decimal | None]]
    #: (county code, notice status, notices)
    notices_by_region: Sequence[tuple[str | None, str, int]]
    #: (month, granted decisions, sum of their amounts or None)
    granted_by_month: Sequence[tuple[str, int, Decimal | None]] = ()
    #: (month, notice status, notices)
    notices_by_month: Sequence[tuple[str, str, int]] = ()
    #: (month, granted decisions whose firm's latest answer, given that month, is 确认)
    confirmed_by_month: Sequence[tuple[str, int]] = ()
    #: The reach funnel, in granted decisions: all of them; those with a notice a provider accepted;
    #: those with a notice delivered; those the firm confirmed (its latest answer).
    funnel: tuple[int, int, int, int] = (0, 0, 0, 0)


@dataclasses.dataclass(frozen=True)
class HomeCounts:
    """The figures on an operator's home page, all within his scope. "Today" and "this month" are
    China time, by when the notice or decision was recorded."""

    #: (notice status, notices recorded today, notices recorded this month)
    notices: Sequence[tuple[str, int, int]]
    #: Granted decisions and the sum of their amounts: today, this month, ever.
    granted_today: tuple[int, Decimal]
    granted_month: tuple[int, Decimal]
    granted_ever: tuple[int, Decimal]
    #: Decisions waiting for 二次确认.
    approvals_waiting: int
    #: Decisions whose firm's latest answer on its page is an objection.
    objections_waiting: int
    #: Notices given up (dead), and notices held for an operator's release, whenever recorded.
    dead_notices: int
    held_notices: int
    #: Events parked as failed by the pipeline (for a restricted scope: of firms in it).
    parked_events: int


@dataclasses.dataclass(frozen=True)
class AuditFilters:
    """?action= (prefix: "notice." selects every notice change), ?actor= (substring), ?subject=
    (an id, a type, or "type:id")."""

    action: str = ""
    actor: str = ""
    subject: str = ""

    @classmethod
    def parse(cls, query: Mapping[str, str]) -> AuditFilters:
        return cls(*(query.get(key, "").strip() for key in ("action", "actor", "subject")))

    def as_query(self) -> dict[str, str]:
        return {key: value for key, value in dataclasses.asdict(self).items() if value}


class ConsoleReadModel(abc.ABC):
    """Every read the console makes. Implementations only read; times come back in UTC.

    Every read of firms, decisions or notices takes the operator's `scope` (engine.core.scopes) and
    sees only firms whose region it covers — in rows, counts and sums alike. It is a required
    keyword, so no call can forget it."""

    # The match log and decisions ---------------------------------------------------------------

    @abc.abstractmethod
    async def decision_page(self, filters: DecisionFilters, number: int, size: int = PAGE_SIZE, *, scope: Scope) -> Page:
        """Page `number` (from 1) of the filtered match log, newest first, as DecisionRows."""

    @abc.abstractmethod
    def decision_batches(
        self, filters: DecisionFilters, batch: int = CSV_BATCH, *, scope: Scope
    ) -> AsyncGenerator[list[DecisionRow], None]:
        """The whole filtered match log, newest first, with the firms' mobile and email, in batches
        of `batch` read one at a time (keyset on id): an export of any size holds one batch in
        memory and no read transaction stays open between batches."""

    @abc.abstractmethod
    async def decision_detail(self, decision_id: int, *, scope: Scope) -> DecisionDetail | None:
        """One decision with its firm's name and region, or None if there is no such decision in scope."""

    @abc.abstractmethod
    async def decision_notice_ids(self, decision_id: int) -> list[str]:
        """The notices a decision caused, oldest first."""

    @abc.abstractmethod
    async def pending_page(self, filters: PendingFilters, number: int, size: int = constants.APPROVALS_PAGE_SIZE, *,
                           scope: Scope) -> PendingPage:
        """Page `number` of the decisions waiting for 二次确认 that match `filters`, oldest first (the
        order they should be worked through), with the newest matching id."""

    @abc.abstractmethod
    async def pending_ids(self, filters: PendingFilters, *, upto: int, scope: Scope) -> list[int]:
        """Every pending decision matching `filters` with an id up to `upto`, oldest first: what
        "all matching" acts on — the ones the operator was shown the count of, not ones that
        arrived after."""

    @abc.abstractmethod
    async def pending_regions(self, *, scope: Scope) -> dict[str, int]:
        """County code → how many decisions of its firms wait for 二次确认 (firms without a
        region left out): the region filter's choices."""

    @abc.abstractmethod
    async def in_scope(self, decision_ids: Sequence[int], *, scope: Scope) -> set[int]:
        """Those of `decision_ids` that exist and whose firm is in scope."""

    # Firms ------------------------------------------------------------------------------------

    @abc.abstractmethod
    async def search_firms(self, text: str, number: int, size: int = PAGE_SIZE, *, scope: Scope) -> Page:
        """Firms (FirmRows) whose USCC or name contains `text` (all firms when empty), most recently
        updated first."""

    @abc.abstractmethod
    async def firm_region(self, uscc: str) -> str | None:
        """The firm's county code, or None (unknown firm or region)."""

    # Clauses ----------------------------------------------------------------------------------

    @abc.abstractmethod
    async def clause_decision_counts(self, clause_id: str | None = None, *, scope: Scope) -> dict[str, dict[str, int]]:
        """Clause id → decision status → how many decisions (of one clause, or all)."""

    @abc.abstractmethod
    async def clause_notice_counts(self, clause_id: str | None = None, *, scope: Scope) -> dict[str, dict[str, int]]:
        """Clause id → notice status → how many notices (of one clause, or all)."""

    @abc.abstractmethod
    async def recent_decisions(self, clause_id: str, limit: int = 20, *, scope: Scope) -> list[DecisionRow]:
        """The clause's latest `limit` decisions of any status, newest first."""

    # Statistics -------------------------------------------------------------------------------

    @abc.abstractmethod
    async def stat_counts(self, *, scope: Scope) -> StatCounts:
        """The aggregates behind the statistics page (engine.console.stats rolls them up)."""

    @abc.abstractmethod
    async def home_counts(self, day_start: datetime.datetime, month_start: datetime.datetime, *, scope: Scope) -> HomeCounts:
        """The home page's figures; `day_start` and `month_start` are the (UTC) starts of today and of
        this month in China time."""

    # The audit trail --------------------------------------------------------------------------

    @abc.abstractmethod
    async def audit_page(self, filters: AuditFilters, number: int, size: int = PAGE_SIZE) -> Page:
        """Page `number` of the filtered audit entries (audit.Entry), newest first."""

    @abc.abstractmethod
    async def audit_actions(self) -> list[str]:
        """The distinct actions recorded, sorted (the filter's choices)."""

    @abc.abstractmethod
    def audit_batches(self, batch: int = VERIFY_BATCH, *, after: int = 0) -> AsyncGenerator[list[audit.Entry], None]:
        """The chain in order from the entry after seq `after` (all of it by default), `batch`
        entries at a time, read one batch at a time."""

    @abc.abstractmethod
    async def audit_entry(self, seq: int) -> audit.Entry | None:
        """The entry with this sequence number, or None."""

    @abc.abstractmethod
    async def latest_audit_entry(self, action: str) -> audit.Entry | None:
        """The newest entry with this action (the latest checkpoint), or None."""


#: The read model the console's pages use; the app factory sets it.
READ_MODEL = web.AppKey("console_read_model", ConsoleReadModel)
