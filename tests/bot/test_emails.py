"""The one email rule: what staff accounts and users' contact details accept, and how they are kept."""
import pytest

from bot.emails import InvalidEmail, account_email, normalised_email


@pytest.mark.parametrize("value, expected", [
    ("  Jo.Bloggs@Example.ORG ", "Jo.Bloggs@example.org"),  # the local part keeps its case
    ("nurse@clinic.test", "nurse@clinic.test"),              # test clinics need no real domain
])
def test_valid_addresses_are_normalised(value, expected):
    assert normalised_email(value) == expected


def test_account_emails_are_wholly_lowercase_so_one_person_is_one_account():
    assert account_email(" Nurse@Clinic.org") == account_email("nurse@clinic.org") == "nurse@clinic.org"


@pytest.mark.parametrize("value", ["", "   ", "jo", "jo@", "@example.org", "jo@@example.org", "jo@example",
                                   "jo bloggs@example.org", "jo@localhost", "a" * 300 + "@example.org"])
def test_anything_else_is_refused_with_a_reason(value):
    with pytest.raises(InvalidEmail, match="."):
        account_email(value)
