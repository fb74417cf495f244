"""Questions the bot could not answer well, read from Rasa's tracker store, for content review.

A user message counts when NLU fell back (`nlu_fallback`) or its top intent's confidence is under
a threshold. Messages are grouped by a normalised text so repeated questions rise to the top.
Rasa owns the `events` table (see rasa-notes.md): this module only ever SELECTs from it, and on
SQLite opens the file read-only.
"""
from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import quote

from sqlalchemy import Column, Float, String, Text, create_engine, select, table
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from bot.conversations import TrackerStoreUnavailable
from bot.intents import FALLBACK_INTENT

DEFAULT_THRESHOLD = 0.6
DEFAULT_DAYS = 30

EVENTS = table("events", Column("sender_id", String), Column("type_name", String),
               Column("timestamp", Float), Column("intent_name", String), Column("data", Text))


@dataclass
class UnansweredQuestion:
    text: str
    count: int = 0
    last_seen: datetime | None = None
    lowest_confidence: float = 1.0
    closest_intent: str | None = None
    conversations: set[str] = field(default_factory=set)

    @property
    def fell_back_in(self) -> int:
        return len(self.conversations)


def normalise(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().strip("\"'“”‘’.!?¿¡ ").casefold()


def _closest_intent(parse_data: dict) -> tuple:
    """The best real intent Rasa considered (skipping the fallback) and the top confidence."""
    intent = parse_data.get("intent") or {}
    ranking = [i for i in parse_data.get("intent_ranking") or [] if i.get("name") != FALLBACK_INTENT]
    best = ranking[0] if ranking else intent if intent.get("name") != FALLBACK_INTENT else {}
    return best.get("name"), float(intent.get("confidence") or 0.0)


def group_questions(rows: Iterable, threshold: float) -> list[UnansweredQuestion]:
    """Group `(sender_id, timestamp, intent_name, data)` user-event rows; most asked first."""
    groups: dict[str, UnansweredQuestion] = {}
    for sender_id, timestamp, intent_name, data in rows:
        try:
            event = json.loads(data or "{}")
        except ValueError:
            continue
        text = (event.get("text") or "").strip()
        if not text:
            continue
        closest, confidence = _closest_intent(event.get("parse_data") or {})
        if intent_name != FALLBACK_INTENT and confidence >= threshold:
            continue
        seen = datetime.fromtimestamp(timestamp or 0, tz=timezone.utc)
        question = groups.setdefault(normalise(text), UnansweredQuestion(text))
        question.count += 1
        question.conversations.add(sender_id)
        question.lowest_confidence = min(question.lowest_confidence, confidence)
        if question.last_seen is None or seen >= question.last_seen:
            question.text, question.last_seen = text, seen
            question.closest_intent = closest or question.closest_intent
    return sorted(groups.values(),
                  key=lambda q: (-q.count, -(q.last_seen.timestamp() if q.last_seen else 0.0)))


class UnansweredReport:
    def __init__(self, tracker_store_url: str):
        url = make_url(tracker_store_url)
        sqlite = url.drivername.startswith("sqlite") and url.database not in (None, "", ":memory:")
        self.sqlite_file = Path(url.database) if sqlite else None
        if self.sqlite_file:
            # Read-only at the SQLite level: this code cannot change Rasa's data even by mistake.
            self.engine = create_engine(f"sqlite:///file:{quote(url.database)}?mode=ro&uri=true",
                                        future=True)
        else:
            self.engine = create_engine(url, future=True, pool_pre_ping=True)

    def questions(self, threshold: float = DEFAULT_THRESHOLD, days: int = DEFAULT_DAYS,
                  now: datetime | None = None) -> list[UnansweredQuestion]:
        if self.sqlite_file and not self.sqlite_file.exists():
            return []  # Rasa has not stored a conversation yet
        since = (now or datetime.now(timezone.utc)) - timedelta(days=days)
        query = (select(EVENTS.c.sender_id, EVENTS.c.timestamp, EVENTS.c.intent_name, EVENTS.c.data)
                 .where(EVENTS.c.type_name == "user", EVENTS.c.timestamp >= since.timestamp())
                 .order_by(EVENTS.c.timestamp))
        try:
            with self.engine.connect() as connection:
                rows = connection.execute(query).all()
        except SQLAlchemyError as exc:
            raise TrackerStoreUnavailable(str(exc).splitlines()[0]) from exc
        return group_questions(rows, threshold)
