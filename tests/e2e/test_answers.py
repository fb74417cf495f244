"""Curated answers through the real server: drug-specific variants follow the drug the user names
(brand names and abbreviations included), and a later general question gets the general answer."""
import uuid

import pytest

pytestmark = pytest.mark.slow


def answer(stack, user: str, text: str) -> str:
    return next(r for r in stack.rest(user, text) if "Source:" in r)


@pytest.mark.parametrize("question, opening", [
    ("what are the side effects of tacrolimus", "Tacrolimus can harm the kidneys"),
    ("side effects of prograf?", "Tacrolimus can harm the kidneys"),
    ("what side effects can CsA cause", "Cyclosporine can harm the kidneys"),
    ("does pred have side effects", "Steroids such as prednisone"),
    ("what are the side effects of the treatments", "Every FSGS treatment has possible side effects"),
])
def test_side_effect_answers_follow_the_named_drug(stack, question, opening):
    assert answer(stack, f"user-{uuid.uuid4().hex[:8]}", question).startswith(opening)


def test_a_later_general_question_does_not_reuse_the_previous_drug(stack):
    user = f"user-{uuid.uuid4().hex[:8]}"
    assert answer(stack, user, "what are the side effects of tacrolimus").startswith("Tacrolimus")
    assert answer(stack, user, "what is FSGS?").startswith("FSGS stands for")
    general = answer(stack, user, "what side effects should people watch for with fsgs medicines")
    assert general.startswith("Every FSGS treatment has possible side effects")
