"""The curated answers as data: every variation of every response, with what a reviewer checks.

One reader for `fsgs-bot content report` and the content tests, so both judge the same texts the
same way: the domain's response variations (sub-answers, drug variants, general answers), the
sub-answer ids the training questions and the held-out questions use, word counts, reading grade
(textstat's Flesch-Kincaid grade of the text without its Source line), the source line and the date
a clinician last reviewed it (`metadata.reviewed`). No Rasa import: plain YAML.
"""
from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bot.intents import INFORMATIONAL_INTENTS
from bot.settings import PROJECT_ROOT

DOMAIN_DIR = PROJECT_ROOT / "domain"
SUB_ANSWER_TRAINING_DIR = PROJECT_ROOT / "nlu_data" / "subanswers"
SUB_ANSWER_HOLDOUT_DIR = PROJECT_ROOT / "tests" / "data" / "subanswers"
SUB_ANSWER_SLOT = "sub_answer"
MEDICATION_SLOT = "medication"
# A clinician re-reviews every answer at least this often.
REVIEW_MAX_AGE_DAYS = 365
SOURCE_PREFIX = "Source:"


class ContentError(ValueError):
    """The content files cannot be read as the format says (CONTENT_FORMAT.md)."""


class _UniqueKeyLoader(yaml.SafeLoader):
    """Fails on duplicate mapping keys, which plain YAML loading silently overwrites."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        keys = [self.construct_object(key, deep=deep) for key, _ in node.value]
        duplicates = {k for k in keys if keys.count(k) > 1}
        if duplicates:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate keys {duplicates}",
                                                    node.start_mark)
        return super().construct_mapping(node, deep)


def load_yaml(path: Path) -> dict[str, Any]:
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader) or {}
    except yaml.YAMLError as exc:
        raise ContentError(f"{path}: {exc}") from exc


@dataclass(frozen=True)
class Variation:
    """One response variation, as the domain declares it."""

    response: str                      # "utter_side_effects"
    index: int                         # position in the response's list
    text: str
    path: Path
    id: str | None = None
    conditions: tuple[tuple[str, Any], ...] = ()   # (slot name, value)
    metadata: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def topic(self) -> str | None:
        """The informational intent this answers, or None for conversation responses."""
        name = self.response.removeprefix("utter_")
        return name if name in INFORMATIONAL_INTENTS else None

    @property
    def sub_answer(self) -> str | None:
        """The sub-answer id this variation is selected by, or None."""
        values = [v for name, v in self.conditions if name == SUB_ANSWER_SLOT and v]
        return values[0] if values else None

    @property
    def medication(self) -> str | None:
        values = [v for name, v in self.conditions if name == MEDICATION_SLOT]
        return values[0] if values else None

    @property
    def kind(self) -> str:
        """"sub_answer", "drug" (a medication variant), "general" (no condition) or "other"."""
        if self.sub_answer:
            return "sub_answer"
        if self.medication:
            return "drug"
        return "general" if not self.conditions else "other"

    @property
    def label(self) -> str:
        """The id, or the response name with its conditions when it has none."""
        if self.id:
            return self.id
        return self.response + "".join(f"[{value}]" for _, value in self.conditions)

    @property
    def lines(self) -> list[str]:
        return [line for line in self.text.strip().splitlines() if line.strip()]

    @property
    def source(self) -> str | None:
        """The text of the last line when it is a "Source: ..." line."""
        lines = self.lines
        if lines and lines[-1].startswith(SOURCE_PREFIX):
            return lines[-1][len(SOURCE_PREFIX):].strip() or None
        return None

    @property
    def body(self) -> str:
        """The text a patient reads, without the Source line."""
        return "\n".join(line for line in self.lines if not line.startswith(SOURCE_PREFIX))

    @property
    def words(self) -> int:
        return len(self.text.split())

    @property
    def grade(self) -> float:
        """Flesch-Kincaid reading grade of the body (US school grade)."""
        import textstat

        return float(textstat.flesch_kincaid_grade(self.body))

    @property
    def reviewed(self) -> dt.date | None:
        """metadata.reviewed as a date, or None when missing or not an ISO date."""
        value = self.metadata.get("reviewed")
        if isinstance(value, dt.date):
            return value
        try:
            return dt.date.fromisoformat(str(value)) if value else None
        except ValueError:
            return None

    def review_problems(self, today: dt.date) -> list[str]:
        """Why this answer needs a reviewer's attention (empty when it does not)."""
        problems = []
        if self.source is None:
            problems.append("no source line")
        reviewed = self.reviewed
        if reviewed is None:
            problems.append("no review date (metadata.reviewed)")
        elif reviewed > today:
            problems.append(f"review date {reviewed} is in the future")
        elif (today - reviewed).days > REVIEW_MAX_AGE_DAYS:
            problems.append(f"reviewed {(today - reviewed).days} days ago (over a year)")
        return problems


