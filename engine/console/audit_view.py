"""Reads for the audit page: filtered pages of the chain, newest first, and the chain's verdict.

Verification streams the chain in batches and checks each batch together with the last entry
of the one before (as an anchor, `audit.verify(..., partial=True)`), so the whole chain is
checked link by link while only one batch is held in memory.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from engine import audit
from connectors import sql_models as models
from engine.console import queries

AUDIT = models.AuditEntry.__table__
VERIFY_BATCH = 1000
#: Characters of a payload shown in the list (the full entry is in the export).
SUMMARY_CHARS = 160


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

    def where(self) -> list[sa.ColumnElement[bool]]:
        conditions: list[sa.ColumnElement[bool]] = []
        if self.action:
            conditions.append(AUDIT.c.action.startswith(self.action, autoescape=True))
        if self.actor:
            conditions.append(AUDIT.c.actor.contains(self.actor, autoescape=True))
        if self.subject:
            kind, sep, ident = self.subject.partition(":")
            if sep:
                conditions.append(sa.and_(AUDIT.c.subject_type == kind, AUDIT.c.subject_id == ident))
            else:
                conditions.append(sa.or_(AUDIT.c.subject_id == self.subject, AUDIT.c.subject_type == self.subject))
        return conditions


def summary(payload: Any) -> str:
    """A one-line view of a payload, cut to SUMMARY_CHARS."""
    text = json.dumps(payload, ensure_ascii=False, sort_keys=True, default=str)
    return text if len(text) <= SUMMARY_CHARS else text[: SUMMARY_CHARS - 1] + "…"


async def entries_page(store: Any, filters: AuditFilters, number: int, size: int = queries.PAGE_SIZE) -> queries.Page:
    """One page of audit entries, newest first."""
    conditions = filters.where()
    query = sa.select(AUDIT).where(*conditions).order_by(AUDIT.c.seq.desc()).limit(size).offset((number - 1) * size)
    async with store.read() as connection:
        total = (await connection.execute(sa.select(sa.func.count()).select_from(AUDIT).where(*conditions))).scalar_one()
        rows = [{**r._asdict(), "at": models.as_utc(r.at), "summary": summary(r.payload)} for r in await connection.execute(query)]
    return queries.Page(rows, number, size, total)


async def actions(store: Any) -> list[str]:
    """The distinct actions recorded (for the filter's choices)."""
    async with store.read() as connection:
        return list((await connection.execute(sa.select(AUDIT.c.action).distinct().order_by(AUDIT.c.action))).scalars())


async def verify_chain(store: Any, batch: int = VERIFY_BATCH) -> audit.Verdict:
    """Walk the whole chain (engine.audit.verify) batch by batch; see the module docstring."""
    total = 0
    anchor: dict[str, Any] | None = None
    records: list[dict[str, Any]] = []

    def check() -> audit.Verdict:
        nonlocal total, anchor
        verdict = audit.verify([anchor, *records], partial=True) if anchor else audit.verify(records)
        checked = verdict.entries - (1 if anchor else 0)
        if not verdict.ok:
            return audit.Verdict(False, total + checked, verdict.first_bad_seq, verdict.reason)
        total += checked
        anchor = records[-1]
        records.clear()
        return verdict

    async with contextlib.aclosing(store.audit_entries(batch=batch)) as stream:
        async for entry in stream:
            records.append(entry.as_json())
            if len(records) >= batch and not (verdict := check()).ok:
                return verdict
    if records and not (verdict := check()).ok:
        return verdict
    return audit.Verdict(True, total)
