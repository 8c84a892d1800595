"""The audit page's entries and the chain's verdict, over the read model.

Verification streams the chain in batches and checks each batch together with the last entry
of the one before (as an anchor, `audit.verify(..., partial=True)`), so the chain is checked link
by link while only one batch is held in memory.

The page does not walk the whole chain each time: it starts from the latest checkpoint, an
`audit.checkpoint` entry in the chain itself recording the seq and hash of the last entry a
previous check found intact. That entry is read again and must still have that hash (its content
is checked against it as the first anchor); everything after it is verified. After an intact check
that went `constants.AUDIT_CHECKPOINT_EVERY` entries past the checkpoint, the page records a new
one, so its cost stays about that many entries however long the chain grows. An edit *before* the
latest checkpoint is therefore not seen by the page: `policy-push audit verify` walks the whole
chain (and checks a kept head), and remains the full check (docs/audit.md).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import re
from typing import Any

from engine import audit, constants
from engine.console.read_model import PAGE_SIZE, VERIFY_BATCH, AuditFilters, ConsoleReadModel, Page

#: The action of a checkpoint entry.
CHECKPOINT = "audit.checkpoint"

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


@dataclasses.dataclass(frozen=True)
class ChainCheck:
    """What the audit page checked: the verdict over the entries after `since` (0: the whole chain,
    else the seq of the latest checkpoint, itself checked against its recorded hash), and the last
    entry checked."""

    verdict: audit.Verdict
    since: int = 0
    last_seq: int = 0

    @property
    def reason(self) -> str:
        """The verdict's reason in Chinese (engine.audit writes them in English)."""
        return chinese_reason(self.verdict.reason)


#: engine.audit.verify's reasons (and the checkpoint's own), in Chinese.
_REASONS = (
    (re.compile(r"expected entry (\d+) here, found (\S+): .*"), "此处应为第 {0} 条，实为第 {1} 条：有记录被删除或顺序被打乱"),
    (re.compile(r"prev_hash does not match the previous entry: .*"), "与前一条记录的哈希不衔接：链在此处断开"),
    (re.compile(r"the entry's content does not match its hash: .*"), "记录内容与其哈希不符：记录被修改过"),
    (re.compile(r"the checkpoint's entry (\d+) is gone or changed"), "校验点所记的第 {0} 条记录已被删除或修改"),
)


def chinese_reason(reason: str | None) -> str:
    """A verdict's reason as the page says it; an unknown one as it is."""
    for pattern, said in _REASONS:
        found = pattern.fullmatch(reason or "")
        if found:
            return said.format(*found.groups())
    return reason or ""


async def verify_chain(reads: ConsoleReadModel, batch: int = VERIFY_BATCH) -> ChainCheck:
    """Verify the chain from its latest checkpoint (or from the start, when there is none) to the
    end, batch by batch; see the module docstring."""
    total, since = 0, 0
    anchor: dict[str, Any] | None = None
    checkpoint = await reads.latest_audit_entry(CHECKPOINT)
    if checkpoint is not None:
        since, kept = int(checkpoint.payload["seq"]), str(checkpoint.payload["hash"])
        entry = await reads.audit_entry(since)
        if entry is None or entry.hash != kept:
            return ChainCheck(audit.Verdict(False, 0, since, f"the checkpoint's entry {since} is gone or changed"), since, since)
        anchor = entry.as_json()
    last = since
    async with contextlib.aclosing(reads.audit_batches(batch, after=since)) as batches:
        async for entries in batches:
            records = [entry.as_json() for entry in entries]
            verdict = audit.verify([anchor, *records], partial=True) if anchor else audit.verify(records)
            checked = verdict.entries - (1 if anchor else 0)
            if not verdict.ok:
                return ChainCheck(audit.Verdict(False, total + checked, verdict.first_bad_seq, verdict.reason), since, last)
            total += checked
            anchor, last = records[-1], entries[-1].seq
    head = anchor["hash"] if anchor else audit.GENESIS
    return ChainCheck(audit.Verdict(True, total, head=head), since, last)


def checkpoint_due(check: ChainCheck) -> audit.Draft | None:
    """The checkpoint to record after an intact check that went AUDIT_CHECKPOINT_EVERY entries past
    the last one (None otherwise): the seq and hash of the last entry checked. The actor is filled in
    by the caller (security.audit_action)."""
    if not check.verdict.ok or check.last_seq - check.since < constants.AUDIT_CHECKPOINT_EVERY:
        return None
    return audit.Draft("", CHECKPOINT, "audit", str(check.last_seq),
                       {"seq": check.last_seq, "hash": check.verdict.head, "since": check.since})
