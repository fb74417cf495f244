"""`HandoffStore`: the only code that writes the handoff queue.

Every public method is one short transaction that records what it changed in the audit trail
(`TicketEvent`) and bumps the change counter, so the console can poll `last_change_id()` across
processes. Only frozen view dataclasses leave this module; ORM objects never escape a session.
SQLite writers take the database lock up front (`BEGIN IMMEDIATE`, WAL, busy timeout) so
concurrent writers queue instead of failing; on PostgreSQL the partial unique index plus a retry
turns racing escalations of one conversation into appends.
"""
from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
from sqlalchemy import case, create_engine, delete, event, func, select, update
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql import Select

from bot.emails import InvalidEmail, account_email
from bot.handoff.models import (
    ACTIVE_STATUSES,
    ALERT_KINDS,
    REASONS,
    ROLES,
    STATUSES,
    Alert,
    ChangeCounter,
    Note,
    RevokedSession,
    StaffMessage,
    StaffUser,
    Ticket,
    TicketEvent,
    utcnow,
)
from bot.settings import get_settings
from bot.statement_timeout import limit_statements

MAX_TEXT_CHARS = 5000          # notes, staff messages; longer user messages are truncated
MAX_CONTACT_CHARS = 500
ID_LIMITS = {"conversation_id": 255, "channel": 64, "sender_id": 255}   # column sizes
SQLITE_BUSY_TIMEOUT_S = 30     # how long a SQLite writer waits for the lock before giving up
PG_CONNECT_TIMEOUT_S = 5       # an unreachable server fails fast so the outbox can take over
APPEND_ATTEMPTS = 5            # open_or_append retries after losing a race on the unique index
TICKET_CAP_WINDOW = timedelta(minutes=1)
# A delivery claim older than this is void: its holder died between claiming and delivering.
# Far above a delivery's longest legitimate run (a REST request behind nginx's 120 s timeout).
HANDOVER_LEASE = timedelta(minutes=5)
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# Rasa's message ids (uuid hex) and the outbox's own; part of outbox file names, so nothing else.
_REQUEST_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
# The staff actions on a ticket: the statuses each may start from, and what refusing it says.
_STARTS_FROM: dict[str, tuple[tuple[str, ...], str]] = {
    "claim": (ACTIVE_STATUSES, "ticket #{id} is resolved; reopen it first"),
    "reassign": (ACTIVE_STATUSES, "ticket #{id} is resolved; reopen it first"),
    "resolve": (ACTIVE_STATUSES, "ticket #{id} is already resolved"),
    "reply": (ACTIVE_STATUSES, "ticket #{id} is resolved; reopen it to reply"),
    "reopen": (("resolved",), "ticket #{id} is {status}, not resolved"),
}
BOT, SYSTEM = "bot", "system"


class HandoffError(Exception):
    """Base of every error the store raises on purpose."""


class TicketNotFound(HandoffError):
    pass


class MessageNotFound(HandoffError):
    pass


class StaffNotFound(HandoffError):
    pass


class InvalidTransition(HandoffError):
    pass


class InvalidInput(HandoffError):
    pass


class StoreUnavailable(HandoffError):
    """The database cannot be reached (or stayed locked): callers fall back to the outbox."""


class TicketCapReached(HandoffError):
    """Opening this non-urgent ticket would exceed the new-ticket cap; nothing was written."""


@dataclass(frozen=True)
class EscalationRequest:
    """One user message that needs a person. `request_id` makes retries and replays idempotent;
    `requested_at` keeps the real waiting time of requests that were queued offline."""

    conversation_id: str
    channel: str
    sender_id: str
    reason: str
    message: str
    contact_details: str | None = None
    contact_consent: bool | None = None
    request_id: str | None = None
    requested_at: datetime | None = None
    queued_offline: bool = False
    held_back: bool = False     # waited in the outbox because of the new-ticket cap


@dataclass(frozen=True)
class TicketView:
    id: int
    conversation_id: str
    channel: str
    sender_id: str
    reason: str
    priority: str
    status: str
    first_message: str
    last_user_message: str
    message_count: int
    contact_details: str | None
    contact_consent: bool | None
    assigned_to: str | None
    created_at: datetime
    updated_at: datetime
    claimed_at: datetime | None
    resolved_at: datetime | None


@dataclass(frozen=True)
class EscalationResult:
    ticket: TicketView
    created: bool
    duplicate: bool = False     # this request_id had already been applied; nothing changed


@dataclass(frozen=True)
class EventView:
    id: int
    ticket_id: int
    at: datetime
    actor: str
    kind: str
    detail: str


@dataclass(frozen=True)
class NoteView:
    id: int
    ticket_id: int
    author: str
    text: str
    created_at: datetime


