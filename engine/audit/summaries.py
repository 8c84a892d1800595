"""One audit entry for a backfill batch: what it recorded, summed up by a hash over its rows.

A first backfill over a province records tens of millions of decisions and notices; an entry per
row would make the audit trail the largest thing in the database and the chain its slowest
writer. A batch's transaction appends one ``backfill.recorded`` entry instead, chained like any
other (docs/audit.md), whose payload names the decisions it recorded (their ids, as ranges), counts
them and their notices, and carries the SHA-256 of their *members*: per row, the canonical JSON
of the fields that never change once written, one per line, in id order (notices by notice_id).

So the chain still fixes what every decision said: editing, adding or deleting one of those rows
changes its batch's digest, which ``audit verify`` recomputes from the rows, and an export carries
the members beside each summary so an auditor checks it with nothing else.
"""

from __future__ import annotations

import datetime
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import orjson

from engine.audit import AuditStore, Draft, Entry

#: The action of a batch summary entry.
ACTION = "backfill.recorded"
#: Its subject type (subject_id: the batch's first and last decision id, "first-last").
SUBJECT = "backfill_batch"
#: The fields of a decision row a member holds: all but the explanation, facts and the 二次确认
#: columns, which an approval changes (each approval is audited in an entry of its own).
DECISION_FIELDS = ("id", "uscc", "clause_id", "cite", "rule_version", "status", "amount", "as_of", "period", "gated")
#: The fields of a notice row a member holds: what it announces; its status moves as it is sent
#: (every move is audited in an entry of its own).
NOTICE_FIELDS = ("notice_id", "uscc", "clause_id", "channel", "period", "decision_id", "kind", "revision", "amount",
                 "previous_amount")


def amount_text(value: Any) -> str | None:
    """An amount as members hold it: two decimals, as the database keeps it (Numeric(18, 2))."""
    return None if value is None else f"{float(value):.2f}"


def decision_member(
    id_: int, uscc: str, clause_id: str, cite: str, rule_version: str, status: str, amount: Any, as_of: datetime.date,
    period: str | None, gated: bool,
) -> dict[str, Any]:
    """A recorded decision as its batch's digest covers it."""
    return {"id": id_, "uscc": uscc, "clause_id": clause_id, "cite": cite, "rule_version": rule_version, "status": status,
            "amount": amount_text(amount), "as_of": as_of.isoformat(), "period": period, "gated": gated}


def notice_member(
    notice_id: str, uscc: str, clause_id: str, channel: str, period: str, decision_id: int, kind: str, revision: int,
    amount: Any, previous_amount: Any,
) -> dict[str, Any]:
    """A created notice as its batch's digest covers it."""
    return {"notice_id": notice_id, "uscc": uscc, "clause_id": clause_id, "channel": channel, "period": period,
            "decision_id": decision_id, "kind": kind, "revision": revision, "amount": amount_text(amount),
            "previous_amount": amount_text(previous_amount)}


def digest(members: Iterable[Mapping[str, Any]]) -> str:
    """SHA-256 (hex) over each member's canonical JSON followed by a newline, in the order given.

    A member is flat (text, integers, booleans, null), and for such a mapping orjson with sorted keys
    writes exactly :func:`engine.audit.canonical`'s bytes (compact, UTF-8, the same escapes), about ten
    times faster: a first backfill hashes some thirty members per firm. tests/audit checks both agree.
    """
    hasher = hashlib.sha256()
    for member in members:
        hasher.update(orjson.dumps(member, option=orjson.OPT_SORT_KEYS))
        hasher.update(b"\n")
    return hasher.hexdigest()


def ranges(ids: Iterable[int]) -> list[list[int]]:
    """Ascending ids as ``[first, last]`` runs of consecutive ids."""
    runs: list[list[int]] = []
    for id_ in sorted(ids):
        if runs and id_ == runs[-1][1] + 1:
            runs[-1][1] = id_
        else:
            runs.append([id_, id_])
    return runs


def ordered(
    decisions: Iterable[Mapping[str, Any]], notices: Iterable[Mapping[str, Any]]
) -> tuple[list[Mapping[str, Any]], list[Mapping[str, Any]]]:
    """Members in digest order: decisions by id, notices by notice_id."""
    return sorted(decisions, key=lambda m: m["id"]), sorted(notices, key=lambda m: m["notice_id"])


def summary(
    actor: str, as_of: datetime.date, decisions: Sequence[Mapping[str, Any]], notices: Sequence[Mapping[str, Any]]
) -> Draft:
    """The entry for a batch that recorded ``decisions`` and ``notices`` (members, any order)."""
    decisions, notices = ordered(decisions, notices)
    first, last = (decisions[0]["id"], decisions[-1]["id"]) if decisions else (0, 0)
    return Draft(actor=actor, action=ACTION, subject_type=SUBJECT, subject_id=f"{first}-{last}", payload={
        "as_of": as_of.isoformat(),
        "decisions": {"count": len(decisions), "ids": ranges(m["id"] for m in decisions), "sha256": digest(decisions)},
        "notices": {"count": len(notices), "sha256": digest(notices)},
    })


def decision_ids(payload: Mapping[str, Any]) -> list[list[int]]:
    """The id ranges of the decisions a summary's payload names."""
    return [list(run) for run in payload["decisions"]["ids"]]


def mismatch(
    payload: Mapping[str, Any], decisions: Iterable[Mapping[str, Any]], notices: Iterable[Mapping[str, Any]]
) -> str | None:
    """Why the rows (members, any order) are not what the summary recorded, or None when they are."""
    decisions, notices = ordered(decisions, notices)
    for kind, members in (("decisions", decisions), ("notices", notices)):
        recorded = payload[kind]
        if len(members) != recorded["count"]:
            return f"it recorded {recorded['count']} {kind}, {len(members)} are there now: rows were deleted or added"
        if digest(members) != recorded["sha256"]:
            return f"the {kind} it recorded no longer match their rows: a row was edited"
    return None


def members_mismatch(record: Mapping[str, Any]) -> str | None:
    """For an exported summary (an export-form record with its ``members``): why its members are not what
    its payload recorded, or None when they are (or the record is not a summary)."""
    if record.get("action") != ACTION:
        return None
    members = record.get("members")
    if not isinstance(members, Mapping):
        return "a backfill summary without its members: the export cannot show what the batch recorded"
    return mismatch(record["payload"], members.get("decisions") or [], members.get("notices") or [])


async def with_members(store: AuditStore, entry: Entry) -> dict[str, Any]:
    """The export form of ``entry``; a summary also carries its members, read from ``store``."""
    record = entry.as_json()
    if entry.action == ACTION:
        decisions, notices = ordered(*await store.summary_members(entry.payload))
        record["members"] = {"decisions": decisions, "notices": notices}
    return record


async def first_mismatch(store: AuditStore, entries: Iterable[Entry]) -> tuple[int, str] | None:
    """The first summary among ``entries`` whose rows in ``store`` no longer match it: (seq, reason)."""
    for entry in entries:
        if entry.action == ACTION:
            reason = mismatch(entry.payload, *await store.summary_members(entry.payload))
            if reason is not None:
                return entry.seq, reason
    return None
