from datetime import datetime, timezone

import pytest

from bot.staffing import parse_staffed_hours


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """2026-11-23 is a Monday; `day` 0 = Monday."""
    return datetime(2026, 11, 23 + day, hour, minute, tzinfo=timezone.utc)


def test_weekday_office_hours():
    hours = parse_staffed_hours("mon-fri 08:00-18:00")
    assert hours.is_staffed(at(0, 8))
    assert hours.is_staffed(at(4, 17, 59))
    assert not hours.is_staffed(at(4, 18))
    assert not hours.is_staffed(at(5, 12))
    assert hours.describe() == "Monday to Friday 08:00-18:00 (UTC)"


def test_several_windows_and_a_local_timezone():
    hours = parse_staffed_hours("mon-fri 08:00-18:00, sat 09:00-12:00", "Europe/London")
    assert hours.is_staffed(at(5, 10))
    assert not hours.is_staffed(at(6, 10))
    assert hours.describe().endswith("Saturday 09:00-12:00 (Europe/London)")


def test_a_range_can_wrap_the_week():
    hours = parse_staffed_hours("sat-mon 10:00-11:00")
    assert [hours.is_staffed(at(d, 10, 30)) for d in range(7)] == [True, False, False, False, False, True, True]


def test_always_and_never():
    assert parse_staffed_hours("always").is_staffed(at(6, 3))
    never = parse_staffed_hours("never")
    assert not never.is_staffed(at(2, 12))
    assert never.describe() == ""


@pytest.mark.parametrize("spec", ["weekdays 9-5", "mon-fri 8:00", "xyz 08:00-10:00", "mon-fri 25:00-26:00"])
def test_unreadable_specs_are_rejected_with_the_offending_part(spec):
    with pytest.raises(ValueError):
        parse_staffed_hours(spec)