@dataclass(frozen=True)
class StaffMessageView:
    id: int
    ticket_id: int
    conversation_id: str
    author: str
    text: str
    created_at: datetime
    delivered_at: datetime | None


@dataclass(frozen=True)
class StaffView:
    email: str
    password_hash: str
    role: str
    active: bool
    created_at: datetime


@dataclass(frozen=True)
class AlertView:
    id: int
    ticket_id: int
    kind: str
    destination: str
    target: str
    status: str
    attempts: int
    created_at: datetime
    last_attempt_at: datetime | None
    next_attempt_at: datetime | None
    sent_at: datetime | None
    last_error: str | None


@dataclass(frozen=True)
class TicketHistory:
    ticket: TicketView
    events: tuple[EventView, ...]
    notes: tuple[NoteView, ...]
    messages: tuple[StaffMessageView, ...]


V = TypeVar("V")


def _view(cls: type[V], row: Any) -> V:
    return cls(**{f.name: getattr(row, f.name) for f in fields(cls)})  # type: ignore[arg-type]


def _engine_for(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        connect_args = {"connect_timeout": PG_CONNECT_TIMEOUT_S} if parsed.get_driver_name() == \
            "psycopg2" else {}
        return limit_statements(create_engine(parsed, future=True, pool_pre_ping=True,
                                              connect_args=connect_args))
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(parsed, future=True, connect_args={
        "timeout": SQLITE_BUSY_TIMEOUT_S, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection, _record) -> None:
        dbapi_connection.isolation_level = None   # SQLAlchemy's "begin" event below emits BEGIN
        for pragma in ("journal_mode=WAL", "foreign_keys=ON"):
            dbapi_connection.execute(f"PRAGMA {pragma}")

    @event.listens_for(engine, "begin")
    def _begin(connection) -> None:
        connection.exec_driver_sql(
            "BEGIN " + connection.get_execution_options().get("sqlite_begin", "DEFERRED"))

    return engine


@contextmanager
def _unavailable_as_store_error(url: str) -> Iterator[None]:
    try:
        yield
    except (OperationalError, InterfaceError, PoolTimeoutError) as exc:
        raise StoreUnavailable(f"handoff database unavailable ({url}): {exc}") from exc
    except DBAPIError as exc:
        if exc.connection_invalidated:
            raise StoreUnavailable(f"handoff database connection lost ({url}): {exc}") from exc
        raise


def _clean(value: str | None) -> str:
    """Stripped, without NUL characters (PostgreSQL refuses them in text columns)."""
    return (value or "").replace("\x00", "").strip()


def _text(value: str, what: str, limit: int = MAX_TEXT_CHARS) -> str:
    value = _clean(value)
    if not value:
        raise InvalidInput(f"{what} is empty")
    if len(value) > limit:
        raise InvalidInput(f"{what} is {len(value)} characters; the limit is {limit}")
    return value


def _email(value: str) -> str:
    try:
        return account_email(value)
    except InvalidEmail as exc:
        raise InvalidInput(f"not a valid staff email address: {(value or '').strip().lower()!r}") from exc


def valid_request_id(value: object) -> str:
    if not isinstance(value, str) or not _REQUEST_ID.fullmatch(value):
        raise InvalidInput(f"request_id must be 1-64 letters, digits, '_' or '-', got {value!r:.80}")
    return value


def _validated(request: EscalationRequest) -> EscalationRequest:
    for name, limit in ID_LIMITS.items():
        _text(getattr(request, name), name, limit)
    if request.reason not in REASONS:
        raise InvalidInput(f"unknown escalation reason {request.reason!r}; one of {REASONS}")
    if request.request_id is not None:
        valid_request_id(request.request_id)
    if request.requested_at is not None and request.requested_at.tzinfo is None:
        raise InvalidInput("requested_at must be timezone-aware")
    if request.contact_consent:
        _text(request.contact_details or "", "contact details", MAX_CONTACT_CHARS)
    return request



# How an appended message that raised its ticket's priority is recorded in the ticket's events.
RAISED_TO_URGENT = "priority raised to urgent"


def _raised_to_urgent() -> Select:
    """The ids of tickets whose priority was raised to urgent (the store records it as an event)."""
    return select(TicketEvent.ticket_id).where(
        TicketEvent.kind == "appended", TicketEvent.detail.like(f"%{RAISED_TO_URGENT}%"))

class HandoffStore:
    """The handoff queue in one SQL database (SQLite file or PostgreSQL)."""

    def __init__(self, engine: Engine):
        self._engine = engine
        self._sessions = sessionmaker(engine, future=True, expire_on_commit=False)
        self._url = engine.url.render_as_string(hide_password=True)
        self._sqlite = engine.dialect.name == "sqlite"
        # SQLite has one writer at a time: queueing this process's writers on a lock is fairer
        # and faster than SQLite's sleeping busy handler (which still arbitrates other processes).
        self._write_turn = threading.Lock() if self._sqlite else nullcontext()

    @classmethod
    def from_url(cls, url: str | None = None) -> HandoffStore:
        """A store for `url`, by default `DATABASE_URL` from the settings."""
        return cls(_engine_for(get_settings().database_url if url is None else url))

    def dispose(self) -> None:
        """Close pooled connections (tests and short-lived CLI processes)."""
        self._engine.dispose()

    # -- transactions ------------------------------------------------------------------------

    @contextmanager
    def _read(self) -> Iterator[Session]:
        with _unavailable_as_store_error(self._url), self._sessions() as session, session.begin():
            yield session

    @contextmanager
    def _write(self) -> Iterator[Session]:
        """One write transaction; the change counter is bumped last so its row lock is held
        only for the commit."""
        with self._write_turn, _unavailable_as_store_error(self._url), \
                self._sessions() as session, session.begin():
            if self._sqlite:
                session.connection(execution_options={"sqlite_begin": "IMMEDIATE"})
            yield session
            session.flush()
            session.execute(update(ChangeCounter).where(ChangeCounter.id == 1)
                            .values(value=ChangeCounter.value + 1))

    def create_schema(self) -> None:
        """Migrate the database to the newest Alembic revision (idempotent)."""
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS_DIR))
        with _unavailable_as_store_error(self._url), self._engine.connect() as connection:
            connection = connection.execution_options(sqlite_begin="IMMEDIATE")
            with connection.begin():
                config.attributes["connection"] = connection
                command.upgrade(config, "head")

    # -- helpers used inside a transaction ---------------------------------------------------

    @staticmethod
    def _locked(session: Session, ticket_id: int, action: str | None = None) -> Ticket:
        """The ticket, row-locked; with `action`, only if its status allows it (`_STARTS_FROM`)."""
        ticket = session.execute(
            select(Ticket).where(Ticket.id == ticket_id).with_for_update()).scalar_one_or_none()
        if ticket is None:
            raise TicketNotFound(f"no ticket #{ticket_id}")
        if action is not None:
            statuses, refusal = _STARTS_FROM[action]
            if ticket.status not in statuses:
                raise InvalidTransition(refusal.format(id=ticket_id, status=ticket.status))
        return ticket

    @staticmethod
    def _record(session: Session, ticket: Ticket, actor: str, kind: str, detail: str = "",
                at: datetime | None = None, request_id: str | None = None) -> None:
        at = at or utcnow()
        ticket.updated_at = at
        session.add(TicketEvent(ticket_id=ticket.id, at=at, actor=actor, kind=kind, detail=detail,
                                request_id=request_id))

    @staticmethod
    def _apply_contact(ticket: Ticket, details: str | None, consent: bool) -> str:
        ticket.contact_consent = consent
        ticket.contact_details = _clean(details) if consent else None
        return "consent given; contact details stored" if consent else \
            "consent refused; no contact details stored"

    # -- escalations -------------------------------------------------------------------------

    def open_or_append(self, request: EscalationRequest, new_ticket_cap: int = 0) -> EscalationResult:
        """Open a ticket for the conversation, or append to its open/claimed one.

        With `new_ticket_cap` > 0, a non-urgent request that would open a new ticket while that
        many tickets were opened in the last minute raises `TicketCapReached` instead (the caller
        keeps it: `bot.handoff.outbox`). Appends and urgent tickets are never capped.
        """
        request = _validated(request)
        for attempt in range(1, APPEND_ATTEMPTS + 1):
            try:
                with self._write() as session:
                    return self._open_or_append(session, request, new_ticket_cap)
            except IntegrityError as exc:
                # Another writer opened this conversation's ticket (or applied this request_id)
                # first; the next attempt sees its commit and appends (or reports a duplicate).
                if attempt == APPEND_ATTEMPTS:
                    raise StoreUnavailable(f"escalation kept colliding with others: {exc}") from exc
        raise AssertionError("unreachable")

    def _open_or_append(self, session: Session, request: EscalationRequest,
                        new_ticket_cap: int) -> EscalationResult:
        if request.request_id is not None:
            seen = session.execute(select(TicketEvent.ticket_id).where(
                TicketEvent.request_id == request.request_id)).scalar_one_or_none()
            if seen is not None:
                return EscalationResult(_view(TicketView, session.get(Ticket, seen)),
                                        created=False, duplicate=True)
        now = utcnow()
        message = _clean(request.message)[:MAX_TEXT_CHARS]
        ticket = session.execute(
            select(Ticket).where(Ticket.conversation_id == request.conversation_id,
                                 Ticket.status.in_(ACTIVE_STATUSES)).with_for_update()
        ).scalar_one_or_none()
        created = ticket is None
        if created and new_ticket_cap > 0 and request.reason != "emergency":
            self._check_ticket_cap(session, new_ticket_cap, now)
        if created:
            ticket = Ticket(
                conversation_id=request.conversation_id, channel=request.channel,
                sender_id=request.sender_id, reason=request.reason,
                priority="urgent" if request.reason == "emergency" else "normal",
                status="open", first_message=message, last_user_message=message, message_count=1,
                created_at=request.requested_at or now, updated_at=now)
            session.add(ticket)
            session.flush()
            self._record(session, ticket, BOT, "opened", f"{ticket.reason}, {ticket.priority}",
                         now, request.request_id)
        else:
            ticket.last_user_message = message
            ticket.message_count += 1
            ticket.channel = request.channel
            detail = f"message {ticket.message_count} ({request.reason})"
            if request.reason == "emergency" and ticket.priority != "urgent":
                ticket.priority, ticket.reason = "urgent", "emergency"
                detail += f"; {RAISED_TO_URGENT}"
            self._record(session, ticket, BOT, "appended", detail, now, request.request_id)
        if request.queued_offline:
            self._record(session, ticket, SYSTEM, "replayed",
                         f"queued offline at {(request.requested_at or now).isoformat()}", now)
        if request.held_back:
            self._record(session, ticket, SYSTEM, "held_back",
                         f"waited from {(request.requested_at or now).isoformat()}: too many new "
                         "tickets a minute", now)
        if request.contact_consent is not None:
            self._record(session, ticket, BOT, "contact_saved", self._apply_contact(
                ticket, request.contact_details, request.contact_consent), now)
        session.flush()
        return EscalationResult(_view(TicketView, ticket), created=created)

    @staticmethod
    def _check_ticket_cap(session: Session, cap: int, now: datetime) -> None:
        # Capped openings queue on the change counter's row lock (SQLite has one writer anyway),
        # so each counts the openings committed before it: the cap is exact on both backends.
        session.execute(select(ChangeCounter.id).where(ChangeCounter.id == 1).with_for_update())
        opened = session.execute(select(func.count()).where(
            TicketEvent.kind == "opened", TicketEvent.at >= now - TICKET_CAP_WINDOW)).scalar_one()
        if opened >= cap:
            raise TicketCapReached(f"{cap} new tickets were opened in the last minute")

    def append_during_handoff(self, conversation_id: str, channel: str, message: str,
                              request_id: str | None = None) -> TicketView | None:
        """Add a message the patient wrote while staff hold the chat (the bot is paused, so no
        escalation runs) to the conversation's active ticket; None if it has none. Idempotent
        per `request_id` (Rasa's message id)."""
        _text(conversation_id, "conversation_id", ID_LIMITS["conversation_id"])
        with self._write() as session:
            if request_id is not None and session.execute(select(TicketEvent.id).where(
                    TicketEvent.request_id == _text(request_id, "request_id", 64))).first():
                return None
            ticket = session.execute(
                select(Ticket).where(Ticket.conversation_id == conversation_id,
                                     Ticket.status.in_(ACTIVE_STATUSES)).with_for_update()
            ).scalar_one_or_none()
            if ticket is None:
                return None
            ticket.last_user_message = _clean(message)[:MAX_TEXT_CHARS]
            ticket.message_count += 1
            ticket.channel = _text(channel, "channel", ID_LIMITS["channel"])
            self._record(session, ticket, BOT, "appended",
                         f"message {ticket.message_count} (during handoff)", request_id=request_id)
            session.flush()
            return _view(TicketView, ticket)

    # -- reading -----------------------------------------------------------------------------

    def get(self, ticket_id: int) -> TicketView:
        with self._read() as session:
            ticket = session.get(Ticket, ticket_id)
            if ticket is None:
                raise TicketNotFound(f"no ticket #{ticket_id}")
            return _view(TicketView, ticket)

    def open_ticket_for(self, conversation_id: str) -> TicketView | None:
        with self._read() as session:
            ticket = session.execute(select(Ticket).where(
                Ticket.conversation_id == conversation_id,
                Ticket.status.in_(ACTIVE_STATUSES))).scalar_one_or_none()
            return None if ticket is None else _view(TicketView, ticket)

    def list_tickets(self, statuses: Sequence[str] = ACTIVE_STATUSES,
                     limit: int = 200) -> list[TicketView]:
        """Tickets in `statuses`, urgent first, then longest waiting first."""
        unknown = set(statuses) - set(STATUSES)
        if unknown:
            raise InvalidInput(f"unknown status {sorted(unknown)}; one of {STATUSES}")
        urgent_first = case((Ticket.priority == "urgent", 0), else_=1)
        with self._read() as session:
            rows = session.execute(
                select(Ticket).where(Ticket.status.in_(tuple(statuses)))
                .order_by(urgent_first, Ticket.created_at, Ticket.id).limit(limit)).scalars()
            return [_view(TicketView, row) for row in rows]

    def unread_counts(self, ticket_ids: Sequence[int]) -> dict[int, int]:
        """Patient messages added to each ticket since staff last claimed or replied to it."""
        staff_seen = (select(TicketEvent.ticket_id, func.max(TicketEvent.id).label("last"))
                      .where(TicketEvent.kind.in_(("claimed", "staff_message")),
                             TicketEvent.ticket_id.in_(list(ticket_ids)))
                      .group_by(TicketEvent.ticket_id).subquery())
        with self._read() as session:
            rows = session.execute(
                select(TicketEvent.ticket_id, func.count())
                .outerjoin(staff_seen, staff_seen.c.ticket_id == TicketEvent.ticket_id)
                .where(TicketEvent.kind == "appended", TicketEvent.ticket_id.in_(list(ticket_ids)),
                       TicketEvent.id > func.coalesce(staff_seen.c.last, 0))
                .group_by(TicketEvent.ticket_id)).all()
        return {ticket_id: count for ticket_id, count in rows}

    def counts(self) -> dict:
        """Ticket numbers per status, plus `urgent_open`: urgent tickets nobody has claimed."""
        with self._read() as session:
            by_status = dict(session.execute(
                select(Ticket.status, func.count()).group_by(Ticket.status)).all())
            urgent_open = session.execute(select(func.count()).where(
                Ticket.status == "open", Ticket.priority == "urgent")).scalar_one()
        return {"open": by_status.get("open", 0), "claimed": by_status.get("claimed", 0),
                "urgent_open": urgent_open, "resolved": by_status.get("resolved", 0)}

    def history(self, ticket_id: int) -> TicketHistory:
        with self._read() as session:
            ticket = session.get(Ticket, ticket_id)
            if ticket is None:
                raise TicketNotFound(f"no ticket #{ticket_id}")

            def rows(model, view):
                return tuple(_view(view, row) for row in session.execute(
                    select(model).where(model.ticket_id == ticket_id).order_by(model.id)).scalars())

            return TicketHistory(_view(TicketView, ticket), rows(TicketEvent, EventView),
                                 rows(Note, NoteView), rows(StaffMessage, StaffMessageView))

    def last_change_id(self) -> int:
        """Grows by one with every committed change; poll it to know when to refresh."""
        with self._read() as session:
            return session.execute(select(ChangeCounter.value).where(ChangeCounter.id == 1)
                                   ).scalar_one()

    # -- staff actions on tickets ------------------------------------------------------------

    def claim(self, ticket_id: int, staff: str) -> TicketView:
        """Assign an open ticket to `staff`; claiming one's own ticket again changes nothing."""
        staff = _email(staff)
        with self._write() as session:
            ticket = self._locked(session, ticket_id, "claim")
            if ticket.status == "claimed" and ticket.assigned_to != staff:
                raise InvalidTransition(
                    f"ticket #{ticket_id} is already claimed by {ticket.assigned_to}; "
                    "reassign it instead")
            if ticket.status == "open":
                now = utcnow()
                ticket.status, ticket.assigned_to, ticket.claimed_at = "claimed", staff, now
                self._record(session, ticket, staff, "claimed", "", now)
            return _view(TicketView, ticket)

    def reassign(self, ticket_id: int, staff: str, to_staff: str) -> TicketView:
        staff, to_staff = _email(staff), _email(to_staff)
        with self._write() as session:
            ticket = self._locked(session, ticket_id, "reassign")
            if ticket.assigned_to != to_staff:
                now = utcnow()
                previous = ticket.assigned_to or "nobody"
                ticket.status, ticket.assigned_to, ticket.claimed_at = "claimed", to_staff, now
                self._record(session, ticket, staff, "reassigned", f"{previous} -> {to_staff}", now)
            return _view(TicketView, ticket)

    def resolve(self, ticket_id: int, staff: str, farewell: str | None = None) -> TicketView:
        """Close a ticket; `farewell` is stored as the last staff message in the same transaction,
        so a retried resolve never says goodbye twice."""
        staff = _email(staff)
        with self._write() as session:
            ticket = self._locked(session, ticket_id, "resolve")
            now = utcnow()
            if farewell is not None:
                self._add_staff_message(session, ticket, staff, _text(farewell, "message"), now)
            ticket.status, ticket.resolved_at = "resolved", now
            self._record(session, ticket, staff, "resolved", "", now)
            return _view(TicketView, ticket)

    def reopen(self, ticket_id: int, staff: str) -> TicketView:
        """Reopen a resolved ticket, unless its conversation already has a newer active one."""
        staff = _email(staff)
        try:
            with self._write() as session:
                ticket = self._locked(session, ticket_id, "reopen")
                ticket.status = "open"
                ticket.assigned_to = ticket.claimed_at = ticket.resolved_at = None
                self._record(session, ticket, staff, "reopened")
                session.flush()
                return _view(TicketView, ticket)
        except IntegrityError as exc:
            active = self.open_ticket_for(self.get(ticket_id).conversation_id)
            raise InvalidTransition(
                f"conversation of ticket #{ticket_id} already has active ticket "
                f"#{active.id if active else '?'}") from exc

    def add_staff_message(self, ticket_id: int, staff: str, text: str) -> StaffMessageView:
        """Store a staff reply for delivery; resolved tickets take no replies."""
        staff, text = _email(staff), _text(text, "message")
        with self._write() as session:
            ticket = self._locked(session, ticket_id, "reply")
            return self._add_staff_message(session, ticket, staff, text, utcnow())

    def _add_staff_message(self, session: Session, ticket: Ticket, staff: str, text: str,
                           now: datetime) -> StaffMessageView:
        message = StaffMessage(ticket_id=ticket.id, conversation_id=ticket.conversation_id,
                               author=staff, text=text, created_at=now)
        session.add(message)
        session.flush()
        self._record(session, ticket, staff, "staff_message", f"message #{message.id}", now)
        return _view(StaffMessageView, message)

    def mark_delivered(self, message_id: int) -> StaffMessageView:
        """Note that the user's channel received a staff message (idempotent)."""
        with self._write() as session:
            message = session.execute(select(StaffMessage).where(StaffMessage.id == message_id)
                                      .with_for_update()).scalar_one_or_none()
            if message is None:
                raise MessageNotFound(f"no staff message #{message_id}")
            if message.delivered_at is None:
                now = utcnow()
                message.delivered_at = now
                self._record(session, session.get(Ticket, message.ticket_id), SYSTEM, "delivered",
                             f"message #{message.id}", now)
            return _view(StaffMessageView, message)

    def pending_messages(self, conversation_id: str) -> list[StaffMessageView]:
        """Undelivered staff messages for a conversation, oldest first."""
        with self._read() as session:
            rows = session.execute(select(StaffMessage).where(
                StaffMessage.conversation_id == conversation_id,
                StaffMessage.delivered_at.is_(None)).order_by(StaffMessage.id)).scalars()
            return [_view(StaffMessageView, row) for row in rows]

    def claim_pending(self, conversation_id: str,
                      lease: timedelta = HANDOVER_LEASE) -> list[StaffMessageView]:
        """Claim a conversation's undelivered staff messages for one delivery, oldest first.

        [] when none wait, or when another sender holds a live claim on any of them (it delivers
        them, in order). The rows are locked while claimed, so of two concurrent claimers exactly
        one gets the messages. The holder then calls `mark_delivered` for each message that went
        out and `release` for the rest."""
        if not self.pending_messages(conversation_id):
            return []  # the common case (a REST user writing), without a write transaction
        with self._write() as session:
            now = utcnow()
            rows = session.execute(select(StaffMessage).where(
                StaffMessage.conversation_id == conversation_id,
                StaffMessage.delivered_at.is_(None)).order_by(StaffMessage.id)
                .with_for_update()).scalars().all()
            if any(row.handed_over_at is not None and row.handed_over_at > now - lease
                   for row in rows):
                return []
            for row in rows:
                row.handed_over_at = now
            return [_view(StaffMessageView, row) for row in rows]

    def release(self, message_ids: Sequence[int]) -> None:
        """Give claimed messages back undelivered (their delivery failed): they are pending again."""
        if not message_ids:
            return
        with self._write() as session:
            session.execute(update(StaffMessage).where(
                StaffMessage.id.in_(list(message_ids)), StaffMessage.delivered_at.is_(None))
                .values(handed_over_at=None))

    def conversations_with_pending(self, lease: timedelta = HANDOVER_LEASE,
                                   limit: int = 500) -> list[str]:
        """Conversations with staff messages that wait for delivery and that nobody is delivering,
        longest waiting first (the background push retry)."""
        stale = utcnow() - lease
        with self._read() as session:
            rows = session.execute(
                select(StaffMessage.conversation_id).where(
                    StaffMessage.delivered_at.is_(None),
                    (StaffMessage.handed_over_at.is_(None)) | (StaffMessage.handed_over_at < stale))
                .group_by(StaffMessage.conversation_id)
                .order_by(func.min(StaffMessage.id)).limit(limit)).scalars()
            return list(rows)

    def add_note(self, ticket_id: int, staff: str, text: str) -> NoteView:
        """An internal note (never shown to the user); allowed on resolved tickets too."""
        staff, text = _email(staff), _text(text, "note")
        with self._write() as session:
            ticket = self._locked(session, ticket_id)
            now = utcnow()
            note = Note(ticket_id=ticket.id, author=staff, text=text, created_at=now)
            session.add(note)
            session.flush()
            self._record(session, ticket, staff, "note", f"note #{note.id}", now)
            return _view(NoteView, note)

    def save_contact(self, ticket_id: int, contact_details: str | None,
                     consent: bool) -> TicketView:
        """Keep contact details only with consent; the decision is recorded either way."""
        if consent:
            _text(contact_details or "", "contact details", MAX_CONTACT_CHARS)
        with self._write() as session:
            ticket = self._locked(session, ticket_id)
            self._record(session, ticket, BOT, "contact_saved",
                         self._apply_contact(ticket, contact_details, bool(consent)))
            return _view(TicketView, ticket)

    def purge_resolved(self, before: datetime) -> int:
        """Delete tickets resolved before `before` with their events, notes and messages."""
        return self._delete_tickets(
            select(Ticket.id).where(Ticket.status == "resolved", Ticket.resolved_at < before))

    def tickets_for(self, conversation_id: str) -> list[TicketView]:
        """Every ticket of one conversation, oldest first, whatever its status (data export)."""
        with self._read() as session:
            rows = session.execute(select(Ticket).where(Ticket.conversation_id == conversation_id)
                                   .order_by(Ticket.id)).scalars()
            return [_view(TicketView, row) for row in rows]

    def delete_conversation(self, conversation_id: str) -> int:
        """Delete every ticket of one conversation, with its events, notes and messages (a user's
        erasure request); returns how many tickets."""
        return self._delete_tickets(select(Ticket.id).where(Ticket.conversation_id == conversation_id))

    def _delete_tickets(self, which) -> int:
        with self._write() as session:
            ids = list(session.execute(which).scalars())
            for child in (TicketEvent, Note, StaffMessage, Alert):
                session.execute(delete(child).where(child.ticket_id.in_(ids)))
            session.execute(delete(Ticket).where(Ticket.id.in_(ids)))
            return len(ids)

    # -- on-call alerts (bot/alerts sends them; the store keeps each one's outcome) ------------

    def start_alerts(self, ticket_id: int, kind: str, destinations: Sequence[tuple[str, str]],
                     lease_until: datetime) -> tuple[list[AlertView], list[AlertView]]:
        """Record a first attempt of alert `kind` for each (destination, target) and lease it to
        the caller until `lease_until`; returns (new alerts to send now, ones recorded earlier)."""
        if kind not in ALERT_KINDS:
            raise InvalidInput(f"unknown alert kind {kind!r}; one of {ALERT_KINDS}")
        with self._write() as session:
            ticket = self._locked(session, ticket_id)   # row lock: concurrent callers take turns
            earlier = {a.destination: a for a in session.execute(select(Alert).where(
                Alert.ticket_id == ticket.id, Alert.kind == kind)).scalars()}
            now, fresh = utcnow(), []
            for destination, target in destinations:
                if destination not in earlier:
                    fresh.append(Alert(ticket_id=ticket.id, kind=kind, destination=destination,
                                       target=target[:500], status="pending", attempts=1,
                                       created_at=now, last_attempt_at=now,
                                       next_attempt_at=lease_until))
            session.add_all(fresh)
            session.flush()
            return ([_view(AlertView, a) for a in fresh],
                    [_view(AlertView, a) for a in earlier.values()])

    def urgent_without_alert(self, since: datetime, limit: int = 50) -> list[tuple[TicketView, str]]:
        """Active urgent tickets changed since `since` that have no urgent alert record yet (an
        emergency replayed from the outbox, or a caller that never alerted), each with the kind
        it needs: urgent_raised if it was raised, else urgent_new."""
        alerted = select(Alert.ticket_id).where(Alert.kind.in_(("urgent_new", "urgent_raised")))
        raised = _raised_to_urgent()
        with self._read() as session:
            rows = session.execute(
                select(Ticket, Ticket.id.in_(raised)).where(
                    Ticket.status.in_(ACTIVE_STATUSES), Ticket.priority == "urgent",
                    Ticket.updated_at >= since, Ticket.id.not_in(alerted))
                .order_by(Ticket.id).limit(limit)).all()
            return [(_view(TicketView, ticket), "urgent_raised" if was_raised else "urgent_new")
                    for ticket, was_raised in rows]

    def raised_to_urgent(self, ticket_ids: Iterable[int]) -> set[int]:
        """Which of these tickets became urgent after they were opened (a red flag while waiting
        or held), as opposed to opened urgent."""
        ids = list(ticket_ids)
        if not ids:
            return set()
        with self._read() as session:
            return set(session.execute(
                _raised_to_urgent().where(TicketEvent.ticket_id.in_(ids))).scalars())

    def take_due_alerts(self, now: datetime, lease_until: datetime,
                        limit: int = 50) -> list[tuple[AlertView, TicketView]]:
        """Lease pending alerts whose retry time has come (one more attempt each) with their
        tickets; alerts of tickets resolved meanwhile are cancelled instead."""
        with self._write() as session:
            due = session.execute(
                select(Alert).where(Alert.status == "pending", Alert.next_attempt_at <= now)
                .order_by(Alert.next_attempt_at, Alert.id).limit(limit)
                .with_for_update(skip_locked=True)).scalars().all()
            taken = []
            for alert in due:
                ticket = session.get(Ticket, alert.ticket_id)
                if ticket.status == "resolved":
                    alert.status, alert.next_attempt_at = "cancelled", None
                    continue
                alert.attempts += 1
                alert.last_attempt_at, alert.next_attempt_at = now, lease_until
                taken.append((_view(AlertView, alert), _view(TicketView, ticket)))
            return taken

    def finish_alert_attempt(self, alert_id: int, error: str | None = None,
                             retry_at: datetime | None = None) -> AlertView:
        """Record an attempt's outcome: sent (no `error`), pending until `retry_at`, or failed."""
        with self._write() as session:
            alert = session.execute(select(Alert).where(Alert.id == alert_id).with_for_update()
                                    ).scalar_one_or_none()
            if alert is None:
                raise InvalidInput(f"no alert #{alert_id}")
            if error is None:
                alert.status, alert.sent_at, alert.next_attempt_at = "sent", utcnow(), None
            else:
                alert.status = "pending" if retry_at is not None else "failed"
                alert.next_attempt_at, alert.last_error = retry_at, _clean(error)[:500]
            return _view(AlertView, alert)

    def alerts_for(self, ticket_id: int) -> list[AlertView]:
        with self._read() as session:
            return [_view(AlertView, a) for a in session.execute(
                select(Alert).where(Alert.ticket_id == ticket_id).order_by(Alert.id)).scalars()]

    # -- staff accounts (the web console hashes passwords; the store only keeps hashes) --------

    def add_staff(self, email: str, password_hash: str, role: str = "staff") -> StaffView:
        email, password_hash = _email(email), _text(password_hash, "password hash")
        if role not in ROLES:
            raise InvalidInput(f"unknown role {role!r}; one of {ROLES}")
        try:
            with self._write() as session:
                user = StaffUser(email=email, password_hash=password_hash, role=role, active=True,
                                 created_at=utcnow())
                session.add(user)
                session.flush()
                return _view(StaffView, user)
        except IntegrityError as exc:
            raise InvalidInput(f"staff member {email} already exists") from exc

    def get_staff(self, email: str) -> StaffView | None:
        with self._read() as session:
            user = session.execute(select(StaffUser).where(
                StaffUser.email == email.strip().lower())).scalar_one_or_none()
            return None if user is None else _view(StaffView, user)

    def list_staff(self) -> list[StaffView]:
        with self._read() as session:
            return [_view(StaffView, user) for user in
                    session.execute(select(StaffUser).order_by(StaffUser.email)).scalars()]

    def set_staff_password(self, email: str, password_hash: str) -> StaffView:
        email, password_hash = _email(email), _text(password_hash, "password hash")
        with self._write() as session:
            user = session.execute(select(StaffUser).where(StaffUser.email == email)
                                   ).scalar_one_or_none()
            if user is None:
                raise StaffNotFound(f"no staff member {email}")
            user.password_hash = password_hash
            return _view(StaffView, user)

    def replace_password_hash(self, email: str, expected: str, password_hash: str) -> bool:
        """Store an upgraded hash only if the account still has `expected` (a password changed
        meanwhile wins); True if it was replaced."""
        email, password_hash = _email(email), _text(password_hash, "password hash")
        with self._write() as session:
            replaced = session.execute(
                update(StaffUser).where(StaffUser.email == email, StaffUser.password_hash == expected)
                .values(password_hash=password_hash))
            return replaced.rowcount == 1

    # -- console sessions ended by logout ------------------------------------------------------

    def revoke_session(self, nonce: str, email: str, expires_at: datetime) -> None:
        """Refuse this session from now on, until `expires_at` (when its cookie would expire
        anyway); revocations already past that are pruned here. Revoking twice is harmless."""
        nonce, email = _text(nonce, "session nonce", 64), _email(email)
        now = utcnow()
        try:
            with self._write() as session:
                session.execute(delete(RevokedSession).where(RevokedSession.expires_at <= now))
                if session.get(RevokedSession, nonce) is None:
                    session.add(RevokedSession(nonce=nonce, email=email, revoked_at=now,
                                               expires_at=expires_at))
        except IntegrityError:
            pass                              # another logout of the same session won the race

    def session_revoked(self, nonce: str) -> bool:
        with self._read() as session:
            return session.execute(select(RevokedSession.nonce).where(
                RevokedSession.nonce == nonce, RevokedSession.expires_at > utcnow())
            ).first() is not None
