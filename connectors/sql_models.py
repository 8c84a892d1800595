"""Database tables (SQLModel). Alembic migrations in engine/migrations must produce exactly this schema."""

from __future__ import annotations

import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlmodel import Field, SQLModel

#: JSON on SQLite, JSONB on PostgreSQL (indexable, compact).
JSONType = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
#: Timestamps are stored timezone-aware (UTC) everywhere.
Timestamp = sa.DateTime(timezone=True)


def as_utc(value: datetime.datetime | None) -> datetime.datetime | None:
    """Timestamps are stored in UTC; SQLite hands them back naive, so say so."""
    if value is None:
        return None
    return value.replace(tzinfo=datetime.UTC) if value.tzinfo is None else value.astimezone(datetime.UTC)


def _utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


class Event(SQLModel, table=True):
    """One received event, kept verbatim. `event_id` is the sender's `webhook-id` (or the batch item's `id`)."""

    __tablename__ = "event"

    seq: int | None = Field(default=None, primary_key=True)
    event_id: str = Field(sa_column=sa.Column(sa.String(128), nullable=False, unique=True))
    type: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    uscc: str | None = Field(default=None, sa_column=sa.Column(sa.String(18), nullable=True, index=True))
    occurred_at: datetime.datetime = Field(sa_column=sa.Column(Timestamp, nullable=False))
    received_at: datetime.datetime = Field(default_factory=_utcnow, sa_column=sa.Column(Timestamp, nullable=False))
    body: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    body_sha256: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    headers: dict[str, Any] = Field(default_factory=dict, sa_column=sa.Column(JSONType, nullable=False))
    status: str = Field(sa_column=sa.Column(sa.String(16), nullable=False, index=True))
    processed_at: datetime.datetime | None = Field(default=None, sa_column=sa.Column(Timestamp, nullable=True))
    error: str | None = Field(default=None, sa_column=sa.Column(sa.Text, nullable=True))


class Firm(SQLModel, table=True):
    """The current profile of one firm (一企一档): flat field values plus, per field, which event set it."""

    __tablename__ = "firm"

    uscc: str = Field(sa_column=sa.Column(sa.String(18), primary_key=True))
    region: str | None = Field(default=None, sa_column=sa.Column(sa.String(6), nullable=True, index=True))
    fields: dict[str, Any] = Field(default_factory=dict, sa_column=sa.Column(JSONType, nullable=False))
    stamps: dict[str, Any] = Field(default_factory=dict, sa_column=sa.Column(JSONType, nullable=False))
    events_applied: int = Field(default=0, sa_column=sa.Column(sa.Integer, nullable=False))
    created_at: datetime.datetime = Field(default_factory=_utcnow, sa_column=sa.Column(Timestamp, nullable=False))
    updated_at: datetime.datetime = Field(default_factory=_utcnow, sa_column=sa.Column(Timestamp, nullable=False))


class ProfileField(SQLModel, table=True):
    """Provenance: every value an event assigned to a profile field. Appended, never overwritten."""

    __tablename__ = "profile_field"
    __table_args__ = (sa.Index("ix_profile_field_uscc_field", "uscc", "field"),)

    id: int | None = Field(default=None, primary_key=True)
    uscc: str = Field(sa_column=sa.Column(sa.String(18), sa.ForeignKey("firm.uscc"), nullable=False))
    field: str = Field(sa_column=sa.Column(sa.String(200), nullable=False))
    value: Any = Field(default=None, sa_column=sa.Column(JSONType, nullable=True))
    event_id: str = Field(sa_column=sa.Column(sa.String(128), sa.ForeignKey("event.event_id"), nullable=False))
    occurred_at: datetime.datetime = Field(sa_column=sa.Column(Timestamp, nullable=False))
    recorded_at: datetime.datetime = Field(default_factory=_utcnow, sa_column=sa.Column(Timestamp, nullable=False))


