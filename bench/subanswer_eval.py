"""Sub-answer benchmark: the trained model on the held-out specific and general questions.

Prints sub-answer accuracy (the gold sub-answer, or the general answer for a general question,
with the right intent) and the rate of wrong specific answers (a sub-answer other than the gold
one), overall and per topic, and the threshold the SubAnswerSelector uses. The threshold is chosen
when the model is trained, by cross-validation on the TRAINING questions only (never on this
held-out set); its cross-validated figures are printed too. Uses the newest models/*.tar.gz.

    .venv/bin/python bench/subanswer_eval.py [--errors] [--questions FOLDER]

(`--questions bench/data/canonical_questions`: the canonical questions, see
bot/nlp/subanswer_scoring.py.)
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bot.content import SUB_ANSWER_HOLDOUT_DIR
from bot.model_files import newest_model
from bot.nlp.subanswer_scoring import TARGETS, Scores, load_questions, score, threshold_in
from bot.settings import PROJECT_ROOT


def selector_cross_validation(model_path: Path) -> dict[str, Any] | None:
    """The cross-validation figures the SubAnswerSelector stored when it was trained."""
    from rasa.engine.graph import ExecutionContext
    from rasa.engine.storage.local_model_storage import LocalModelStorage

    from bot.nlp.subanswers import SubAnswerSelector

    with tempfile.TemporaryDirectory(prefix="subanswer_bench_") as tmp:
        storage, metadata = LocalModelStorage.from_model_archive(Path(tmp), model_path)
        for node in metadata.predict_schema.nodes.values():
            if node.uses is SubAnswerSelector and node.resource is not None:
                context = ExecutionContext(metadata.predict_schema, metadata.model_id)
                selector = SubAnswerSelector.load(node.config, storage, node.resource, context)
                return selector.cross_validation
    return None


def _row(name: str, scores: Scores) -> str:
    return (f"{name:<24}{len(scores.replies):>6}{scores.accuracy:>10.3f}{scores.wrong_rate:>10.3f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--errors", action="store_true", help="list every question not answered right")
    parser.add_argument("--questions", type=Path, default=SUB_ANSWER_HOLDOUT_DIR,
                        help="a folder of Rasa NLU files with sub_answer metadata (default: the "
                             "held-out questions)")
    args = parser.parse_args()

    model_path = newest_model()
    if model_path is None:
        print("no trained model in models/: run `make train`", file=sys.stderr)
        return 2
    from rasa.core.agent import Agent
    from rasa.utils.log_utils import configure_structlog

    configure_structlog(logging.WARNING)
    agent = Agent.load(str(model_path))
    loop = asyncio.new_event_loop()
    parsed: dict[str, dict[str, Any]] = {}

    def parse(text: str) -> dict[str, Any]:
        parsed[text] = loop.run_until_complete(agent.parse_message(text))
        return parsed[text]

    questions = load_questions(args.questions)
    started = time.perf_counter()
    scores = score(questions, parse)
    seconds = time.perf_counter() - started
    thresholds = {t for t in (threshold_in(p) for p in parsed.values()) if t is not None}
    general = sum(1 for q in questions if not q.gold)

    print(f"\nSub-answers on {args.questions} ({len(questions)} questions, "
          f"{len(questions) - general} specific, {general} general); model {model_path.name}")
    print(f"{'topic':<24}{'n':>6}{'accuracy':>10}{'wrong':>10}")
    for topic, topic_scores in scores.per_topic().items():
        print(_row(topic, topic_scores))
    print(_row("ALL", scores))
    print(_row("  specific questions", Scores(tuple(r for r in scores.replies if r.question.gold))))
    print(_row("  general questions", Scores(tuple(r for r in scores.replies if not r.question.gold))))
    print(_row("ALL, strict", score(questions, lambda text: parsed[text], strict=True))
          + "   (the other topic's same-question copy counted wrong)")
    safe = sum(1 for r in scores.replies if r.correct or (r.intent == r.question.intent
                                                           and not r.sub_answer))
    print(f"right topic and not a wrong specific answer (the general answer counted as safe): "
          f"{safe / max(len(questions), 1):.3f}")
    print(f"targets: accuracy >= {TARGETS['accuracy']}, wrong specific answers <= {TARGETS['wrong_rate']}"
          f"; parse time {1000 * seconds / max(len(questions), 1):.0f} ms per question")
    cv = selector_cross_validation(model_path)
    if cv:
        print(f"threshold {cv['threshold']:.2f}: {cv['chosen_by']} (5-fold, on the TRAINING questions "
              f"only, never on this held-out set). Cross-validated: specific accuracy "
              f"{cv['specific_accuracy']:.3f} and wrong rate {cv['wrong_rate']:.3f} on "
              f"{cv['specific_examples']} specific questions; {cv['general_given_sub_answer']:.3f} of "
              f"{cv['general_examples']} general training examples got a sub-answer; wrong rate "
              f"over all {cv.get('wrong_rate_all', float('nan')):.3f}")
    elif thresholds:
        print(f"threshold {sorted(thresholds)}")
    failed = scores.failed_targets()
    print("sub-answers: " + ("all targets met" if not failed else "MISSED " + ", ".join(failed)))
    if args.errors:
        print("\n".join(scores.errors()))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.path.insert(0, str(PROJECT_ROOT))
    sys.exit(main())
