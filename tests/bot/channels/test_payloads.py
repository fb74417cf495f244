import ast

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.channels.payloads import allowed_payloads, intent_of, neutralise_injection
from bot.settings import PROJECT_ROOT


def test_the_allowed_payloads_are_the_domains_buttons():
    assert allowed_payloads() == {"/fsgs_definition", "/treatment_overview", "/side_effects",
                                  "/diet_lifestyle", "/affirm", "/deny", "/request_human"}


def test_every_button_an_action_sends_is_a_domain_button():
    sent = set()
    for path in (PROJECT_ROOT / "actions").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Dict):
                fields = {k.value: v for k, v in zip(node.keys, node.values, strict=True)
                          if isinstance(k, ast.Constant)}
                if "payload" in fields and isinstance(fields["payload"], ast.Constant):
                    sent.add(fields["payload"].value)
    assert sent and sent <= allowed_payloads()


@pytest.mark.parametrize("button", sorted(allowed_payloads()))
def test_button_payloads_pass(button):
    assert neutralise_injection(button) == button
    assert neutralise_injection(f"  {button}\n") == button


@pytest.mark.parametrize("typed, expected", [
    ("/fsgs_definition@1.0 my son can't breathe", "fsgs_definition@1.0 my son can't breathe"),
    ("/ /fsgs_definition@1.0 my son collapsed", "fsgs_definition@1.0 my son collapsed"),
    (" / / /fsgs_definition{} help", "fsgs_definition{} help"),
    ("\u00a0/fsgs_definition@1.0 chest pain", "fsgs_definition@1.0 chest pain"),
    ('/greet{"medication": "prednisone"}', 'greet{"medication": "prednisone"}'),
    ("/affirm@1.0", "affirm@1.0"),
    ('/affirm{"contact": "x"}', 'affirm{"contact": "x"}'),
    ("//emergency now", "emergency now"),
    ("/restart", "restart"),
    ("  /restart", "restart"),
    ("/session_start", "session_start"),
    ("/back", "back"),
    ("/nlu_fallback", "nlu_fallback"),
    ("/request_human please", "request_human please"),
    ("/", ""),
])
def test_anything_else_starting_with_a_slash_goes_through_nlu(typed, expected):
    assert neutralise_injection(typed) == expected


def test_ordinary_text_is_untouched():
    assert neutralise_injection("what is 1/2 of my dose?") == "what is 1/2 of my dose?"


def test_rasas_own_intents_are_never_allowed_even_as_buttons(tmp_path):
    (tmp_path / "core.yml").write_text(
        "responses:\n  utter_x:\n    - text: pick\n      buttons:\n"
        "        - {title: a, payload: /restart}\n        - {title: b, payload: '/session_start{}'}\n"
        "        - {title: c, payload: /back}\n        - {title: d, payload: /nlu_fallback}\n"
        "        - {title: e, payload: /affirm}\n")
    assert allowed_payloads(tmp_path) == {"/affirm", "/request_human"}


def test_intent_of_reads_like_rasa():
    assert intent_of('/affirm{"a": 1}') == "affirm"
    assert intent_of("/affirm@0.9") == "affirm"


@given(st.lists(st.sampled_from(list(" /\t\u00a0\u3000ar{}@.1") + ["restart", "affirm"]), max_size=30)
       .map("".join))
def test_no_text_becomes_a_forced_intent_other_than_a_button(text):
    result = neutralise_injection(text)
    assert result in allowed_payloads() or not result.strip().startswith("/")
