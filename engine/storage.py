"""Everything the service keeps: the union of the store interfaces each feature declares.

Each feature package names only what it needs (procrastinate's narrow connector): ingestion
`ingest.event_store.EventStore`, the notice worker `notices.outbox.NoticeStore`, the 二次确认 gate
`notices.approvals.ApprovalStore`, the audit trail `audit.AuditStore`, the backfill
`backfill.store.BackfillStore`, the firm page `firm_page.store.FirmPageStore`, API tokens `http.auth.TokenStore`, and every reader of firms
`core.stores.FirmReader`. A full store, the SQL one (connectors.sql_storage) or the in-memory one
(engine.testing), implements them all; the app factory and the commands hand each feature the
same object under its own interface.
"""

from __future__ import annotations

import abc

from engine import audit
from engine.backfill import store as backfill_store
from engine.core import stores
from engine.firm_page import store as firm_page_store
from engine.http import auth
from engine.ingest import event_store
from engine.notices import approvals, outbox


class Storage(
    stores.Lifecycle,
    event_store.EventStore,
    outbox.NoticeStore,
    audit.AuditStore,
    approvals.ApprovalStore,
    backfill_store.BackfillStore,
    firm_page_store.FirmPageStore,
    auth.TokenStore,
    abc.ABC,
):
    """Everything the service keeps. Each method is one transaction."""