def load_variations(domain_dir: Path = DOMAIN_DIR) -> list[Variation]:
    """Every response variation of every domain file; a response defined twice is an error."""
    variations: list[Variation] = []
    seen: dict[str, Path] = {}
    for path in sorted(Path(domain_dir).rglob("*.yml")):
        for response, entries in (load_yaml(path).get("responses") or {}).items():
            if response in seen:
                raise ContentError(f"{response} is defined in {seen[response]} and in {path}")
            seen[response] = path
            for index, entry in enumerate(entries or []):
                conditions = tuple((c.get("name"), c.get("value"))
                                   for c in entry.get("condition") or [])
                variations.append(Variation(
                    response=response, index=index, text=entry.get("text") or "", path=path,
                    id=entry.get("id"), conditions=conditions,
                    metadata=entry.get("metadata") or {}))
    return variations


def curated_variations(variations: Iterable[Variation]) -> list[Variation]:
    """The variations of the informational intents' answers."""
    return [v for v in variations if v.topic is not None]


def sub_answer_questions(folder: Path) -> dict[str, list[tuple[str, str]]]:
    """{sub-answer id or "" for general: [(intent, text), ...]} from Rasa NLU files in a folder."""
    questions: dict[str, list[tuple[str, str]]] = {}
    for path in sorted(Path(folder).glob("*.yml")):
        for block in load_yaml(path).get("nlu") or []:
            intent = block.get("intent")
            examples = block.get("examples")
            if not intent or not isinstance(examples, list):
                continue
            for example in examples:
                if not isinstance(example, dict) or not example.get("text"):
                    continue
                sub_answer = (example.get("metadata") or {}).get(SUB_ANSWER_SLOT) or ""
                questions.setdefault(sub_answer, []).append((intent, str(example["text"])))
    return questions


def question_counts(folder: Path) -> Counter:
    """How many questions each sub-answer id has in a folder ("" counts general ones)."""
    return Counter({key: len(value) for key, value in sub_answer_questions(folder).items()})


@dataclass(frozen=True)
class ReportRow:
    variation: Variation
    problems: tuple[str, ...]


def review_report(variations: Iterable[Variation], today: dt.date | None = None
                  ) -> list[ReportRow]:
    """One row per curated answer, with its review problems."""
    today = today or dt.date.today()
    return [ReportRow(v, tuple(v.review_problems(today))) for v in curated_variations(variations)]


def format_report(rows: list[ReportRow], today: dt.date | None = None) -> str:
    """A plain-text table for a terminal or a CI log."""
    today = today or dt.date.today()
    header = f"{'answer':<52} {'kind':<10} {'words':>5} {'grade':>5} {'age':>5}  source / flags"
    lines = [header, "-" * len(header)]
    for row in rows:
        v = row.variation
        age = str((today - v.reviewed).days) if v.reviewed else "-"
        note = "; ".join(row.problems) if row.problems else _shorten(v.source or "", 60)
        flag = "!" if row.problems else " "
        lines.append(f"{flag}{v.label:<51} {v.kind:<10} {v.words:>5} {v.grade:>5.1f} {age:>5}  {note}")
    flagged = sum(1 for r in rows if r.problems)
    lines.append(f"{len(rows)} answers, {flagged} flagged (no source, or not reviewed within "
                 f"{REVIEW_MAX_AGE_DAYS} days). Age = days since metadata.reviewed.")
    return "\n".join(lines)


def _shorten(text: str, width: int) -> str:
    text = re.sub(r"\s+", " ", text)
    return text if len(text) <= width else text[: width - 3] + "..."
