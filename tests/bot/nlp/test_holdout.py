"""Acceptance: the trained model meets the targets on both held-out sets (issues 2 and 12): the
clean one and the realistic one (long, messy patient and parent messages)."""
from __future__ import annotations

import pytest

from bot.nlp.evaluation import DEV_SET_TARGETS, HOLDOUT_SETS, dev_sets, load_examples, score


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(HOLDOUT_SETS))
def test_holdout_meets_acceptance_targets(parse, name):
    path, targets = HOLDOUT_SETS[name]
    scores = score(load_examples(path), lambda text: parse(text)["intent"]["name"])
    report = "\n".join(f"{e} -> {p}: {t}" for t, e, p in scores.errors)
    assert scores.failed_targets(targets) == [], f"{scores}\ntargets {targets}\n{report}"


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(dev_sets()))
def test_forum_style_development_sets_keep_their_escalations(parse, name):
    """Regression check on the development sets the safety layers were fixed against: no
    emergency may be missed, and escalation recall may not slip back."""
    path, _ = dev_sets()[name]
    scores = score(load_examples(path), lambda text: parse(text)["intent"]["name"])
    report = "\n".join(f"{e} -> {p}: {t}" for t, e, p in scores.errors)
    assert scores.failed_targets(DEV_SET_TARGETS) == [], f"{scores}\n{report}"
