"""The audit page's entries and the chain's verdict, over the read model.

Verification streams the chain in batches and checks each batch together with the last entry
of the one before (as an anchor, `audit.verify(..., partial=True)`), so the whole chain is
checked link by link while only one batch is held in memory.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
from typing import Any

from engine import audit
from engine.console.read_model import PAGE_SIZE, VERIFY_BATCH, AuditFilters, ConsoleReadModel, Page

#: Characters of a payload shown in the list (the full entry is in the export).
SUMMARY_CHARS = 160


def summary(payload: Any) -> str:
    """A one-line view of a payload, cut to SUMMARY_CHARS."""
    text = json.dumps(payload, ensure_ascii=False, sort_keys=True, default=str)
    return text if len(text) <= SUMMARY_CHARS else text[: SUMMARY_CHARS - 1] + "…"


async def entries_page(reads: ConsoleReadModel, filters: AuditFilters, number: int, size: int = PAGE_SIZE) -> Page:
    """One page of audit entries, newest first, each as a dict with a `summary` of its payload."""
    page = await reads.audit_page(filters, number, size)
    rows = [{**dataclasses.asdict(entry), "summary": summary(entry.payload)} for entry in page.items]
    return dataclasses.replace(page, items=rows)


async def verify_chain(reads: ConsoleReadModel, batch: int = VERIFY_BATCH) -> audit.Verdict:
    """Walk the whole chain (engine.audit.verify) batch by batch; see the module docstring."""
    total = 0
    anchor: dict[str, Any] | None = None

    async with contextlib.aclosing(reads.audit_batches(batch)) as batches:
        async for entries in batches:
            records = [entry.as_json() for entry in entries]
            verdict = audit.verify([anchor, *records], partial=True) if anchor else audit.verify(records)
            checked = verdict.entries - (1 if anchor else 0)
            if not verdict.ok:
                return audit.Verdict(False, total + checked, verdict.first_bad_seq, verdict.reason)
            total += checked
            anchor = records[-1]
    return audit.Verdict(True, total)
