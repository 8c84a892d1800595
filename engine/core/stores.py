"""What every store offers whoever uses it: its lifecycle, and reading a firm's 一企一档.

Each feature package declares the narrow store interface it needs (ingest.store.EventStore,
notices.outbox.NoticeStore, audit.AuditStore, backfill.store.BackfillStore, …); those that read
firms extend `FirmReader` here. The SQL store and the in-memory one (engine.testing) implement them.
"""

from __future__ import annotations

import abc

from engine.core import matching, records


class Lifecycle(abc.ABC):
    """Opening and closing a store, and what `/readyz` asks of it."""

    #: Whether the store's schema is managed by migrations (and /readyz must check its revision).
    has_migrations: bool = False

    @abc.abstractmethod
    async def open(self) -> None:
        """Acquire resources (connections); called once at start-up."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Release resources."""

    @abc.abstractmethod
    async def ping(self) -> None:
        """Raise if the store cannot be reached."""

    @abc.abstractmethod
    async def schema_revision(self) -> str | None:
        """The applied migration revision (None where the store has no migrations)."""

    async def check_integrity(self) -> str | None:
        """Why the stored data cannot be trusted (damaged pages), in one line; None when it can. Run at
        start-up and on a schedule (`/readyz`); a store with nothing on disk has nothing to check."""
        return None


class FirmReader(abc.ABC):
    """A firm's current profile, its provenance and its decisions."""

    @abc.abstractmethod
    async def get_firm(self, uscc: str) -> records.FirmRecord | None:
        """The firm's current profile, or None."""

    @abc.abstractmethod
    async def field_history(self, uscc: str) -> list[records.FieldAssignment]:
        """Every assignment ever made to the firm's fields, oldest occurrence first."""

    @abc.abstractmethod
    async def decisions(self, uscc: str) -> list[records.StoredDecision]:
        """Every decision stored for the firm, in the order stored."""

    @abc.abstractmethod
    async def designations(self, county: str) -> frozenset[matching.Designation]:
        """Every designation stored for the county (risk areas, demonstration counties), of every year."""
