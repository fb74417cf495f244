"""Acceptance: the trained model meets the targets on both held-out sets (issues 2 and 12): the
clean one and the realistic one (long, messy patient and parent messages)."""
from __future__ import annotations

import pytest

from bot.nlp.evaluation import HOLDOUT_SETS, load_examples, score


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(HOLDOUT_SETS))
def test_holdout_meets_acceptance_targets(parse, name):
    path, targets = HOLDOUT_SETS[name]
    scores = score(load_examples(path), lambda text: parse(text)["intent"]["name"])
    report = "\n".join(f"{e} -> {p}: {t}" for t, e, p in scores.errors)
    assert scores.failed_targets(targets) == [], f"{scores}\ntargets {targets}\n{report}"