class RegionDesignation(SQLModel, table=True):
    """A county's designation of a kind (core.matching.DESIGNATION_KINDS) in a year: it had a medium/high
    epidemic risk area (with its level), it was named a 示范县 创建县."""

    __tablename__ = "region_designation"

    county: str = Field(sa_column=sa.Column(sa.String(6), primary_key=True))
    kind: str = Field(sa_column=sa.Column(sa.String(32), primary_key=True))
    year: int = Field(sa_column=sa.Column(sa.Integer, primary_key=True, autoincrement=False))
    level: str | None = Field(default=None, sa_column=sa.Column(sa.String(16), nullable=True))
    event_id: str = Field(sa_column=sa.Column(sa.String(128), sa.ForeignKey("event.event_id"), nullable=False))


class Explanation(SQLModel, table=True):
    """A decision's explanation, stored once however many decisions read alike: firms judged the same
    way share one (a province's first backfill writes a few thousand distinct texts for millions of
    decisions), keyed by the SHA-256 of its JSON text as written (firm_input.encode)."""

    __tablename__ = "explanation"

    sha256: str = Field(sa_column=sa.Column(sa.String(64), primary_key=True))
    body: dict[str, Any] = Field(default_factory=dict, sa_column=sa.Column(JSONType, nullable=False))


