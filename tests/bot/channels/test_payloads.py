import pytest

from bot.channels.payloads import neutralise_injection


@pytest.mark.parametrize("button", ["/affirm", "/deny", "/fsgs_definition", "/request_human"])
def test_bare_button_payloads_pass(button):
    assert neutralise_injection(button) == button


@pytest.mark.parametrize("typed, expected", [
    ("/fsgs_definition@1.0 my son can't breathe", "fsgs_definition@1.0 my son can't breathe"),
    ('/greet{"medication": "prednisone"}', 'greet{"medication": "prednisone"}'),
    ("//emergency now", "emergency now"),
    ("/", ""),
])
def test_anything_else_starting_with_a_slash_goes_through_nlu(typed, expected):
    assert neutralise_injection(typed) == expected


def test_ordinary_text_is_untouched():
    assert neutralise_injection("what is 1/2 of my dose?") == "what is 1/2 of my dose?"
