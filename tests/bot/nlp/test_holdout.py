"""Acceptance: the trained model meets the targets on both held-out sets (issues 2 and 12): the
clean one and the realistic one (long, messy patient and parent messages); and the forum-style
development sets the safety layers were fixed against keep every emergency and their escalation
recall (regression checks, not held out)."""
from __future__ import annotations

import pytest

from bot.nlp.evaluation import HOLDOUT_SETS, dev_sets, load_examples, score

SCORED_SETS = {**HOLDOUT_SETS, **dev_sets()}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SCORED_SETS))
def test_scored_set_meets_its_targets(parse, name):
    path, targets = SCORED_SETS[name]
    scores = score(load_examples(path), lambda text: parse(text)["intent"]["name"])
    report = "\n".join(f"{e} -> {p}: {t}" for t, e, p in scores.errors)
    assert scores.failed_targets(targets) == [], f"{scores}\ntargets {targets}\n{report}"
