"""What the firm page needs from storage besides what the notices' store gives (the firm, its decisions,
its SMS choice): the firm's answers to decisions, and when its links were revoked."""

from __future__ import annotations

import abc
import dataclasses
import datetime

from engine.core.scopes import Scope

#: 确认: the firm agrees with what its page says of a decision.
CONFIRM = "confirm"
#: 有异议: the firm disputes it, with a reason an operator reads.
OBJECT = "object"
ACTIONS = (CONFIRM, OBJECT)


@dataclasses.dataclass(frozen=True)
class FirmResponse:
    """A firm's answer to one decision, as stored."""

    id: int
    uscc: str
    clause_id: str
    decision_id: int
    action: str
    #: The objection's reason in the firm's own words (None for a confirmation).
    reason: str | None
    at: datetime.datetime


class FirmPageStore(abc.ABC):
    """Storage for the firm page and the console's objection queue. Each method is one transaction."""

    @abc.abstractmethod
    async def record_response(
        self, uscc: str, clause_id: str, decision_id: int, action: str, reason: str | None, at: datetime.datetime
    ) -> FirmResponse:
        """Keep a firm's answer and its audit entry (rules.response_audit) together; return it as stored."""

    @abc.abstractmethod
    async def firm_responses(self, uscc: str) -> list[FirmResponse]:
        """Every answer of the firm, oldest first."""

    @abc.abstractmethod
    async def objections(self, limit: int = 200, *, scope: Scope) -> list[FirmResponse]:
        """The latest `limit` objections of the firms whose region `scope` covers, newest first (the
        console's queue); `scope` is required so that no caller forgets an operator's regions."""

    @abc.abstractmethod
    async def links_revoked_before(self, uscc: str) -> datetime.datetime | None:
        """Links to the firm's page issued at or before this moment are refused; None if never revoked."""

    @abc.abstractmethod
    async def revoke_links(self, uscc: str, actor: str, at: datetime.datetime) -> None:
        """Refuse every link to the firm's page issued until `at`, with its audit entry (rules.revocation_audit)."""
