"""The handoff queue's tables, as SQLAlchemy 1.4 models written in the 2.0 style.

Only `store.py` writes them. Enumerations are plain strings guarded by CHECK constraints so the same
schema (and the hand-written Alembic migrations) works unchanged on SQLite and PostgreSQL. The
partial unique index `uq_handoff_tickets_active_conversation` is what guarantees one open or
claimed ticket per conversation, whatever the number of concurrent writers.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, registry
from sqlalchemy.types import TypeDecorator

from bot.intents import ESCALATION_REASONS

REASONS = ESCALATION_REASONS
PRIORITIES = ("urgent", "normal")
STATUSES = ("open", "claimed", "resolved")
ACTIVE_STATUSES = ("open", "claimed")
ROLES = ("staff", "admin")
ALERT_KINDS = ("urgent_new", "urgent_raised", "out_of_hours_new")
ALERT_STATUSES = ("pending", "sent", "failed", "cancelled")

mapper_registry = registry()
# Typed Any: without SQLAlchemy's mypy plugin a generated declarative base is opaque to mypy.
Base: Any = mapper_registry.generate_base()


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on both backends (SQLite drops the offset when storing)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None:
            if value.tzinfo is None:
                raise ValueError("naive datetime given to a UTC column")
            value = value.astimezone(timezone.utc)
            if dialect.name == "sqlite":
                value = value.replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value


def _one_of(column: str, values) -> CheckConstraint:
    allowed = ", ".join(f"'{v}'" for v in values)
    return CheckConstraint(f"{column} IN ({allowed})", name=f"ck_{column}")


class Ticket(Base):
    __tablename__ = "handoff_tickets"
    __table_args__ = (
        _one_of("reason", REASONS),
        _one_of("priority", PRIORITIES),
        _one_of("status", STATUSES),
        Index("uq_handoff_tickets_active_conversation", "conversation_id", unique=True,
              sqlite_where=text("status != 'resolved'"),
              postgresql_where=text("status != 'resolved'")),
        Index("ix_handoff_tickets_status_priority_created", "status", "priority", "created_at"),
    )

    id: Mapped[int] = Column(Integer, primary_key=True)
    conversation_id: Mapped[str] = Column(String(255), nullable=False, index=True)
    channel: Mapped[str] = Column(String(64), nullable=False)
    sender_id: Mapped[str] = Column(String(255), nullable=False)
    reason: Mapped[str] = Column(String(32), nullable=False)
    priority: Mapped[str] = Column(String(16), nullable=False)
    status: Mapped[str] = Column(String(16), nullable=False)
    first_message: Mapped[str] = Column(Text, nullable=False)
    last_user_message: Mapped[str] = Column(Text, nullable=False)
    message_count: Mapped[int] = Column(Integer, nullable=False)
    contact_details: Mapped[str | None] = Column(Text)
    contact_consent: Mapped[bool | None] = Column(Boolean)
    assigned_to: Mapped[str | None] = Column(String(320))
    created_at: Mapped[datetime] = Column(UTCDateTime, nullable=False)
    updated_at: Mapped[datetime] = Column(UTCDateTime, nullable=False)
    claimed_at: Mapped[datetime | None] = Column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = Column(UTCDateTime)


class TicketEvent(Base):
    """Audit trail: who did what to a ticket, and when. `request_id` makes escalations idempotent."""

    __tablename__ = "handoff_ticket_events"
    # The new-ticket cap counts recent "opened" events (`HandoffStore.open_or_append`).
    __table_args__ = (Index("ix_handoff_ticket_events_kind_at", "kind", "at"),)

    id: Mapped[int] = Column(Integer, primary_key=True)
    ticket_id: Mapped[int] = Column(ForeignKey("handoff_tickets.id", ondelete="CASCADE"),
                                     nullable=False, index=True)
    at: Mapped[datetime] = Column(UTCDateTime, nullable=False)
    actor: Mapped[str] = Column(String(320), nullable=False)
    kind: Mapped[str] = Column(String(32), nullable=False)
    detail: Mapped[str] = Column(Text, nullable=False, default="")
    request_id: Mapped[str | None] = Column(String(64), unique=True)


class Note(Base):
    __tablename__ = "handoff_notes"

    id: Mapped[int] = Column(Integer, primary_key=True)
    ticket_id: Mapped[int] = Column(ForeignKey("handoff_tickets.id", ondelete="CASCADE"),
                                     nullable=False, index=True)
    author: Mapped[str] = Column(String(320), nullable=False)
    text: Mapped[str] = Column(Text, nullable=False)
    created_at: Mapped[datetime] = Column(UTCDateTime, nullable=False)


class StaffMessage(Base):
    """A staff reply; `delivered_at` stays NULL until the user's channel has received it, and
    `handed_over_at` is set while one sender is delivering it (see `HandoffStore.claim_pending`)."""

    __tablename__ = "handoff_staff_messages"
    __table_args__ = (Index("ix_handoff_staff_messages_pending", "conversation_id", "delivered_at"),)

    id: Mapped[int] = Column(Integer, primary_key=True)
    ticket_id: Mapped[int] = Column(ForeignKey("handoff_tickets.id", ondelete="CASCADE"),
                                     nullable=False, index=True)
    conversation_id: Mapped[str] = Column(String(255), nullable=False)
    author: Mapped[str] = Column(String(320), nullable=False)
    text: Mapped[str] = Column(Text, nullable=False)
    created_at: Mapped[datetime] = Column(UTCDateTime, nullable=False)
    delivered_at: Mapped[datetime | None] = Column(UTCDateTime)
    handed_over_at: Mapped[datetime | None] = Column(UTCDateTime)


class StaffUser(Base):
    __tablename__ = "handoff_staff_users"
    __table_args__ = (_one_of("role", ROLES),)

    id: Mapped[int] = Column(Integer, primary_key=True)
    email: Mapped[str] = Column(String(320), nullable=False, unique=True)
    password_hash: Mapped[str] = Column(Text, nullable=False)
    role: Mapped[str] = Column(String(16), nullable=False)
    active: Mapped[bool] = Column(Boolean, nullable=False, default=True)
    created_at: Mapped[datetime] = Column(UTCDateTime, nullable=False)


class RevokedSession(Base):
    """A console session ended by logout, kept until its cookie would have expired anyway, so a
    copied cookie stays refused after a restart and on every console process."""

    __tablename__ = "handoff_revoked_sessions"

    nonce: Mapped[str] = Column(String(64), primary_key=True)
    email: Mapped[str] = Column(String(320), nullable=False)
    revoked_at: Mapped[datetime] = Column(UTCDateTime, nullable=False)
    expires_at: Mapped[datetime] = Column(UTCDateTime, nullable=False, index=True)


class ChangeCounter(Base):
    """One row, bumped as the last write of every transaction that changes the queue.

    Its row lock orders commits, so a poller that saw value N has seen every change up to N;
    `max(event.id)` would not be enough on PostgreSQL, where ids are taken before commit order is
    known.
    """

    __tablename__ = "handoff_change_counter"

    id: Mapped[int] = Column(Integer, primary_key=True)
    value: Mapped[int] = Column(BigInteger, nullable=False)


class Alert(Base):
    """One on-call alert for one ticket to one destination ("email" or "webhook") and its outcome.

    Unique per (ticket, kind, destination), so a retried action never pages twice; `next_attempt_at`
    is also the lease a sender takes before trying, so two processes never send the same alert.
    """

    __tablename__ = "handoff_alerts"
    __table_args__ = (
        CheckConstraint(f"kind IN ({', '.join(repr(k) for k in ALERT_KINDS)})", name="ck_alert_kind"),
        CheckConstraint(f"status IN ({', '.join(repr(s) for s in ALERT_STATUSES)})",
                        name="ck_alert_status"),
        UniqueConstraint("ticket_id", "kind", "destination", name="uq_handoff_alerts_once"),
        Index("ix_handoff_alerts_due", "status", "next_attempt_at"),
    )

    id: Mapped[int] = Column(Integer, primary_key=True)
    ticket_id: Mapped[int] = Column(ForeignKey("handoff_tickets.id", ondelete="CASCADE"),
                                     nullable=False, index=True)
    kind: Mapped[str] = Column(String(32), nullable=False)
    destination: Mapped[str] = Column(String(16), nullable=False)
    target: Mapped[str] = Column(String(500), nullable=False)     # shown to staff; never a secret
    status: Mapped[str] = Column(String(16), nullable=False)
    attempts: Mapped[int] = Column(Integer, nullable=False)
    created_at: Mapped[datetime] = Column(UTCDateTime, nullable=False)
    last_attempt_at: Mapped[datetime | None] = Column(UTCDateTime)
    next_attempt_at: Mapped[datetime | None] = Column(UTCDateTime)
    sent_at: Mapped[datetime | None] = Column(UTCDateTime)
    last_error: Mapped[str | None] = Column(String(500))
