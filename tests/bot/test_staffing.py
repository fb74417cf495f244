from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from bot.staffing import parse_staffed_hours


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """2026-11-23 is a Monday; `day` 0 = Monday (up to 13: the week after)."""
    return datetime(2026, 11, 23, hour, minute, tzinfo=timezone.utc) + timedelta(days=day)


def test_weekday_office_hours():
    hours = parse_staffed_hours("mon-fri 08:00-18:00")
    assert hours.is_staffed(at(0, 8))
    assert hours.is_staffed(at(4, 17, 59))
    assert not hours.is_staffed(at(4, 18))
    assert not hours.is_staffed(at(5, 12))
    assert hours.describe() == "Monday to Friday 08:00-18:00, UTC time"


def test_several_windows_and_a_local_timezone():
    hours = parse_staffed_hours("mon-fri 08:00-18:00, sat 09:00-12:00", "Europe/London")
    assert hours.is_staffed(at(5, 10))
    assert not hours.is_staffed(at(6, 10))
    assert hours.describe() == "Monday to Friday 08:00-18:00 and Saturday 09:00-12:00, Europe/London time"


def test_hours_are_the_clinics_local_time():
    hours = parse_staffed_hours("mon-fri 09:00-17:00", "America/New_York")  # UTC-5 in November
    assert not hours.is_staffed(at(0, 9))
    assert hours.is_staffed(at(0, 14))
    assert hours.is_staffed(at(0, 21, 59))
    assert not hours.is_staffed(at(0, 22))


def test_a_range_can_wrap_the_week():
    hours = parse_staffed_hours("sat-mon 10:00-11:00")
    staffed = [hours.is_staffed(at(d, 10, 30)) for d in range(7)]
    assert staffed == [True, False, False, False, False, True, True]
    assert hours.describe() == "Saturday to Monday 10:00-11:00, UTC time"


def test_an_overnight_range_runs_into_the_next_morning():
    hours = parse_staffed_hours("mon-fri 22:00-06:00")
    assert hours.is_staffed(at(0, 22))
    assert hours.is_staffed(at(1, 3))  # Monday night
    assert hours.is_staffed(at(5, 5, 59))  # Friday night runs into Saturday morning
    assert not hours.is_staffed(at(5, 6))
    assert not hours.is_staffed(at(0, 3))  # Sunday night is not staffed
    assert not hours.is_staffed(at(2, 12))
    assert hours.describe() == "Monday to Friday from 22:00 to 06:00 the next morning, UTC time"


def test_an_overnight_range_wraps_from_sunday_into_monday():
    hours = parse_staffed_hours("sun 20:00-02:00")
    assert hours.is_staffed(at(7, 1))  # Monday 01:00 of the next week
    assert hours.is_staffed(at(0, 1))  # and of this week, from the Sunday before
    assert not hours.is_staffed(at(0, 2))


def test_midnight_can_end_a_window():
    hours = parse_staffed_hours("mon 00:00-24:00")
    assert hours.is_staffed(at(0, 0)) and hours.is_staffed(at(0, 23, 59))
    assert not hours.is_staffed(at(1, 0))


def test_next_staffed_time():
    hours = parse_staffed_hours("mon-fri 08:00-18:00")
    assert hours.next_staffed_time(at(0, 9)) == at(0, 9)  # staffed now: seen now
    assert hours.next_staffed_time(at(0, 7)) == at(0, 8)
    assert hours.next_staffed_time(at(4, 18)) == at(7, 8)  # Friday evening: Monday morning
    assert hours.next_staffed_time(at(5, 12)) == at(7, 8)


def test_next_staffed_time_is_in_the_clinics_time_zone_across_a_dst_change():
    hours = parse_staffed_hours("mon-fri 09:00-17:00", "Europe/London")
    friday = datetime(2026, 10, 23, 18, 0, tzinfo=timezone.utc)  # clocks go back on Sunday 25th
    upcoming = hours.next_staffed_time(friday)
    assert upcoming == datetime(2026, 10, 26, 9, 0, tzinfo=ZoneInfo("Europe/London"))
    assert upcoming.utcoffset() == timedelta(0) and upcoming.tzinfo == ZoneInfo("Europe/London")


def test_next_staffed_time_for_overnight_and_never():
    overnight = parse_staffed_hours("fri 22:00-06:00")
    assert overnight.next_staffed_time(at(5, 5)) == at(5, 5)
    assert overnight.next_staffed_time(at(5, 6)) == at(11, 22)
    assert parse_staffed_hours("never").next_staffed_time(at(0, 0)) is None
    assert parse_staffed_hours("always").next_staffed_time(at(3, 4)) == at(3, 4)


def test_always_and_never():
    assert parse_staffed_hours("always").is_staffed(at(6, 3))
    assert parse_staffed_hours("always").is_staffed(at(6, 23, 59))
    never = parse_staffed_hours("never")
    assert not never.is_staffed(at(2, 12))
    assert never.describe() == ""


@pytest.mark.parametrize("spec", ["weekdays 9-5", "mon-fri 8:00", "xyz 08:00-10:00", "mon-fri 25:00-26:00",
                                  "mon 08:60-09:00", "mon 24:00-06:00", "mon 24:30-06:00", "mon 08:00-08:00"])
def test_unreadable_specs_are_rejected_with_the_offending_part(spec):
    with pytest.raises(ValueError):
        parse_staffed_hours(spec)