class Decision(SQLModel, table=True):
    """A matcher verdict for one firm and clause, stored when it differs from the firm's previous one."""

    __tablename__ = "decision"
    __table_args__ = (sa.Index("ix_decision_uscc_clause", "uscc", "clause_id", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    uscc: str = Field(sa_column=sa.Column(sa.String(18), sa.ForeignKey("firm.uscc"), nullable=False))
    clause_id: str = Field(sa_column=sa.Column(sa.String(64), nullable=False, index=True))
    cite: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    rule_version: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    status: str = Field(sa_column=sa.Column(sa.String(16), nullable=False))
    amount: float | None = Field(default=None, sa_column=sa.Column(sa.Numeric(18, 2), nullable=True))
    #: Its explanation (Explanation.sha256): the why is read from there.
    explanation_sha256: str = Field(
        sa_column=sa.Column(sa.String(64), sa.ForeignKey("explanation.sha256"), nullable=False)
    )
    facts: dict[str, Any] = Field(default_factory=dict, sa_column=sa.Column(JSONType, nullable=False))
    as_of: datetime.date = Field(sa_column=sa.Column(sa.Date, nullable=False))
    event_id: str | None = Field(
        default=None, sa_column=sa.Column(sa.String(128), sa.ForeignKey("event.event_id"), nullable=True)
    )
    created_at: datetime.datetime = Field(default_factory=_utcnow, sa_column=sa.Column(Timestamp, nullable=False))
    #: The notice period a `met` entitles (engine.notices.outbox), kept for notices created on approval.
    period: str | None = Field(default=None, sa_column=sa.Column(sa.String(16), nullable=True))
    #: A grant under a cumulative cap (matching.Decision.cumulative).
    cumulative: bool = Field(default=False, sa_column=sa.Column(sa.Boolean, nullable=False, server_default=sa.false()))
    #: The last day of the benefit's window (matching.Decision.closes), for holding stale notices.
    closes: datetime.date | None = Field(default=None, sa_column=sa.Column(sa.Date, nullable=True))
    #: Whether its notices go by SMS as well as email (matching.Decision.by_sms).
    by_sms: bool = Field(default=True, sa_column=sa.Column(sa.Boolean, nullable=False, server_default=sa.true()))
    #: The 二次确认 gate: None (no gate), pending, approved or rejected.
    approval: str | None = Field(default=None, sa_column=sa.Column(sa.String(16), nullable=True, index=True))
    approval_by: str | None = Field(default=None, sa_column=sa.Column(sa.String(100), nullable=True))
    approval_at: datetime.datetime | None = Field(default=None, sa_column=sa.Column(Timestamp, nullable=True))
    approval_reason: str | None = Field(default=None, sa_column=sa.Column(sa.Text, nullable=True))


class ApiToken(SQLModel, table=True):
    """A bearer token for /api. Only its SHA-256 is stored; the token itself is shown once at creation."""

    __tablename__ = "api_token"

    id: int | None = Field(default=None, primary_key=True)
    token_sha256: str = Field(sa_column=sa.Column(sa.String(64), nullable=False, unique=True))
    role: str = Field(sa_column=sa.Column(sa.String(16), nullable=False))
    label: str = Field(default="", sa_column=sa.Column(sa.String(200), nullable=False))
    created_at: datetime.datetime = Field(default_factory=_utcnow, sa_column=sa.Column(Timestamp, nullable=False))
    revoked_at: datetime.datetime | None = Field(default=None, sa_column=sa.Column(Timestamp, nullable=True))
    expires_at: datetime.datetime | None = Field(default=None, sa_column=sa.Column(Timestamp, nullable=True))
    last_used_at: datetime.datetime | None = Field(default=None, sa_column=sa.Column(Timestamp, nullable=True))


class Notice(SQLModel, table=True):
    """One notice to one firm on one channel about one benefit, or about one change of its amount. The
    unique key makes a second notice for the same benefit and revision impossible, however often events
    are replayed or profiles rebuilt."""

    __tablename__ = "notice"
    __table_args__ = (
        sa.UniqueConstraint("uscc", "clause_id", "channel", "period", "revision", name="uq_notice_benefit"),
        sa.Index("ix_notice_due", "status", "next_attempt_at"),
        sa.Index("ix_notice_digest", "digest_id"),
        sa.Index("ix_notice_firm_channel_status", "uscc", "channel", "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    notice_id: str = Field(sa_column=sa.Column(sa.String(40), nullable=False, unique=True))
    uscc: str = Field(sa_column=sa.Column(sa.String(18), sa.ForeignKey("firm.uscc"), nullable=False, index=True))
    clause_id: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    channel: str = Field(sa_column=sa.Column(sa.String(8), nullable=False))
    period: str = Field(sa_column=sa.Column(sa.String(16), nullable=False))
    decision_id: int = Field(sa_column=sa.Column(sa.Integer, sa.ForeignKey("decision.id"), nullable=False))
    status: str = Field(sa_column=sa.Column(sa.String(16), nullable=False))
    attempts: int = Field(default=0, sa_column=sa.Column(sa.Integer, nullable=False))
    next_attempt_at: datetime.datetime = Field(sa_column=sa.Column(Timestamp, nullable=False))
    lease_until: datetime.datetime | None = Field(default=None, sa_column=sa.Column(Timestamp, nullable=True))
    provider_id: str | None = Field(default=None, sa_column=sa.Column(sa.String(128), nullable=True, index=True))
    message: dict[str, Any] | None = Field(default=None, sa_column=sa.Column(JSONType, nullable=True))
    reason: str | None = Field(default=None, sa_column=sa.Column(sa.Text, nullable=True))
    created_at: datetime.datetime = Field(default_factory=_utcnow, sa_column=sa.Column(Timestamp, nullable=False))
    updated_at: datetime.datetime = Field(default_factory=_utcnow, sa_column=sa.Column(Timestamp, nullable=False))
    #: new | addition | adjustment (engine.notices.outbox).
    kind: str = Field(default="new", sa_column=sa.Column(sa.String(16), nullable=False, server_default="new"))
    #: 0 for the benefit's first notice in its period, one more per change of its amount.
    revision: int = Field(default=0, sa_column=sa.Column(sa.Integer, nullable=False, server_default="0"))
    #: The amount announced (an addition: the new grant).
    amount: float | None = Field(default=None, sa_column=sa.Column(sa.Numeric(18, 2), nullable=True))
    #: The amount told before (an addition: the period's total so far).
    previous_amount: float | None = Field(default=None, sa_column=sa.Column(sa.Numeric(18, 2), nullable=True))
    #: The decision the notice before announced.
    previous_decision_id: int | None = Field(default=None, sa_column=sa.Column(sa.Integer, nullable=True))
    #: The last day of the benefit's window (a notice waking long after it is held).
    closes: datetime.date | None = Field(default=None, sa_column=sa.Column(sa.Date, nullable=True))
    #: The digest (one message to the firm on the channel) this notice went out in: the notice_id of the
    #: digest's first notice, which keeps the message. Set when claimed, kept once handed to the provider.
    digest_id: str | None = Field(default=None, sa_column=sa.Column(sa.String(40), nullable=True))


class NoticeAttempt(SQLModel, table=True):
    """Every send attempt and receipt for a notice, with the provider's raw answer (the delivery timeline)."""

    __tablename__ = "notice_attempt"

    id: int | None = Field(default=None, primary_key=True)
    notice_id: str = Field(sa_column=sa.Column(sa.String(40), sa.ForeignKey("notice.notice_id"), nullable=False, index=True))
    kind: str = Field(sa_column=sa.Column(sa.String(16), nullable=False))
    outcome: str = Field(sa_column=sa.Column(sa.String(16), nullable=False))
    status_after: str = Field(sa_column=sa.Column(sa.String(16), nullable=False))
    provider_id: str | None = Field(default=None, sa_column=sa.Column(sa.String(128), nullable=True))
    response: Any = Field(default=None, sa_column=sa.Column(JSONType, nullable=True))
    reason: str | None = Field(default=None, sa_column=sa.Column(sa.Text, nullable=True))
    at: datetime.datetime = Field(default_factory=_utcnow, sa_column=sa.Column(Timestamp, nullable=False))


class ChannelOptOut(SQLModel, table=True):
    """A firm refused a channel (SMS reply T/TD/退订, or the email one-click link)."""

    __tablename__ = "channel_opt_out"

    uscc: str = Field(sa_column=sa.Column(sa.String(18), sa.ForeignKey("firm.uscc"), primary_key=True))
    channel: str = Field(sa_column=sa.Column(sa.String(8), primary_key=True))
    source: str = Field(sa_column=sa.Column(sa.String(200), nullable=False))
    at: datetime.datetime = Field(sa_column=sa.Column(Timestamp, nullable=False))


class Operator(SQLModel, table=True):
    """A person who uses the console: viewer < operator < admin."""

    __tablename__ = "operator"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(sa_column=sa.Column(sa.String(64), nullable=False, unique=True))
    display_name: str = Field(default="", sa_column=sa.Column(sa.String(100), nullable=False))
    role: str = Field(sa_column=sa.Column(sa.String(16), nullable=False))
    password_hash: str = Field(sa_column=sa.Column(sa.String(200), nullable=False))
    created_at: datetime.datetime = Field(default_factory=_utcnow, sa_column=sa.Column(Timestamp, nullable=False))
    disabled_at: datetime.datetime | None = Field(default=None, sa_column=sa.Column(Timestamp, nullable=True))
    #: The region prefixes the account may see, space-separated (engine.core.scopes); NULL: all regions.
    regions: str | None = Field(default=None, sa_column=sa.Column(sa.String(400), nullable=True))


class ConsoleSession(SQLModel, table=True):
    """A browser session; only the SHA-256 of its cookie is stored."""

    __tablename__ = "console_session"

    id: str = Field(sa_column=sa.Column(sa.String(64), primary_key=True))
    operator_id: int = Field(sa_column=sa.Column(sa.Integer, sa.ForeignKey("operator.id"), nullable=False, index=True))
    csrf_token: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    client_ip: str = Field(default="", sa_column=sa.Column(sa.String(64), nullable=False))
    created_at: datetime.datetime = Field(default_factory=_utcnow, sa_column=sa.Column(Timestamp, nullable=False))
    expires_at: datetime.datetime = Field(sa_column=sa.Column(Timestamp, nullable=False))
    revoked_at: datetime.datetime | None = Field(default=None, sa_column=sa.Column(Timestamp, nullable=True))


class LoginAttempt(SQLModel, table=True):
    """Every console login attempt, for throttling per account and per client address."""

    __tablename__ = "login_attempt"
    __table_args__ = (sa.Index("ix_login_attempt_username_at", "username", "at"), sa.Index("ix_login_attempt_ip_at", "client_ip", "at"))

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    client_ip: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    success: bool = Field(sa_column=sa.Column(sa.Boolean, nullable=False))
    at: datetime.datetime = Field(default_factory=_utcnow, sa_column=sa.Column(Timestamp, nullable=False))


class AuditEntry(SQLModel, table=True):
    """The tamper-evident audit trail: each entry carries the hash of the one before (engine/audit.py)."""

    __tablename__ = "audit_entry"

    seq: int = Field(sa_column=sa.Column(sa.Integer, primary_key=True, autoincrement=False))
    at: datetime.datetime = Field(sa_column=sa.Column(Timestamp, nullable=False, index=True))
    actor: str = Field(sa_column=sa.Column(sa.String(100), nullable=False))
    action: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    subject_type: str = Field(sa_column=sa.Column(sa.String(32), nullable=False))
    subject_id: str = Field(sa_column=sa.Column(sa.String(128), nullable=False))
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=sa.Column(JSONType, nullable=False))
    prev_hash: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    hash: str = Field(sa_column=sa.Column(sa.String(64), nullable=False, unique=True))


class ClauseSetting(SQLModel, table=True):
    """Operator settings per clause: the 二次确认 approval gate."""

    __tablename__ = "clause_setting"

    clause_id: str = Field(sa_column=sa.Column(sa.String(64), primary_key=True))
    needs_approval: bool = Field(default=False, sa_column=sa.Column(sa.Boolean, nullable=False))
    updated_by: str = Field(default="", sa_column=sa.Column(sa.String(100), nullable=False))
    updated_at: datetime.datetime = Field(default_factory=_utcnow, sa_column=sa.Column(Timestamp, nullable=False))


class FirmResponse(SQLModel, table=True):
    """A firm's answer on its own page (我的政策) to one decision: 确认 (confirm) or 有异议 (object, with a reason).

    Append-only: a later answer to the same decision does not erase an earlier one; the page and the
    console read the latest."""

    __tablename__ = "firm_response"

    id: int | None = Field(default=None, primary_key=True)
    uscc: str = Field(sa_column=sa.Column(sa.String(18), sa.ForeignKey("firm.uscc"), nullable=False, index=True))
    clause_id: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    decision_id: int = Field(sa_column=sa.Column(sa.Integer, sa.ForeignKey("decision.id"), nullable=False))
    action: str = Field(sa_column=sa.Column(sa.String(16), nullable=False))
    reason: str | None = Field(default=None, sa_column=sa.Column(sa.Text, nullable=True))
    at: datetime.datetime = Field(sa_column=sa.Column(Timestamp, nullable=False))

    __table_args__ = (sa.Index("ix_firm_response_action_at", "action", "at"),)


class FirmPreference(SQLModel, table=True):
    """What a firm chose on its page (SMS: all, grants_only or none) and when an operator revoked its links."""

    __tablename__ = "firm_preference"

    uscc: str = Field(sa_column=sa.Column(sa.String(18), sa.ForeignKey("firm.uscc"), primary_key=True))
    sms: str = Field(default="all", sa_column=sa.Column(sa.String(16), nullable=False))
    #: Links to the firm's page issued at or before this moment are refused (None: none revoked).
    links_revoked_before: datetime.datetime | None = Field(default=None, sa_column=sa.Column(Timestamp, nullable=True))
    updated_at: datetime.datetime = Field(sa_column=sa.Column(Timestamp, nullable=False))


class WindowOpening(SQLModel, table=True):
    """A clause window's opening, handled once (engine.backfill.opening): its firms judged as of the
    first day, or lapsed (found only after the window closed again). The key keeps it to once."""

    __tablename__ = "window_opening"

    clause_id: str = Field(sa_column=sa.Column(sa.String(64), primary_key=True))
    opens_on: datetime.date = Field(sa_column=sa.Column(sa.Date, primary_key=True))
    outcome: str = Field(sa_column=sa.Column(sa.String(16), nullable=False))
    firms: int = Field(default=0, sa_column=sa.Column(sa.Integer, nullable=False))
    decisions: int = Field(default=0, sa_column=sa.Column(sa.Integer, nullable=False))
    met: int = Field(default=0, sa_column=sa.Column(sa.Integer, nullable=False))
    handled_at: datetime.datetime = Field(sa_column=sa.Column(Timestamp, nullable=False))


class WindowCheck(SQLModel, table=True):
    """How far window openings have been checked: one row (``name`` 'openings'), the last day fully handled."""

    __tablename__ = "window_check"

    name: str = Field(sa_column=sa.Column(sa.String(32), primary_key=True))
    checked_through: datetime.date = Field(sa_column=sa.Column(sa.Date, nullable=False))
    updated_at: datetime.datetime = Field(sa_column=sa.Column(Timestamp, nullable=False))


class BackfillRun(SQLModel, table=True):
    """A backfill shared by several processes (docs/scaling.md): what it judges, as of when, by whom."""

    __tablename__ = "backfill_run"

    run_id: str = Field(sa_column=sa.Column(sa.String(40), primary_key=True))
    as_of: datetime.date = Field(sa_column=sa.Column(sa.Date, nullable=False))
    #: The clause ids judged (a JSON list), or null for every firm-facing clause.
    clause_ids: Any = Field(default=None, sa_column=sa.Column(JSONType, nullable=True))
    actor: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    first_only: bool = Field(default=False, sa_column=sa.Column(sa.Boolean, nullable=False))
    #: The rule versions of the catalogue the run was started with: a process judging with other rules is refused.
    catalogue_version: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    created_at: datetime.datetime = Field(sa_column=sa.Column(Timestamp, nullable=False))


class BackfillBatch(SQLModel, table=True):
    """One key range of a shared backfill: claimed under a lease by one process, judged and written by it."""

    __tablename__ = "backfill_batch"
    __table_args__ = (sa.Index("ix_backfill_batch_claim", "run_id", "status", "seq"),)

    run_id: str = Field(sa_column=sa.Column(sa.String(40), sa.ForeignKey("backfill_run.run_id"), primary_key=True))
    seq: int = Field(sa_column=sa.Column(sa.Integer, primary_key=True, autoincrement=False))
    #: The firms (by USCC) in (after_key, upto_key].
    after_key: str = Field(sa_column=sa.Column(sa.String(32), nullable=False))
    upto_key: str = Field(sa_column=sa.Column(sa.String(32), nullable=False))
    #: pending | claimed | done
    status: str = Field(sa_column=sa.Column(sa.String(16), nullable=False))
    claimed_by: str | None = Field(default=None, sa_column=sa.Column(sa.String(128), nullable=True))
    lease_until: datetime.datetime | None = Field(default=None, sa_column=sa.Column(Timestamp, nullable=True))
    firms: int = Field(default=0, sa_column=sa.Column(sa.Integer, nullable=False))
    recorded: int = Field(default=0, sa_column=sa.Column(sa.Integer, nullable=False))
    notices: int = Field(default=0, sa_column=sa.Column(sa.Integer, nullable=False))
    finished_at: datetime.datetime | None = Field(default=None, sa_column=sa.Column(Timestamp, nullable=True))
