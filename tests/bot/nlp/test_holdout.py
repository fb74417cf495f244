"""Acceptance: the trained model on the held-out set meets the issue-2 targets."""
from __future__ import annotations

import pytest

from bot.nlp.evaluation import TARGETS, load_examples, score


@pytest.mark.slow
def test_holdout_meets_acceptance_targets(parse):
    scores = score(load_examples(), lambda text: parse(text)["intent"]["name"])
    report = "\n".join(f"{e} -> {p}: {t}" for t, e, p in scores.errors)
    assert scores.failed_targets() == [], f"{scores}\ntargets {TARGETS}\n{report}"
