"""The rules of a shared backfill's batches, written once (the SQL store writes the same as a WHERE).

A batch is claimable when it is pending, or claimed by a process whose lease has ended (a process
that died or stalls gives its batch up when its lease runs out). Judging a batch again is harmless:
a backfill records only the decisions that change, so a batch whose changes were written before its
process died finds nothing left to write.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable

from engine.backfill import store


def claimable(status: str, lease_until: dt.datetime | None, now: dt.datetime) -> bool:
    """Whether a batch in ``status``, leased until ``lease_until``, may be claimed at ``now``."""
    return status == store.PENDING or (status == store.CLAIMED and lease_until is not None and lease_until < now)


def catalogue_version(rule_versions: Iterable[tuple[str, str]]) -> str:
    """One digest of the (clause id, rule version) pairs a run judges: processes joining a run must judge
    with the same rules, or the run's decisions would mix two catalogues."""
    digest = hashlib.sha256()
    for clause_id, version in sorted(rule_versions):
        digest.update(f"{clause_id}\0{version}\n".encode())
    return digest.hexdigest()[:32]
