"""The tamper-evident audit trail: an append-only hash chain over a canonical encoding.

Each entry's hash is SHA-256 over the previous entry's hash and the entry's canonical JSON
(`docs/audit.md` gives the algorithm, so an auditor can check an export with nothing else):

    canonical = JSON of {seq, at, actor, action, subject_type, subject_id, payload}
                with sorted keys, no spaces, UTF-8, `at` as UTC ISO-8601 with microseconds
    hash      = hex(sha256(prev_hash + "\\n" + canonical))          prev_hash of entry 1 = 64 × "0"

An edited entry no longer matches its hash; a deleted or reordered one breaks the next entry's
`prev_hash` or the run of sequence numbers. `verify` names the first entry where that happens.
"""

from __future__ import annotations

import abc
import dataclasses
import datetime
import functools
import hashlib
import json
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from typing import Any

import orjson

from engine.core import json_text

GENESIS = "0" * 64


@dataclasses.dataclass(frozen=True)
class Draft:
    """What happened, before it is chained."""

    actor: str
    action: str
    subject_type: str
    subject_id: str
    payload: Mapping[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class Entry:
    """A chained audit entry."""

    seq: int
    at: datetime.datetime
    actor: str
    action: str
    subject_type: str
    subject_id: str
    payload: Mapping[str, Any]
    prev_hash: str
    hash: str

    def as_json(self) -> dict[str, Any]:
        """The export form (one JSON Lines record)."""
        return {**_body(self.seq, self.at, self.actor, self.action, self.subject_type, self.subject_id, self.payload),
                "prev_hash": self.prev_hash, "hash": self.hash}


@functools.lru_cache(maxsize=16)  # a transaction chains all its entries at one instant
def _at(value: datetime.datetime) -> str:
    return value.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _body(seq, at, actor, action, subject_type, subject_id, payload) -> dict[str, Any]:
    return {"seq": seq, "at": _at(at) if isinstance(at, datetime.datetime) else at, "actor": actor, "action": action,
            "subject_type": subject_type, "subject_id": subject_id, "payload": payload}


def canonical(body: Mapping[str, Any]) -> bytes:
    """The bytes that are hashed: sorted keys, compact separators, UTF-8 (Chinese kept as is)."""
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def chain(prev_hash: str, seq: int, at: datetime.datetime, draft: Draft) -> Entry:
    """Chain `draft` after an entry whose hash is `prev_hash`."""
    # Round-trip the payload through JSON so what is hashed is exactly what is stored and read back.
    text = canonical(dict(draft.payload))
    payload = json_text.decode(text)
    # canonical(body), assembled around the payload's canonical text (the largest part, already
    # encoded) in sorted key order; verify() recomputes it the plain way, and tests/audit checks both agree.
    body = b"".join((
        b'{"action":', _scalar(draft.action), b',"actor":', _scalar(draft.actor), b',"at":', _scalar(_at(at)),
        b',"payload":', text, b',"seq":', _scalar(seq), b',"subject_id":', _scalar(draft.subject_id),
        b',"subject_type":', _scalar(draft.subject_type), b"}",
    ))
    digest = hashlib.sha256(prev_hash.encode() + b"\n" + body).hexdigest()
    return Entry(seq, at, draft.actor, draft.action, draft.subject_type, draft.subject_id, payload, prev_hash, digest)


def _scalar(value: Any) -> bytes:
    # orjson writes a text or a 64-bit integer byte for byte as json.dumps(ensure_ascii=False) does
    # (checked for every code point by tests/audit), in a fraction of the time; anything else the plain way.
    if type(value) is str or (type(value) is int and -(2**63) <= value < 2**64):
        return orjson.dumps(value)
    return json.dumps(value, ensure_ascii=False, default=str).encode()


@dataclasses.dataclass(frozen=True)
class Verdict:
    """Outcome of walking the chain."""

    ok: bool
    entries: int
    first_bad_seq: int | None = None
    reason: str | None = None
    #: The last entry's hash (what to keep elsewhere, to check the next walk against).
    head: str = GENESIS


def verify(
    records: Iterable[Mapping[str, Any]], *, partial: bool = False, kept_head: str | None = None,
    check: Callable[[Mapping[str, Any]], str | None] | None = None,
) -> Verdict:
    """Walk export-form records (as_json) in stored order; name the first one that was edited,
    deleted or reordered. With `partial`, the records may start anywhere in the chain (an export
    window): the first one's prev_hash and seq are taken as given. With `kept_head`, a head hash
    kept elsewhere earlier: it must be the hash of an entry in the chain, or entries were deleted
    from the end since (which the chain alone cannot show) or the chain was rewritten. With `check`,
    each intact record is also given to it, and a reason it returns fails the walk there (an export's
    backfill summaries: engine.audit.summaries.members_mismatch)."""
    kept_head = kept_head.strip().lower() if kept_head is not None else None
    seen_kept = kept_head in (None, GENESIS)
    prev, expected_seq, count = GENESIS, 1, 0
    for record in records:
        count += 1
        seq = record.get("seq")
        if partial and count == 1 and isinstance(seq, int):
            prev, expected_seq = record.get("prev_hash", ""), seq
        if seq != expected_seq:
            return Verdict(False, count, seq, f"expected entry {expected_seq} here, found {seq}: an entry was deleted or reordered")
        if record.get("prev_hash") != prev:
            return Verdict(False, count, seq, "prev_hash does not match the previous entry: the chain was broken here")
        body = {k: record[k] for k in ("seq", "at", "actor", "action", "subject_type", "subject_id", "payload")}
        digest = hashlib.sha256(prev.encode() + b"\n" + canonical(body)).hexdigest()
        if digest != record.get("hash"):
            return Verdict(False, count, seq, "the entry's content does not match its hash: it was edited")
        if check is not None and (reason := check(record)) is not None:
            return Verdict(False, count, seq, reason)
        prev, expected_seq = record["hash"], expected_seq + 1
        seen_kept = seen_kept or prev == kept_head
    if not seen_kept:
        return Verdict(False, count, expected_seq, f"the kept head {kept_head} is not in the chain: entries after it were deleted, or the chain was rewritten", prev)
    return Verdict(True, count, head=prev)


class AuditStore(abc.ABC):
    """Storage for the chain: appends happen inside the transactions that make the change."""

    @abc.abstractmethod
    async def append_audit(self, drafts: Sequence[Draft]) -> list[Entry]:
        """Append entries in one transaction (operator actions that change nothing else)."""

    @abc.abstractmethod
    def audit_entries(
        self, *, since: datetime.datetime | None = None, until: datetime.datetime | None = None, batch: int = 1000
    ) -> AsyncIterator[Entry]:
        """Every entry in chain order (optionally within [since, until)), streamed in batches."""

    @abc.abstractmethod
    async def summary_members(
        self, payload: Mapping[str, Any]
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """The rows a backfill batch's summary entry (engine.audit.summaries) covers, as members: the
        decisions whose ids its payload names, and the notices created with them (same transaction:
        a notice of one of them created when the decision was)."""
