"""A durable local spool for escalations made while the handoff database is unreachable.

Each request becomes one JSON file, written to a temporary name, fsynced and renamed into place,
so a crash leaves either the whole request or nothing. Every request carries a unique
`request_id` that the store records with the ticket event, so replaying a file whose commit
succeeded just before a crash (file not yet deleted) is a no-op instead of a second append.
Several processes may share the directory: whoever replays a file first applies it.
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
from typing import List, Optional

from bot.handoff.models import utcnow
from bot.handoff.store import (EscalationRequest, EscalationResult, HandoffStore, InvalidInput,
                               StoreUnavailable, valid_request_id)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReplayReport:
    applied: int = 0          # files applied (or found already applied) and deleted
    rejected: int = 0         # unreadable or invalid files moved to rejected/
    remaining: int = 0        # files left because the database went away again


@dataclass(frozen=True)
class EscalationOutcome:
    """What `escalate` did: `result` is None exactly when the request was queued offline."""

    result: Optional[EscalationResult]
    queued_offline: bool
    replay: ReplayReport = ReplayReport()


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Outbox:
    """Escalation requests waiting in `directory` for the database to come back."""

    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self.rejected_dir = self.directory / "rejected"

    def put(self, request: EscalationRequest) -> Path:
        """Durably store `request` (given an id and time if missing); returns its file."""
        requested_at = (request.requested_at or utcnow()).astimezone(timezone.utc)
        request_id = valid_request_id(request.request_id or uuid.uuid4().hex)  # part of the file name
        request = dataclasses.replace(request, request_id=request_id, requested_at=requested_at,
                                      queued_offline=True)
        payload = dataclasses.asdict(request)
        payload["requested_at"] = requested_at.isoformat()
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        # Names sort by time, so replay keeps the order users wrote in.
        name = f"{requested_at.strftime('%Y%m%dT%H%M%S%f')}-{request.request_id}.json"
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

    def pending(self) -> List[Path]:
        if not self.directory.is_dir():
            return []
        return sorted(self.directory.glob("*.json"))

    def _files(self) -> List[Path]:
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
        """Apply pending requests oldest first; stop (keeping the rest) if the store fails."""
        applied = rejected = 0
        pending = self.pending()
        for index, path in enumerate(pending):
            try:
                store.open_or_append(self.load(path))
            except FileNotFoundError:
                continue                      # another process replayed it meanwhile
            except StoreUnavailable:
                return ReplayReport(applied, rejected, len(pending) - index)
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
        return ReplayReport(applied, rejected, 0)


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
        result = store.open_or_append(request)
    except StoreUnavailable as exc:
        log.warning("handoff database unavailable, escalation queued offline: %s", exc)
        outbox.put(request)
        return EscalationOutcome(result=None, queued_offline=True)
    return EscalationOutcome(result=result, queued_offline=False, replay=report)
