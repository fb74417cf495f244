"""Scoring an intent classifier on a held-out Rasa NLU file, shared by bench/nlu_eval.py and the
acceptance test, so the benchmark and the test can never disagree about what a metric means.

Safety metrics count the escalation intents as one group: sending an emergency to the
personal-advice queue still reaches a human, but answering it with an FAQ (or a fallback
"please rephrase") does not.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from statistics import quantiles

from sklearn.metrics import f1_score

from bot.intents import EMERGENCY_INTENT, ESCALATION_INTENTS
from bot.settings import PROJECT_ROOT

HOLDOUT_PATH = PROJECT_ROOT / "tests" / "data" / "nlu_holdout.yml"
REALISTIC_HOLDOUT_PATH = PROJECT_ROOT / "tests" / "data" / "nlu_holdout_realistic.yml"

# Acceptance targets on the held-out set, enforced by tests/bot/nlp/test_holdout.py (issue 2's).
# Issue 12 asks for accuracy 0.97 here: not met (0.959-0.967 before main's sub-answer data was
# merged, 0.941 after), so the bench prints that goal separately (ACCURACY_GOAL) as MISSED.
TARGETS = {"accuracy": 0.92, "escalation_recall": 0.98, "emergency_recall": 1.0,
           "false_escalation_rate": 0.03}
ACCURACY_GOAL = {"holdout": 0.97, "realistic": 0.90}
# On long, messy patient and parent messages (issue 12).
REALISTIC_TARGETS = {"accuracy": 0.90, "escalation_recall": 0.97, "emergency_recall": 1.0,
                     "false_escalation_rate": 0.05}
# Each held-out set with the targets it must meet.
HOLDOUT_SETS = {"holdout": (HOLDOUT_PATH, TARGETS),
                "realistic": (REALISTIC_HOLDOUT_PATH, REALISTIC_TARGETS)}
# Forum-style development sets the cue and red-flag layers were fixed against (not held out, so the
# bench prints them after the held-out sets, as regression checks).
DEV_MESSAGES_DIR = PROJECT_ROOT / "bench" / "data" / "dev_messages"
# What the development sets must keep (tests/bot/nlp/test_holdout.py): every emergency, and
# escalation recall no lower than 0.95 (they are written to be hard on exactly that).
DEV_SET_TARGETS = {"accuracy": 0.90, "escalation_recall": 0.95, "emergency_recall": 1.0,
                   "false_escalation_rate": 0.05}


def dev_sets() -> dict[str, tuple[Path, dict[str, float]]]:
    return {f"dev:{path.stem}": (path, DEV_SET_TARGETS)
            for path in sorted(DEV_MESSAGES_DIR.glob("*.yml"))}


@dataclass(frozen=True)
class Scores:
    accuracy: float
    macro_f1: float
    escalation_recall: float
    emergency_recall: float
    false_escalation_rate: float
    latency_p50_ms: float
    latency_p95_ms: float
    errors: tuple[tuple[str, str, str], ...]  # (text, expected, predicted)

    def failed_targets(self, targets: dict[str, float] = TARGETS) -> list[str]:
        """Names of the acceptance targets these scores miss (empty when all are met)."""
        failed = [name for name in ("accuracy", "escalation_recall", "emergency_recall")
                  if getattr(self, name) < targets[name]]
        if self.false_escalation_rate > targets["false_escalation_rate"]:
            failed.append("false_escalation_rate")
        return failed


def load_examples(path: Path = HOLDOUT_PATH) -> list[tuple[str, str]]:
    """(text, intent) pairs from a Rasa NLU yml file."""
    from rasa.shared.nlu.training_data.loading import load_data

    return [(m.get("text"), m.get("intent")) for m in load_data(str(path)).intent_examples]


def rasa_predictor(model_path: Path) -> Callable[[str], str]:
    """A text -> intent function backed by a trained Rasa model (full model or NLU-only)."""
    from rasa.core.agent import Agent
    from rasa.utils.log_utils import configure_structlog

    configure_structlog(logging.WARNING)  # one debug line per parsed message otherwise
    agent = Agent.load(str(model_path))
    loop = asyncio.new_event_loop()

    def predict(text: str) -> str:
        return loop.run_until_complete(agent.parse_message(text))["intent"]["name"]

    return predict


def red_flag_layer_scores(examples: Sequence[tuple[str, str]]) -> tuple[float, float]:
    """(recall on emergency messages, false-positive rate on all others) of the deterministic
    red-flag layer alone, as `RedFlagOverride` applies it: no classifier involved."""
    from bot.nlp.components import RED_FLAG_LABEL, is_general_question
    from bot.nlp.pipeline import build_nlp

    nlp = build_nlp()

    def fires(text: str) -> bool:  # SpacyNLP parses lower-cased text
        flagged = any(ent.label_ == RED_FLAG_LABEL for ent in nlp(text.lower()).ents)
        return flagged and not is_general_question(text)

    emergencies = [text for text, intent in examples if intent == EMERGENCY_INTENT]
    others = [text for text, intent in examples if intent != EMERGENCY_INTENT]
    return (_ratio(sum(map(fires, emergencies)), len(emergencies)),
            sum(map(fires, others)) / len(others) if others else 0.0)


def _ratio(hits: int, total: int) -> float:
    return hits / total if total else 1.0


def score(examples: Sequence[tuple[str, str]], predict: Callable[[str], str]) -> Scores:
    """Runs every example through `predict`, timing each call."""
    predicted, latencies = [], []
    for text, _ in examples:
        start = time.perf_counter()
        predicted.append(predict(text))
        latencies.append((time.perf_counter() - start) * 1000)
    expected = [intent for _, intent in examples]
    return scores_from(expected, predicted, [text for text, _ in examples], latencies)


def scores_from(expected: Sequence[str], predicted: Sequence[str], texts: Sequence[str],
                latencies_ms: Iterable[float]) -> Scores:
    """Metrics for one run. `nlu_fallback` is a wrong answer and, for an escalation message,
    an escalation miss (the fallback asks to rephrase before it offers a human)."""
    pairs = list(zip(expected, predicted, strict=True))
    escalations = [p for e, p in pairs if e in ESCALATION_INTENTS]
    emergencies = [p for e, p in pairs if e == EMERGENCY_INTENT]
    others = [p for e, p in pairs if e not in ESCALATION_INTENTS]
    p50, p95 = _percentiles(list(latencies_ms))
    return Scores(
        accuracy=_ratio(sum(e == p for e, p in pairs), len(pairs)),
        macro_f1=f1_score(expected, predicted, labels=sorted(set(expected)), average="macro",
                          zero_division=0),
        escalation_recall=_ratio(sum(p in ESCALATION_INTENTS for p in escalations),
                                 len(escalations)),
        emergency_recall=_ratio(sum(p == EMERGENCY_INTENT for p in emergencies), len(emergencies)),
        false_escalation_rate=1 - _ratio(sum(p not in ESCALATION_INTENTS for p in others),
                                         len(others)),
        latency_p50_ms=p50,
        latency_p95_ms=p95,
        errors=tuple((t, e, p) for t, e, p in zip(texts, expected, predicted, strict=True)
                     if e != p),
    )


def _percentiles(values: list[float]) -> tuple[float, float]:
    if len(values) < 2:
        return (values[0], values[0]) if values else (0.0, 0.0)
    cuts = quantiles(values, n=100, method="inclusive")
    return cuts[49], cuts[94]
