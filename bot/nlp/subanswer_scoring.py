"""Scoring sub-answer selection on the held-out questions (tests/data/subanswers/<topic>.yml),
shared by bench/subanswer_eval.py and the acceptance test so that both count the same things.

A reply is correct when it is the gold sub-answer, or the topic's general answer for a general
question (right intent, no sub-answer), or a sub-answer that config.yml declares answers the same
question as the gold one (`same_question`: the other topic's copy, whatever the intent). It is a
wrong specific answer when it is any other sub-answer, including any sub-answer for a general
question. A wrong intent with no sub-answer is neither correct nor "wrong specific" (the intent
benchmark counts it). `strict=True` counts the same-question copies as wrong.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bot.content import SUB_ANSWER_HOLDOUT_DIR, sub_answer_questions
from bot.nlp.subanswers import (
    GENERAL,
    SELECTION_KEY,
    SUB_ANSWER,
    SubAnswerSelector,
    same_question_groups,
)
from bot.settings import PROJECT_ROOT

# Acceptance targets on the held-out questions (issue 11), printed by bench/subanswer_eval.py.
TARGETS = {"accuracy": 0.90, "wrong_rate": 0.03}
# What tests/bot/nlp/test_subanswers.py enforces: the safety target in full, and for accuracy a
# floor under today's measurement (the 0.90 goal is not reached yet; see README "Sub-answers"),
# so a regression fails the build while the gap stays visible in the bench.
ENFORCED_ACCURACY_FLOOR = 0.75
# Short, plainly worded specific questions, about half of them training text word for word: not a
# held-out set but the check that questions the bot was taught get their specific answer (0.983
# when written; before the general examples were reviewed, 0.552).
CANONICAL_QUESTIONS_DIR = PROJECT_ROOT / "bench" / "data" / "canonical_questions"
CANONICAL_ACCURACY_FLOOR = 0.90


@dataclass(frozen=True)
class Question:
    text: str
    intent: str
    gold: str            # a sub-answer id, or "" for a general question


@dataclass(frozen=True)
class Reply:
    question: Question
    intent: str | None
    sub_answer: str      # "" when the general answer (or none) goes out
    same_as_gold: frozenset[str] = frozenset()   # sub-answers that answer the gold one's question

    @property
    def correct(self) -> bool:
        if self.sub_answer in self.same_as_gold:
            return True
        return self.intent == self.question.intent and self.sub_answer == self.question.gold

    @property
    def wrong_specific(self) -> bool:
        return self.sub_answer not in {GENERAL, self.question.gold, *self.same_as_gold}


@dataclass(frozen=True)
class Scores:
    replies: tuple[Reply, ...]

    @property
    def accuracy(self) -> float:
        return _rate(self.replies, lambda r: r.correct)

    @property
    def wrong_rate(self) -> float:
        return _rate(self.replies, lambda r: r.wrong_specific)

    def failed_targets(self) -> list[str]:
        failed = ["accuracy"] if self.accuracy < TARGETS["accuracy"] else []
        return failed + (["wrong_rate"] if self.wrong_rate > TARGETS["wrong_rate"] else [])

    def per_topic(self) -> dict[str, Scores]:
        topics = sorted({r.question.intent for r in self.replies})
        return {t: Scores(tuple(r for r in self.replies if r.question.intent == t)) for t in topics}

    def errors(self) -> list[str]:
        return [f"{r.question.text!r}: expected {r.question.intent}/{r.question.gold or 'general'}, "
                f"got {r.intent}/{r.sub_answer or 'general'}"
                for r in self.replies if not r.correct]


def _rate(replies: tuple[Reply, ...], test: Callable[[Reply], bool]) -> float:
    return sum(1 for r in replies if test(r)) / len(replies) if replies else 0.0


def load_questions(folder: Path = SUB_ANSWER_HOLDOUT_DIR) -> list[Question]:
    return [Question(text, intent, gold)
            for gold, pairs in sub_answer_questions(folder).items() for intent, text in pairs]


def configured_same_question(config_path: Path = PROJECT_ROOT / "config.yml"
                             ) -> dict[str, frozenset[str]]:
    """The SubAnswerSelector's `same_question` groups, as config.yml declares them."""
    pipeline = yaml.safe_load(config_path.read_text(encoding="utf-8")).get("pipeline") or []
    for component in pipeline:
        if component.get("name", "").endswith(SubAnswerSelector.__name__):
            return same_question_groups(component.get("same_question") or [])
    return {}


def reply_from_parse(question: Question, parsed: dict[str, Any],
                     same_question: dict[str, frozenset[str]]) -> Reply:
    """What a Rasa parse result would answer: its intent and its `sub_answer` entity."""
    values = [e.get("value") for e in parsed.get("entities") or [] if e.get("entity") == SUB_ANSWER]
    return Reply(question, (parsed.get("intent") or {}).get("name"), values[0] if values else GENERAL,
                 same_question.get(question.gold, frozenset()))


def score(questions: list[Question], parse: Callable[[str], dict[str, Any]],
          strict: bool = False) -> Scores:
    same_question = {} if strict else configured_same_question()
    return Scores(tuple(reply_from_parse(q, parse(q.text), same_question) for q in questions))


def threshold_in(parsed: dict[str, Any]) -> float | None:
    """The threshold the selector applied to a parse result (None when it did not run)."""
    selection = parsed.get(SELECTION_KEY) or {}
    return selection.get("threshold")
