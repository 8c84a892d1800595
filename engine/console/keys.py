"""The console's application keys: the store and catalogue it reads, and the worker it wakes."""

from __future__ import annotations

from aiohttp import web

from engine.core import matching
from engine.notices import approvals, outbox, worker
from engine import audit


class ConsoleStore(outbox.NoticeStore, approvals.ApprovalStore, audit.AuditStore):
    """What the console's pages read and change through the store: firms and their decisions and
    notices (FirmReader via NoticeStore), the 二次确认 gate, and the audit trail."""


STORAGE = web.AppKey("console_store", ConsoleStore)
MATCHER = web.AppKey("console_matcher", matching.Matcher)
#: The notice delivery worker running in this process (absent when delivery runs elsewhere).
DELIVERY = web.AppKey("console_delivery", worker.DeliveryWorker)
