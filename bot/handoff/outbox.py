"""A durable local spool for escalations made while the handoff database is unreachable.

Each request becomes one JSON file, written to a temporary name, fsynced and renamed into place,
so a crash leaves either the whole request or nothing. Every request carries a unique
`request_id` that the store records with the ticket event, so replaying a file whose commit
succeeded just before a crash (file not yet deleted) is a no-op instead of a second append.
Several processes may share the directory: whoever replays a file first applies it.

The same spool holds non-urgent requests over the new-ticket cap (`NEW_TICKETS_PER_MINUTE`): in a
flood (a script opening conversations, a misbehaving integration) the care team's queue fills at
most that fast, and nothing is lost. A held request keeps its place and its real waiting time,
enters the queue as soon as the cap allows (on the next escalation or outbox replay), and its
ticket says it was held back; the patient is told honestly that the request is saved and waiting
its turn, with the emergency line. Urgent requests and messages for an existing ticket are never
held, and an urgent request queued behind held ones goes first.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from bot.handoff.models import utcnow
from bot.handoff.store import (
    EscalationRequest,
    EscalationResult,
    HandoffStore,
    InvalidInput,
    StoreUnavailable,
    TicketCapReached,
    valid_request_id,
)
from bot.settings import get_settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReplayReport:
    applied: int = 0          # files applied (or found already applied) and deleted
    rejected: int = 0         # unreadable or invalid files moved to rejected/
    remaining: int = 0        # files left because the database went away again
    held: int = 0             # files left because of the new-ticket cap


@dataclass(frozen=True)
class EscalationOutcome:
    """What `escalate` did: `result` is None exactly when the request was queued offline or held
    back by the new-ticket cap."""

    result: EscalationResult | None
    queued_offline: bool
    replay: ReplayReport = ReplayReport()
    held_back: bool = False


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Outbox:
    """Escalation requests waiting in `directory` for the database to come back."""

    HELD_SUFFIX = ".held.json"   # held back by the cap: never urgent, skipped unread while capped

    def __init__(self, directory: Path, new_tickets_per_minute: int | None = None):
        self.directory = Path(directory)
        self.rejected_dir = self.directory / "rejected"
        # Every outbox of a deployment applies the same cap, so no replay drains held requests
        # faster than it allows.
        self.new_tickets_per_minute = get_settings().new_tickets_per_minute \
            if new_tickets_per_minute is None else new_tickets_per_minute

    def put(self, request: EscalationRequest, held_back: bool = False) -> Path:
        """Durably store `request` (given an id and time if missing); returns its file.
        `held_back`: the database works, but the new-ticket cap was reached."""
        requested_at = (request.requested_at or utcnow()).astimezone(timezone.utc)
        request_id = valid_request_id(request.request_id or uuid.uuid4().hex)  # part of the file name
        request = dataclasses.replace(request, request_id=request_id, requested_at=requested_at,
                                      queued_offline=not held_back, held_back=held_back)
        payload = dataclasses.asdict(request)
        payload["requested_at"] = requested_at.isoformat()
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        # Names sort by time, so replay keeps the order users wrote in.
        name = f"{requested_at.strftime('%Y%m%dT%H%M%S%f')}-{request.request_id}" + \
            (self.HELD_SUFFIX if held_back else ".json")
        final = self.directory / name
        temporary = self.directory / f".{name}.tmp"
        # Health questions and contact details: readable by this user only.
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            json.dump(payload, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, final)
        _fsync_dir(self.directory)
        return final

    def pending(self) -> list[Path]:
        if not self.directory.is_dir():
            return []
        return sorted(self.directory.glob("*.json"))

    def _files(self) -> list[Path]:
        """Every file that may hold a request: pending, rejected, and temporaries of a crash."""
        return [path for directory in (self.directory, self.rejected_dir) if directory.is_dir()
                for path in directory.iterdir() if path.is_file()]

    def forget_conversation(self, conversation_id: str) -> int:
        """Delete every file (pending or rejected) of one conversation, for erasure on request;
        the number deleted. Files too damaged to attribute are left to `purge_rejected`."""
        deleted = 0
        for path in self._files():
            try:
                payload = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, ValueError):
                continue
            if isinstance(payload, dict) and conversation_id in (payload.get("conversation_id"),
                                                                  payload.get("sender_id")):
                path.unlink(missing_ok=True)
                deleted += 1
        return deleted

    def purge_rejected(self, before: datetime) -> int:
        """Delete rejected files, and temporaries left by a crash, last written before `before`;
        pending requests are kept (they still have to reach the queue). The number deleted."""
        deleted = 0
        for path in self._files():
            if path.parent == self.directory and not path.name.endswith(".tmp"):
                continue
            try:
                if path.stat().st_mtime < before.timestamp():
                    path.unlink()
                    deleted += 1
            except FileNotFoundError:
                continue
        return deleted

    @staticmethod
    def load(path: Path) -> EscalationRequest:
        payload = json.loads(path.read_text(encoding="utf-8"))
        payload["requested_at"] = datetime.fromisoformat(payload["requested_at"])
        return EscalationRequest(**payload)

    def replay(self, store: HandoffStore) -> ReplayReport:
        """Apply pending requests oldest first; stop (keeping the rest) if the store fails. Once
        the new-ticket cap is reached, only urgent requests are still applied."""
        applied = rejected = held = 0
        capped = False
        pending = self.pending()
        for index, path in enumerate(pending):
            if capped and path.name.endswith(self.HELD_SUFFIX):
                held += 1
                continue
            try:
                request = self.load(path)
                if capped and request.reason != "emergency":
                    held += 1
                    continue
                store.open_or_append(request, self.new_tickets_per_minute)
            except FileNotFoundError:
                continue                      # another process replayed it meanwhile
            except TicketCapReached:
                capped, held = True, held + 1
                continue
            except StoreUnavailable:
                return ReplayReport(applied, rejected, len(pending) - index, held)
            except (InvalidInput, ValueError, TypeError, KeyError) as exc:
                log.error("outbox file %s cannot be applied (%s); moved to %s",
                          path.name, exc, self.rejected_dir)
                self.rejected_dir.mkdir(exist_ok=True)
                try:
                    os.replace(path, self.rejected_dir / path.name)
                except FileNotFoundError:
                    continue                  # another process set it aside first
                rejected += 1
                continue
            path.unlink(missing_ok=True)
            applied += 1
        if applied or rejected:
            _fsync_dir(self.directory)
        return ReplayReport(applied, rejected, 0, held)


def escalate(store: HandoffStore, outbox: Outbox, request: EscalationRequest) -> EscalationOutcome:
    """The actions server's one call: queue `request` for a person, whatever the database does.

    Older offline requests are replayed first so a conversation's messages keep their order;
    if the database is unreachable the request goes to the outbox instead.
    """
    if request.request_id is None:
        request = dataclasses.replace(request, request_id=uuid.uuid4().hex)
    try:
        report = outbox.replay(store) if outbox.pending() else ReplayReport()
        if report.remaining:
            raise StoreUnavailable("handoff database went away during outbox replay")
        result = store.open_or_append(request, outbox.new_tickets_per_minute)
    except TicketCapReached:
        log.warning("over %d new tickets a minute: a non-urgent escalation waits in the outbox",
                    outbox.new_tickets_per_minute)
        outbox.put(request, held_back=True)
        return EscalationOutcome(result=None, queued_offline=False, held_back=True)
    except StoreUnavailable as exc:
        log.warning("handoff database unavailable, escalation queued offline: %s", exc)
        outbox.put(request)
        return EscalationOutcome(result=None, queued_offline=True)
    return EscalationOutcome(result=result, queued_offline=False, replay=report)
