import pytest

from actions.contact import usable_contact


@pytest.mark.parametrize("text, expected", [
    ("+44 7700 900123", "+44 7700 900123"),
    ("(555) 123-4567", "(555) 123-4567"),
    ("  jo.bloggs@example.org ", "jo.bloggs@example.org"),
])
def test_phone_numbers_and_emails_are_accepted(text, expected):
    assert usable_contact(text) == expected


@pytest.mark.parametrize("text", ["555 12", "call me maybe", "jo@", "@example.org", "", "1" * 40])
def test_anything_else_is_refused(text):
    assert usable_contact(text) is None
