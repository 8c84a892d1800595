"""The console's application keys: the store it changes through and the matcher whose catalogue it shows
(the delivery worker it wakes after an approval is engine.notices.worker.DELIVERY)."""

from __future__ import annotations

from aiohttp import web

from engine import audit
from engine.core import matching
from engine.firm_page import store as firm_page_store
from engine.notices import approvals, outbox


class ConsoleStore(outbox.NoticeStore, approvals.ApprovalStore, audit.AuditStore, firm_page_store.FirmPageStore):
    """What the console's pages read and change through the store: firms and their decisions and
    notices (FirmReader via NoticeStore), the 二次确认 gate, the audit trail, and what firms said on their
    own page (answers, objections, link revocation)."""


STORAGE = web.AppKey("console_store", ConsoleStore)
MATCHER = web.AppKey("console_matcher", matching.Matcher)
